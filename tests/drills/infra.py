"""Stopping, killing and restarting the machine's RabbitMQ and PostgreSQL (drills only).

Every function that takes a server away has a counterpart that brings it back and returns only
once the server answers a real client (AMQP connection / SQL query), so a drill's `finally`
leaves the machine as it found it. `ensure_servers()` is the last resort of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
import asyncpg

from tests.infrastructure import LOCAL_POSTGRES, LOCAL_RABBITMQ, admin_dsn
from tests.polling import poll_until

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ)
POSTGRES_URL = LOCAL_POSTGRES
PG_CLUSTER = ("15", "main")


def _run(*command: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


# -- RabbitMQ ------------------------------------------------------------------------------------


async def _amqp_answers(url: str) -> bool:
    try:
        connection = await aio_pika.connect(url, timeout=3)
    except Exception:
        return False
    await connection.close()
    return True


def broker_answers(url: str = RABBITMQ_URL) -> bool:
    return asyncio.run(_amqp_answers(url))


def wait_broker(url: str = RABBITMQ_URL, timeout: float = 90.0) -> None:
    poll_until(lambda: broker_answers(url), timeout=timeout, interval=0.5, what=f"RabbitMQ answering at {url}")


def stop_broker_app() -> None:
    """`rabbitmqctl stop_app`: the node stays up, AMQP connections are closed, nothing answers on 5672."""
    done = _run("rabbitmqctl", "stop_app")
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl stop_app failed: {done.stderr or done.stdout}")


def start_broker_app() -> None:
    done = _run("rabbitmqctl", "start_app")
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl start_app failed: {done.stderr or done.stdout}")
    wait_broker()


def broker_os_pid() -> int | None:
    """The beam process of the running node, as the node itself reports it."""
    done = _run("rabbitmqctl", "eval", "os:getpid().", timeout=30)
    if done.returncode != 0:
        return None
    return int(done.stdout.strip().strip('"'))


def kill_broker() -> int:
    """kill -9 of the node's beam process; returns once that process is gone."""
    pid = broker_os_pid()
    if pid is None:
        raise RuntimeError("no running RabbitMQ node to kill")
    os.kill(pid, signal.SIGKILL)
    poll_until(lambda: not _pid_alive(pid), timeout=30, interval=0.1, what=f"RabbitMQ beam {pid} gone after SIGKILL")
    return pid


def start_broker_server() -> None:
    """`rabbitmq-server -detached` (the node is down), then wait until it takes connections."""
    done = _run("rabbitmq-server", "-detached")
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmq-server -detached failed: {done.stderr or done.stdout}")
    _run("rabbitmqctl", "await_startup", "--timeout", "90", timeout=120)
    wait_broker()


def restore_broker() -> None:
    """Whatever state the broker is in (app stopped, node down), bring it back."""
    if broker_answers():
        return
    if broker_os_pid() is not None:
        _run("rabbitmqctl", "start_app")
    else:
        _run("rabbitmq-server", "-detached")
        _run("rabbitmqctl", "await_startup", "--timeout", "90", timeout=120)
    wait_broker()


@dataclass(frozen=True)
class QueueState:
    ready: int
    consumers: int


async def queue_states(url: str, names: Iterable[str]) -> dict[str, QueueState]:
    """Ready messages and consumers of each named queue that exists, as its leader says now.

    A passive declare, not `rabbitmqctl list_queues`: the latter reports quorum queues from
    statistics refreshed every few seconds, so a queue just drained still shows its messages."""
    found: dict[str, QueueState] = {}
    connection = await aio_pika.connect(url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared (yet)
            result = queue.declaration_result
            found[name] = QueueState(result.message_count or 0, result.consumer_count or 0)
            await channel.close()
    return found


# -- PostgreSQL ----------------------------------------------------------------------------------


async def _sql_answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(admin_dsn(url), timeout=3)
    except Exception:
        return False
    try:
        await connection.fetchval("SELECT 1")
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


def database_answers(url: str = POSTGRES_URL) -> bool:
    return asyncio.run(_sql_answers(url))


def wait_database(url: str = POSTGRES_URL, timeout: float = 60.0) -> None:
    poll_until(lambda: database_answers(url), timeout=timeout, interval=0.3, what=f"PostgreSQL answering at {url}")


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    return _run("pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, action)


def stop_database() -> None:
    """pg_ctlcluster stop (fast mode: sessions are terminated, nothing answers on 5432)."""
    done = _pg_ctl("stop")
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster stop failed: {done.stderr or done.stdout}")


def start_database() -> None:
    done = _pg_ctl("start")
    if done.returncode != 0 and not database_answers():
        raise RuntimeError(f"pg_ctlcluster start failed: {done.stderr or done.stdout}")
    wait_database()


def restore_database() -> None:
    if not database_answers():
        _pg_ctl("start")
    wait_database()


def ensure_servers() -> None:
    """Both servers up and answering (called before and after the drill session)."""
    try:
        restore_database()
    finally:
        restore_broker()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; it is gone for our purposes.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"
    return False
