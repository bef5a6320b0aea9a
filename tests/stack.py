"""The four services as separate processes, each under its own control, for drills and benchmarks.

Unlike `deploy/run_local.py` (one launcher for a developer), every service here can be killed,
signalled, restarted and measured (resident memory) on its own. Each stack gets a private
exchange and queue prefix, and its own databases: SQLite files in a temporary folder, or fresh
PostgreSQL databases that are dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.infrastructure import LOCAL_POSTGRES, LOCAL_RABBITMQ, create_database, drop_database
from tests.polling import poll_until

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "investigation", "penalty", "notification")
Backend = Literal["sqlite", "postgresql"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    replica: int = 1  # 2, 3 … are further processes of the same service on the same database

    @property
    def label(self) -> str:
        return self.name if self.replica == 1 else f"{self.name}#{self.replica}"

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", self.name, "migrate"], env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.name, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.label} exited during start; its log:\n{self.log()[-3000:]}")
            # The port was only reserved by free_port(): another stack may have taken it since, and
            # its service would answer 200 for this one (uvicorn binds after the lifespan started).
            return self.ready() and self.listening()

        try:
            poll_until(ready, timeout=timeout, what=f"{self.label} ready")
        except AssertionError as exc:
            raise RuntimeError(f"{exc}; its log:\n{self.log()[-3000:]}") from None

    def listening(self) -> bool:
        """Whether this service's own process holds the listening socket on its port (Linux /proc)."""
        if self.process is None:
            return False
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:[") : -1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()  # sl, local address, remote address, state, ..., inode (10th)
            if fields[1].endswith(f":{self.port:04X}") and fields[3] == "0A" and fields[9] in inodes:
                return True
        return False

    def signal(self, signum: int) -> None:
        if self.process is not None and self.alive():
            self.process.send_signal(signum)

    def kill(self) -> None:
        """kill -9: no graceful anything."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM, as an orchestrator would; the exit code (-15 after uvicorn's clean stop)."""
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def rss_mb(self) -> float:
        """Resident memory of the service's process now, in MiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.label}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    backend: Backend
    rabbitmq_url: str
    exchange: str
    queue_prefix: str
    folder: Path
    # The first process of each service; `replicas` holds every process of each service.
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def processes(self, names: tuple[str, ...] | None = None) -> list[ServiceProcess]:
        return [p for name in (names or tuple(self.replicas)) for p in self.replicas[name]]

    def start(self, names: tuple[str, ...] = SERVICES) -> None:
        for process in self.processes(names):
            process.start()
        for process in self.processes(names):
            process.wait_ready()

    def stop(self) -> dict[str, int | None]:
        for process in self.processes():
            process.signal(signal.SIGTERM)
        return {process.label: process.stop() for process in self.processes()}


@contextlib.contextmanager
def running_stack(
    backend: Backend,
    *,
    names: tuple[str, ...] = SERVICES,
    rabbitmq_url: str | None = None,
    postgres_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    start: bool = True,
    replicas: int = 1,
) -> Iterator[Stack]:
    """Migrated services (started unless `start=False`) on a private exchange; all torn down after.

    `replicas` processes of each service share its database and queues, as replicas of one
    Deployment do (each on a port of its own).
    """
    rabbitmq = rabbitmq_url or os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ)
    postgres = postgres_url or LOCAL_POSTGRES
    token = uuid.uuid4().hex[:8]
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"cqm-stack-{token}-") as tmp:
        folder = Path(tmp)
        stack = Stack(backend, rabbitmq, f"stack-{token}.complaints", f"stack-{token}.", folder)
        try:
            for name in names:
                if backend == "postgresql":
                    database = f"cqm_stack_{token}_{name}"
                    url = create_database(postgres, database)
                    created.append(database)
                else:
                    url = f"sqlite+aiosqlite:///{folder / name}.db"
                env = {
                    **os.environ,
                    "ENVIRONMENT": "test",
                    "DATABASE_URL": url,
                    "PORT": str(free_port()),
                    "RABBITMQ_URL": rabbitmq,
                    "EXCHANGE": stack.exchange,
                    "QUEUE_PREFIX": stack.queue_prefix,
                    "POLICY_DIR": str(REPO / "deploy" / "policies"),
                    # Load comes from one address: the per-client limit would measure itself.
                    "RATE_LIMIT_PER_MINUTE": "100000000",
                    "RATE_LIMIT_BURST": "100000000",
                    **(extra_env or {}),
                }
                env.pop("TRACES_FILE", None)
                service = ServiceProcess(name, env, folder / f"{name}.log")
                service.migrate()
                stack.services[name] = service
                stack.replicas[name] = [service] + [
                    ServiceProcess(name, {**env, "PORT": str(free_port())}, folder / f"{name}-{n}.log", replica=n)
                    for n in range(2, replicas + 1)
                ]
            if start:
                stack.start(names)
            yield stack
        finally:
            stack.stop()
            for database in created:
                with contextlib.suppress(Exception):
                    drop_database(postgres, database)
            _delete_broker_objects(rabbitmq, stack.exchange, stack.queue_prefix)


def _delete_broker_objects(url: str, exchange: str, prefix: str) -> None:
    import asyncio

    import aio_pika

    from tests.conftest import BrokerNamespace

    namespace = BrokerNamespace(url)
    namespace.exchange, namespace.queue_prefix = exchange, prefix

    async def cleanup() -> None:
        with contextlib.suppress(aio_pika.exceptions.AMQPError, OSError):
            await namespace.cleanup()

    asyncio.run(cleanup())
