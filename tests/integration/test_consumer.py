"""Idempotent consumption, bounded retries and dead-lettering, on the real broker.

CONTRACT.md: every consumer is idempotent (the same `id` twice changes nothing); a message
that cannot be processed after bounded retries goes to a dead-letter queue with the reason.
"""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from cqm_shared.messaging.consumer import REASON_HEADER
from investigation.adapters.orm import case_history, cases
from tests.conftest import BrokerNamespace
from tests.helpers import drain, publish, running_service, wait_for
from tests.integration.events import registered


def consumed(queue: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("cqm_events_consumed_total", {"queue": queue, "outcome": outcome})
    return value or 0.0


async def count(app: FastAPI, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with app.state.runtime.sessions() as session:
        stmt = sa.select(sa.func.count()).select_from(table)
        for clause in where:
            stmt = stmt.where(clause)
        return int((await session.execute(stmt)).scalar_one())


async def test_same_event_twice_changes_state_once(database_url: str, broker_ns: BrokerNamespace) -> None:
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with running_service("investigation", database_url, broker_ns) as app:
        outbox = app.state.runtime.tables.outbox
        event = registered()
        for _ in range(2):
            await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))

        async def duplicate_seen() -> bool:
            return consumed(queue, "duplicate") >= 1 and consumed(queue, "processed") >= 1

        await wait_for(duplicate_seen)
        assert await count(app, cases) == 1
        assert await count(app, case_history) == 1
        assert await count(app, outbox, outbox.c.event_type == "investigation.opened") == 1


async def test_malformed_messages_are_dead_lettered_with_reason_and_the_next_is_processed(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    dlq = f"{broker_ns.queue_prefix}investigation.complaints.dlq"
    async with running_service("investigation", database_url, broker_ns) as app:
        good = registered(number="F01-2611-0100")
        wrong_version = json.loads(registered(number="F01-2611-0101").to_json())
        wrong_version["dataversion"] = 7
        no_factory = json.loads(registered(number="F01-2611-0102").to_json())
        del no_factory["factory"]
        key = good.routing_key
        await publish(broker_ns, key, b"{not json at all")
        await publish(broker_ns, key, json.dumps(wrong_version).encode())
        await publish(broker_ns, key, json.dumps(no_factory).encode())
        await publish(broker_ns, key, good.to_json())

        async def good_processed() -> int:
            return await count(app, cases, cases.c.number == "F01-2611-0100")

        await wait_for(good_processed)
        dead = await drain(broker_ns, dlq, expect=3)
        reasons = sorted(str(m.headers[REASON_HEADER]) for m in dead)  # deliveries may overlap
        assert len(reasons) == 3 and all(r.startswith("invalid event") for r in reasons)
        assert any("json" in r.lower() for r in reasons)
        assert any("v7" in r for r in reasons)
        assert any("factory: Field required" in r for r in reasons)
        assert await count(app, cases) == 1


async def test_failing_handler_is_retried_then_dead_lettered(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    dlq = f"{broker_ns.queue_prefix}investigation.complaints.dlq"
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with running_service("investigation", sqlite_url, broker_ns, max_delivery_attempts=3) as app:
        # F77 has no policy file in this deployment: the handler fails every time.
        doomed = registered(number="F77-2611-0001", factory="F77")
        await publish(broker_ns, doomed.routing_key, doomed.to_json(), message_id=str(doomed.id))
        [dead] = await drain(broker_ns, dlq, expect=1, timeout=20)
        reason = str(dead.headers[REASON_HEADER])
        assert "failed after 3 attempts" in reason
        assert "FactoryPolicyMissing" in reason
        assert consumed(queue, "retry") == 2
        assert dead.message_id == str(doomed.id)
        assert await count(app, cases) == 0


async def test_a_factory_deployment_only_receives_its_own_factory(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    # CONTRACT.md: a deployment for one factory binds *.*.f01 (here: complaint.registered.f01)
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with running_service("investigation", sqlite_url, broker_ns, factory_scope="F01") as app:
        theirs = registered(number="F02-2611-0009", factory="F02")
        mine = registered(number="F01-2611-0009")
        await publish(broker_ns, theirs.routing_key, theirs.to_json())
        await publish(broker_ns, mine.routing_key, mine.to_json())

        async def mine_opened() -> int:
            return await count(app, cases, cases.c.number == "F01-2611-0009")

        await wait_for(mine_opened)
        assert await count(app, cases) == 1
        assert consumed(queue, "processed") == 1  # the F02 event never reached this queue


async def test_a_batch_commits_the_good_and_retries_the_failing_one_alone(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    """Issue 8: deliveries in flight are written in one transaction, each in its own savepoint;
    one that fails rolls back alone and keeps its own retry budget."""
    dlq = f"{broker_ns.queue_prefix}investigation.complaints.dlq"
    queue = f"{broker_ns.queue_prefix}investigation.complaints"
    async with running_service("investigation", database_url, broker_ns, max_delivery_attempts=3) as app:
        outbox = app.state.runtime.tables.outbox
        good = [registered(number=f"F01-2611-{i:04d}") for i in range(300, 330)]
        doomed = registered(number="F77-2611-0001", factory="F77")  # no policy: fails every time
        flow = [*good[:15], doomed, *good[15:]]
        await asyncio.gather(*(publish(broker_ns, e.routing_key, e.to_json(), message_id=str(e.id)) for e in flow))

        async def all_good_opened() -> bool:
            return await count(app, cases) == len(good)

        await wait_for(all_good_opened)
        [dead] = await drain(broker_ns, dlq, expect=1, timeout=20)
        assert dead.message_id == str(doomed.id)
        assert "failed after 3 attempts" in str(dead.headers[REASON_HEADER])
        assert consumed(queue, "retry") == 2
        assert consumed(queue, "processed") == len(good)
        assert await count(app, case_history) == len(good)
        assert await count(app, outbox, outbox.c.event_type == "investigation.opened") == len(good)
        assert await count(app, cases, cases.c.number == "F77-2611-0001") == 0
        batches = REGISTRY.get_sample_value("cqm_consumer_batch_messages_count", {"queue": queue}) or 0
        written = REGISTRY.get_sample_value("cqm_consumer_batch_messages_sum", {"queue": queue}) or 0
        assert 0 < batches < written  # some transaction wrote several messages
