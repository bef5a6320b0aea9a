"""Fixtures shared by the whole suite: real broker, real databases, isolated names."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infrastructure import (
    LOCAL_POSTGRES,
    LOCAL_RABBITMQ,
    SUBSCRIPTION_QUEUES,
    create_database,
    drop_database,
    postgres_container,
    rabbitmq_container,
    resolve,
)

# Every service built or started by the suite (in-process or as a child process) runs as a test
# deployment: it accepts the development JWT secret the tests mint tokens with.
os.environ["ENVIRONMENT"] = "test"

REPO = Path(__file__).resolve().parent.parent
POLICY_DIR = REPO / "deploy" / "policies"


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    url, container = resolve("RabbitMQ", "RABBITMQ_URL", LOCAL_RABBITMQ, 5672, rabbitmq_container)
    yield url
    if container is not None:
        container.stop()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url, container = resolve("PostgreSQL", "DATABASE_URL", LOCAL_POSTGRES, 5432, postgres_container)
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    yield url
    if container is not None:
        container.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"cqm_test_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_server_url, name)
    yield url
    drop_database(postgres_server_url, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on the embedded default and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


class BrokerNamespace:
    """A private exchange and queue prefix, so tests never touch a running stack's queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        token = uuid.uuid4().hex[:8]
        self.exchange = f"test-{token}.complaints"
        self.queue_prefix = f"test-{token}."

    def env(self) -> dict[str, str]:
        return {"RABBITMQ_URL": self.url, "EXCHANGE": self.exchange, "QUEUE_PREFIX": self.queue_prefix}

    async def cleanup(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            names = [f"{self.queue_prefix}{q}" for q in (*SUBSCRIPTION_QUEUES, "probe", "probe.full")]
            for name in names + [f"{n}.dlq" for n in names]:
                channel = await connection.channel()
                with contextlib.suppress(Exception):  # never declared by this test
                    await channel.queue_delete(name)
            for exchange in (self.exchange, f"{self.exchange}.dlx"):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)


@pytest.fixture
def broker_ns(rabbitmq_url: str) -> Iterator[BrokerNamespace]:
    ns = BrokerNamespace(rabbitmq_url)
    yield ns
    asyncio.run(ns.cleanup())
