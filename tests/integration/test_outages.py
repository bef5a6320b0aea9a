"""Outages of the real database and broker, waited out (issue 8, "Found under faults").

A TCP proxy stands between the service and the real PostgreSQL or RabbitMQ; cutting it is the
server going away (open connections drop, new ones are refused). What the issue's drill found
and what must hold instead:
1. a database outage dead-lettered queued messages -> they wait, then are processed once;
2. the API answered 500 -> 503 problem+json with Retry-After;
3. the relay spun on a broker outage -> it backs off, logs the cause once and once on recovery;
4. readiness said ok while nothing consumed -> it says so only while consumers consume.
The slow, process-level versions (kill -9, a real server stop) are `make drills`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from investigation.adapters.orm import cases
from tests.conftest import BrokerNamespace
from tests.faults import TcpProxy, proxied
from tests.helpers import asgi_client, auth, drain_all, publish, running_service, wait_for
from tests.integration.events import registered
from tests.integration.test_consumer import consumed, count


@pytest.fixture
def database_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    with proxied(postgres_url, 5432) as pair:
        yield pair


@pytest.fixture
async def client_of() -> AsyncIterator[list[httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []
    yield clients
    for client in clients:
        await client.aclose()


def publish_failures() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "cqm_event_publish_failures":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


async def ready(app: FastAPI) -> httpx.Response:
    async with asgi_client(app) as client:
        return await client.get("/health/ready")


async def test_a_database_outage_holds_messages_instead_of_dead_lettering_them(
    database_proxy: tuple[TcpProxy, str], broker_ns: BrokerNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url = database_proxy
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    # Three attempts 50 ms apart: the old consumer spent this budget in a fraction of the outage.
    async with running_service("investigation", url, broker_ns, max_delivery_attempts=3) as app:
        events = [registered(number=f"F01-2611-{i:04d}") for i in range(1, 41)]
        await publish(broker_ns, events[0].routing_key, events[0].to_json(), message_id=str(events[0].id))
        await wait_for(lambda: count(app, cases))
        retries_before = consumed(queue, "retry")

        with caplog.at_level(logging.WARNING):
            proxy.cut()
            for event in events[1:]:
                await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))
            # The outage outlasts the old retry budget (3 attempts, 50 ms apart) many times over:
            # the gate is closed and its probe has failed repeatedly.
            gate = app.state.runtime.database

            async def long_outage() -> bool:
                return not gate.is_open and gate.outage.failures >= 6

            await wait_for(long_outage, timeout=30)

            # (2) the API and readiness tell the truth while the database is away.
            async with asgi_client(app, auth("admin")) as client:
                answer = await client.get(f"/api/v1/investigations/{events[0].subject}")
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.json()["status"] == 503
            not_ready = await ready(app)
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["database"].startswith("error")
            proxy.restore()

            async def all_opened() -> bool:
                return await count(app, cases) == len(events)

            await wait_for(all_opened, timeout=30)
        assert await drain_all(broker_ns, f"{queue}.dlq") == []
        assert consumed(queue, "retry") == retries_before  # the outage used no retry budget
        assert consumed(queue, "dead_lettered") == 0
        # The consumers' gate logs the outage once with its cause, and once on recovery.
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("cqm_shared")]
        outage_lines = [m for m in lines if m.startswith("database unavailable")]
        assert len(outage_lines) == 1, lines
        assert "Connection" in outage_lines[0]
        assert len([m for m in lines if m.startswith("database available again")]) == 1, lines
        assert (await ready(app)).status_code == 200
        assert await count(app, cases, cases.c.number == events[-1].subject) == 1


async def test_a_broker_outage_keeps_the_relay_quiet_and_readiness_truthful(
    sqlite_url: str, broker_ns: BrokerNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    with proxied(broker_ns.url, 5672) as (proxy, broker_url):
        async with running_service("investigation", sqlite_url, broker_ns, rabbitmq_url=broker_url) as app:
            runtime = app.state.runtime
            outbox = runtime.tables.outbox
            assert (await ready(app)).status_code == 200
            failures_before = publish_failures()

            with caplog.at_level(logging.WARNING):
                proxy.cut()

                async def subscribers_down() -> bool:
                    answer = await ready(app)
                    return answer.status_code == 503 and answer.json()["checks"]["subscribers"] != "ok"

                await wait_for(subscribers_down, timeout=10)
                # Work goes on during the outage: events are staged, the relay waits.
                staged = registered(number="F01-2611-0900")
                async with runtime.sessions() as session, session.begin():
                    await session.execute(
                        sa.insert(outbox).values(
                            id=str(staged.id),
                            event_type=staged.type,
                            routing_key=staged.routing_key,
                            body=staged.to_json().decode(),
                            created_at=runtime.clock.now(),
                        )
                    )
                # Commits would wake the relay: it must not spin. Wake it 30 times while the
                # outage lasts, until it has reported the outage.
                wakes = 0

                async def woken_through_the_outage() -> bool:
                    nonlocal wakes
                    runtime.relay.wake()
                    wakes += 1
                    ours = (r.getMessage() for r in caplog.records if r.name.startswith("cqm_shared"))
                    logged = any("outbox relay" in m and "unavailable" in m for m in ours)
                    return wakes >= 30 and logged

                await wait_for(woken_through_the_outage, timeout=30)
                proxy.restore()

                async def staged_published() -> bool:
                    async with runtime.sessions() as session:
                        row = (
                            await session.execute(sa.select(outbox.c.published_at).where(outbox.c.id == str(staged.id)))
                        ).one()
                    return row.published_at is not None

                await wait_for(staged_published, timeout=30)

            # (3) few attempts, the cause logged once, and once more on recovery.
            assert publish_failures() - failures_before <= 10
            ours = [r.getMessage() for r in caplog.records if r.name.startswith("cqm_shared")]
            relay_lines = [m for m in ours if "outbox relay" in m]
            assert len([m for m in relay_lines if "unavailable" in m]) == 1, relay_lines
            assert len([m for m in relay_lines if "available again" in m]) == 1, relay_lines
            assert "object at 0x" not in " ".join(relay_lines)
            async with runtime.sessions() as session:
                attempts = (
                    await session.execute(sa.select(outbox.c.attempts).where(outbox.c.id == str(staged.id)))
                ).scalar_one()
            assert attempts == 1  # failures during the outage were not written row by row

            # (4) ready again means consuming again: an event published now is processed.
            await wait_for(lambda: _ready_ok(app), timeout=30)
            event = registered(number="F01-2611-0901")
            await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))

            async def opened() -> int:
                return await count(app, cases, cases.c.number == "F01-2611-0901")

            await wait_for(opened, timeout=5)


async def _ready_ok(app: FastAPI) -> bool:
    return (await ready(app)).status_code == 200


async def test_concurrent_duplicates_are_not_failures(database_url: str, broker_ns: BrokerNamespace) -> None:
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with running_service("investigation", database_url, broker_ns) as app:
        retries_before = consumed(queue, "retry")
        event = registered(number="F01-2611-0950")
        await asyncio.gather(
            *(publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id)) for _ in range(4))
        )

        async def all_seen() -> bool:
            return consumed(queue, "processed") + consumed(queue, "duplicate") >= 4

        await wait_for(all_seen)
        assert await count(app, cases) == 1
        assert consumed(queue, "retry") == retries_before
        assert await drain_all(broker_ns, f"{queue}.dlq") == []
