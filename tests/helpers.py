"""Helpers for tests that run services in-process against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import httpx
from fastapi import FastAPI

from cqm_shared.clock import FakeClock
from cqm_shared.db import upgrade
from cqm_shared.settings import ServiceSettings
from cqm_shared.uow import Actor, UnitOfWork
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.polling import wait_for

__all__ = ["wait_for"]

T = TypeVar("T")
U = TypeVar("U", bound=UnitOfWork)

SETTINGS = {
    "intake": "intake.config:IntakeSettings",
    "investigation": "investigation.config:InvestigationSettings",
    "penalty": "penalty.config:PenaltySettings",
    "notification": "notification.config:NotificationSettings",
}


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def migrations_dir(service: str) -> Path:
    return Path(importlib.import_module(service).__file__ or "").parent / "migrations"


def service_settings(service: str, database_url: str, ns: BrokerNamespace, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "rabbitmq_url": ns.url,
        "exchange": ns.exchange,
        "queue_prefix": ns.queue_prefix,
        "policy_dir": POLICY_DIR,
        "retry_backoff_seconds": 0.05,
        "relay_poll_interval": 0.2,
    }
    values.update(overrides)
    settings: ServiceSettings = _load(SETTINGS[service])(**values)
    return settings


@asynccontextmanager
async def running_service(
    service: str,
    database_url: str,
    ns: BrokerNamespace,
    *,
    app_kwargs: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[FastAPI]:
    """The service's real app (lifespan: broker, subscribers, relay) on a migrated database.

    `overrides` are settings; `app_kwargs` go to the service's `create_app`, i.e. parts swapped
    at its composition root (a clock, an attachment store).
    """
    await asyncio.to_thread(upgrade, migrations_dir(service), database_url)
    create_app = _load(f"{service}.main:create_app")
    app: FastAPI = create_app(service_settings(service, database_url, ns, **overrides), **(app_kwargs or {}))
    async with app.router.lifespan_context(app):
        yield app


TESTER = Actor("user:tester")


def unit_of_work(app: FastAPI, kind: type[U], *, at: datetime | None = None, actor: Actor = TESTER) -> U:
    """A unit of work of the running app, for calling its use cases directly; `at` stops its clock there."""
    uow = app.state.units_of_work(actor, None)
    assert isinstance(uow, kind)
    if at is not None:
        uow.clock = FakeClock(at)
    return uow


async def publish(ns: BrokerNamespace, routing_key: str, body: bytes, *, message_id: str | None = None) -> None:
    """Publish as another system would: persistent, with publisher confirms."""
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(ns.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/cloudevents+json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
            ),
            routing_key=routing_key,
        )


async def drain(ns: BrokerNamespace, queue_name: str, *, expect: int, timeout: float = 10.0) -> list[Any]:
    """Fetch (and ack) `expect` messages from a queue, waiting for them to arrive."""
    connection = await aio_pika.connect(ns.url)
    got: list[Any] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)

        async def all_arrived() -> bool:
            message = await queue.get(fail=False)
            if message is not None:
                await message.ack()
                got.append(message)
            return len(got) >= expect

        with contextlib.suppress(AssertionError):  # fewer than expected: the caller's assertion says so
            await wait_for(all_arrived, timeout=timeout, what=f"{expect} messages in {queue_name}")
    return got


async def drain_all(ns: BrokerNamespace, queue_name: str) -> list[Any]:
    """Fetch (and ack) every message the queue holds now."""
    connection = await aio_pika.connect(ns.url)
    got: list[Any] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            got.append(message)
    return got


def token(roles: str | list[str] = "admin", factories: str | list[str] = "*", subject: str = "tester") -> str:
    """A bearer token the services started with default settings accept (development HS256)."""
    from cqm_shared.security.tokens import mint_token

    settings = ServiceSettings()
    return mint_token(
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=subject,
        roles=[roles] if isinstance(roles, str) else roles,
        factories=[factories] if isinstance(factories, str) else factories,
    )


def auth(roles: str | list[str] = "admin", factories: str | list[str] = "*") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(roles, factories)}"}


def asgi_client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An HTTP client that calls the in-process app (its lifespan already running)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service", headers=headers)
