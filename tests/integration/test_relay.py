"""The transactional outbox relay on the real broker: nothing lost, nothing doubled."""

from __future__ import annotations

from datetime import datetime

import aio_pika
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.messaging.outbox import stage_event
from cqm_shared.messaging.relay import NotConfirmed
from investigation.adapters.orm import cases
from tests.conftest import BrokerNamespace
from tests.helpers import drain, drain_all, running_service, wait_for
from tests.integration.events import registered


async def bind_queue(ns: BrokerNamespace, name: str, key: str, arguments: dict[str, object] | None = None) -> None:
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(ns.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        await queue.bind(exchange, key)


async def delete_queue(ns: BrokerNamespace, name: str) -> None:
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


async def stage(app: FastAPI, event: CloudEvent) -> None:
    runtime = app.state.runtime
    async with runtime.sessions() as session, session.begin():
        await stage_event(session, runtime.tables.outbox, event, runtime.clock.now())


async def row(app: FastAPI, event: CloudEvent) -> sa.Row[tuple[object, ...]]:
    runtime = app.state.runtime
    outbox = runtime.tables.outbox
    async with runtime.sessions() as session:
        result = await session.execute(sa.select(outbox).where(outbox.c.id == str(event.id)))
        return result.one()


async def test_confirmed_event_is_persistent_and_marked_sent(database_url: str, broker_ns: BrokerNamespace) -> None:
    probe = f"{broker_ns.queue_prefix}probe"
    await bind_queue(broker_ns, probe, "complaint.registered.*")
    async with running_service("intake", database_url, broker_ns) as app:
        relay = app.state.runtime.relay
        await relay.stop()  # drive passes by hand
        event = registered()
        await stage(app, event)
        assert (await row(app, event)).published_at is None
        assert await relay.publish_pending() == 1
        assert (await row(app, event)).published_at is not None
        [message] = await drain(broker_ns, probe, expect=1)
    assert message.message_id == str(event.id)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/cloudevents+json"
    assert message.routing_key == "complaint.registered.f01"
    assert CloudEvent.from_json(message.body) == event


async def test_event_refused_by_the_broker_stays_pending_until_accepted(
    sqlite_url: str, broker_ns: BrokerNamespace
) -> None:
    probe = f"{broker_ns.queue_prefix}probe"
    blocker = f"{broker_ns.queue_prefix}probe.full"
    await bind_queue(broker_ns, probe, "complaint.registered.*")
    # A full queue with reject-publish makes the broker answer basic.nack: no confirm.
    await bind_queue(broker_ns, blocker, "complaint.registered.*", {"x-max-length": 0, "x-overflow": "reject-publish"})
    async with running_service("intake", sqlite_url, broker_ns) as app:
        relay = app.state.runtime.relay
        await relay.stop()
        event = registered()
        await stage(app, event)
        with pytest.raises(NotConfirmed):
            await relay.publish_pending()
        pending = await row(app, event)
        assert pending.published_at is None
        assert pending.attempts == 1 and "Nack" in str(pending.last_error)
        await delete_queue(broker_ns, blocker)
        assert await relay.publish_pending() == 1
        assert (await row(app, event)).published_at is not None
    # The nacked copy reached the probe too (nack is all-or-nothing per publish); what
    # matters is that the event was retried until confirmed and nothing is missing.
    ids = {m.message_id for m in await drain(broker_ns, probe, expect=2)}
    assert ids == {str(event.id)}


async def test_relay_dying_before_it_records_the_confirm_republishes_and_the_consumer_dedupes(
    sqlite_url: str, tmp_path: object, broker_ns: BrokerNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer_db = f"sqlite+aiosqlite:///{tmp_path}/investigation.db"
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with (
        running_service("investigation", consumer_db, broker_ns) as investigation,
        running_service("intake", sqlite_url, broker_ns) as intake,
    ):
        relay = intake.state.runtime.relay
        await relay.stop()
        event = registered(number="F01-2611-0777")
        await stage(intake, event)

        class KilledClock:
            def now(self) -> datetime:
                raise SystemExit("relay process killed after publishing, before recording the confirm")

        # The only clock read of a pass is when confirmed rows are marked: die exactly there.
        monkeypatch.setattr(relay, "_clock", KilledClock())
        with pytest.raises(SystemExit):
            await relay.publish_pending()
        monkeypatch.undo()
        assert (await row(intake, event)).published_at is None

        relay.start()  # the restarted relay finds the row still pending

        async def marked() -> bool:
            return (await row(intake, event)).published_at is not None

        await wait_for(marked)

        async def duplicate_absorbed() -> float:
            return (
                REGISTRY.get_sample_value("cqm_events_consumed_total", {"queue": queue, "outcome": "duplicate"}) or 0.0
            )

        await wait_for(duplicate_absorbed)
        async with investigation.state.runtime.sessions() as session:
            opened = (await session.execute(sa.select(sa.func.count()).select_from(cases))).scalar_one()
        assert opened == 1


async def test_relay_stopped_mid_pass_loses_nothing_after_restart(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    probe = f"{broker_ns.queue_prefix}probe"
    await bind_queue(broker_ns, probe, "complaint.registered.*")
    async with running_service("intake", database_url, broker_ns, relay_batch_size=50) as app:
        relay = app.state.runtime.relay
        await relay.stop()
        events = [registered(number=f"F01-2611-{i:04d}") for i in range(1, 201)]
        for event in events:
            await stage(app, event)
        relay.start()
        await wait_for(lambda: _queue_depth(broker_ns, probe), interval=0.005)
        await relay.stop()  # stopped while passes are under way
        relay.start()

        async def all_marked() -> bool:
            outbox = app.state.runtime.tables.outbox
            async with app.state.runtime.sessions() as session:
                left = await session.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
                return left.scalar_one() == 0

        await wait_for(all_marked)
    # Every marked row was confirmed, so the probe queue holds all of them now (some maybe twice).
    delivered = await drain_all(broker_ns, probe)
    assert {m.message_id for m in delivered} == {str(e.id) for e in events}


async def _queue_depth(ns: BrokerNamespace, name: str) -> int:
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
