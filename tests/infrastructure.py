"""Finding the real RabbitMQ and PostgreSQL the integration tests talk to.

Order: the URL in the environment (RABBITMQ_URL / DATABASE_URL), else a local server on the
default port, else a testcontainers container when a Docker engine answers. If none exists
the tests FAIL with this message: a skipped integration test proves nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from contextlib import closing
from typing import Any
from urllib.parse import urlparse

import pytest

# Every subscription queue of the suite (`<prefix><queue>`, with `<prefix><queue>.dlq` behind it).
SUBSCRIPTION_QUEUES = (
    "intake.submissions",
    "intake.investigations",
    "investigation.complaints",
    "notification.complaints",
    "notification.investigations",
    "notification.penalties",
    "penalty.responsibility",
    "penalty.breaches",
)
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

HOW_TO = (
    "Start one (RabbitMQ: `rabbitmq-server -detached` or `docker compose up -d rabbitmq`; "
    "PostgreSQL: `pg_ctlcluster 15 main start` or `docker compose up -d postgres`), "
    "or point RABBITMQ_URL / DATABASE_URL at a running server."
)


def port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def resolve(
    what: str, env_var: str, local_url: str, default_port: int, start_container: Callable[[], tuple[str, Any]]
) -> tuple[str, Any]:
    """(url, container or None)."""
    from_env = os.environ.get(env_var)
    if from_env:
        return from_env, None
    if port_open(local_url, default_port):
        return local_url, None
    if docker_answers():
        return start_container()
    pytest.fail(
        f"No {what} for the integration tests: {env_var} is not set, nothing answers on "
        f"127.0.0.1:{default_port} and no Docker engine answers for testcontainers. {HOW_TO}",
        pytrace=False,
    )


def rabbitmq_container() -> tuple[str, Any]:
    from testcontainers.rabbitmq import RabbitMqContainer

    container = RabbitMqContainer("rabbitmq:3.13-management").start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(5672)
    return f"amqp://guest:guest@{host}:{port}/", container


def postgres_container() -> tuple[str, Any]:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", driver="asyncpg").start()
    return container.get_connection_url(), container


def admin_dsn(url: str) -> str:
    """asyncpg DSN of the server's maintenance database."""
    parsed = urlparse(url.replace("postgresql+asyncpg", "postgresql"))
    return parsed._replace(path="/postgres").geturl()


def with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


async def _exec(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(server_url: str, name: str) -> str:
    asyncio.run(_exec(admin_dsn(server_url), f'CREATE DATABASE "{name}"'))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    asyncio.run(_exec(admin_dsn(server_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
