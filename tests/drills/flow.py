"""A flow of work through a running stack, and the count of what became of it.

A flow is a batch of `complaint.submitted` events (intake -> investigation -> notification) and
of `investigation.responsibility_determined` events (penalty), all marked with the flow's own
token, so several flows on one stack are counted apart. Outcomes are counted from the services'
own databases: a complaint per submission (no `external_ref`, so only the inbox stands between
a redelivery and a second complaint), a case per complaint, one in-app dispatch per event for
notification, an assessment per determination; and from the stack's dead-letter queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from cqm_shared.contracts.envelope import CloudEvent, new_event
from cqm_shared.messaging.consumer import REASON_HEADER
from tests.drills import infra
from tests.infrastructure import SUBSCRIPTION_QUEUES
from tests.polling import wait_for
from tests.stack import Stack

SOURCE = "https://drills.example.com"
# Every subscription of the suite: `<prefix><queue>` and `<prefix><queue>.dlq`.
QUEUES = SUBSCRIPTION_QUEUES
# What each service's database holds per unit of work, for progress checks.
PROGRESS_SQL = {
    "intake": "SELECT count(*) FROM complaints",
    "investigation": "SELECT count(*) FROM cases",
    "notification": "SELECT count(*) FROM notifications",
    "penalty": "SELECT count(*) FROM assessments",
}


def submission(token: str, i: int, **overrides: Any) -> CloudEvent:
    """A valid complaint.submitted; the customer's company names the flow and the item."""
    data: dict[str, Any] = {
        "factory": "F01",
        "channel": "system",
        "customer": {"company": f"{token}-{i:04d}", "contact_name": "Drill", "email": f"d{i}@example.com"},
        "product": {"part_number": f"PC-{i}", "quantity_shipped": 10, "quantity_defective": 1},
        "phenomenon": "尺寸超差 dimension out of tolerance (drill)",
    }
    data.update(overrides)
    return new_event(type="complaint.submitted", source=SOURCE, factory="F01", data=data)


def determination(token: str, i: int) -> CloudEvent:
    """A valid investigation.responsibility_determined for a complaint number of the flow's own."""
    number = f"{token}-D{i:04d}"
    return new_event(
        type="investigation.responsibility_determined",
        source="/services/investigation",
        factory="F01",
        subject=number,
        data={
            "number": number,
            "factory": "F01",
            "determined_at": "2026-11-21T08:30:00+00:00",
            "accident_class": "management_general",
            "loss_amount": "100.00",
            "parties": [{"kind": "role", "name": "shipping QC", "share": "100"}],
            "rule_codes": ["split.visible_defect"],
        },
    )


def form(token: str, i: int) -> dict[str, Any]:
    """The same complaint as `submission(token, i)`, as a body for POST /api/v1/complaints."""
    data: dict[str, Any] = submission(token, i).data
    return data


@dataclass
class Flow:
    """Work sent into one stack: `submissions` complaints and `determinations` assessments expected."""

    token: str = field(default_factory=lambda: f"drill{uuid.uuid4().hex[:6]}")
    submissions: int = 0
    determinations: int = 0

    def submission_events(self, count: int) -> list[CloudEvent]:
        events = [submission(self.token, self.submissions + i) for i in range(count)]
        self.submissions += count
        return events

    def determination_events(self, count: int) -> list[CloudEvent]:
        events = [determination(self.token, self.determinations + i) for i in range(count)]
        self.determinations += count
        return events


def ensure_running(stack: Stack) -> None:
    """Every service of the stack started and ready (after a drill, whatever it did)."""
    for service in stack.services.values():
        if not service.alive():
            service.start()
    for service in stack.services.values():
        service.wait_ready(timeout=90)


# -- publishing as other systems do ----------------------------------------------------------------


async def publish_raw(
    stack: Stack,
    messages: Sequence[tuple[str, bytes, str | None]],
    *,
    concurrency: int = 50,
) -> None:
    """(routing key, body, message id) each published persistent with publisher confirms."""
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(stack.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for start in range(0, len(messages), concurrency):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/cloudevents+json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=message_id,
                        ),
                        routing_key=key,
                    )
                    for key, body, message_id in messages[start : start + concurrency]
                )
            )


async def publish(stack: Stack, events: Iterable[CloudEvent]) -> None:
    await publish_raw(stack, [(e.routing_key, e.to_json(), str(e.id)) for e in events])


# -- counting --------------------------------------------------------------------------------------


async def query(url: str, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Rows of one query on a service's database (SQLite file or PostgreSQL), no pool kept.

    A refused connection (server just restarted, or its connection slots briefly full) is tried
    again for a few seconds: the drill counts outcomes, it is not the thing under test."""

    async def answered() -> tuple[list[Any]] | None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return (list((await connection.execute(sa.text(sql), dict(params or {}))).all()),)
        except (OSError, DBAPIError):
            return None
        finally:
            await engine.dispose()

    found = await wait_for(answered, timeout=10, interval=0.5, what=f"an answer from {url}")
    assert found is not None  # wait_for returns only a truthy value
    return found[0]


@dataclass
class Tally:
    """What became of a flow. `lost` and `doubled` sum every stage; the details say where."""

    expected_complaints: int
    expected_assessments: int
    complaints: int = 0  # distinct submissions that became a complaint
    complaint_rows: int = 0
    cases: int = 0  # complaints of the flow with a case
    case_rows: int = 0
    notified_registered: int = 0  # complaints whose complaint.registered was dispatched
    notified_opened: int = 0  # complaints whose investigation.opened was dispatched
    extra_dispatches: int = 0  # a second dispatch (another event id) for the same complaint and event type
    extra_notices: int = 0  # a second notice row for the same complaint, event, recipient and channel
    assessments: int = 0
    assessment_rows: int = 0
    pending_outbox: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return (
            (self.expected_complaints - self.complaints)
            + (self.complaints - self.cases)
            + (self.complaints - self.notified_registered)
            + (self.complaints - self.notified_opened)
            + (self.expected_assessments - self.assessments)
        )

    @property
    def doubled(self) -> int:
        return (
            (self.complaint_rows - self.complaints)
            + (self.case_rows - self.cases)
            + self.extra_dispatches
            + self.extra_notices
            + (self.assessment_rows - self.assessments)
        )

    @property
    def outbox_empty(self) -> bool:
        return not any(self.pending_outbox.values())

    def __str__(self) -> str:
        return (
            f"lost={self.lost} doubled={self.doubled} | complaints {self.complaints}/{self.expected_complaints} "
            f"(rows {self.complaint_rows}), cases {self.cases} (rows {self.case_rows}), notified registered "
            f"{self.notified_registered} opened {self.notified_opened} (extra dispatches {self.extra_dispatches}, "
            f"extra notices {self.extra_notices}), assessments {self.assessments}/{self.expected_assessments} "
            f"(rows {self.assessment_rows}), outbox pending {self.pending_outbox}"
        )


async def tally(stack: Stack, flow: Flow) -> Tally:
    like = {"like": f"{flow.token}-%"}
    result = Tally(flow.submissions, flow.determinations)
    services = stack.services
    complaints = "SELECT number, customer_company FROM complaints WHERE customer_company LIKE :like"
    rows = await query(services["intake"].database_url, complaints, like)
    numbers = {r[0] for r in rows}
    result.complaint_rows = len(rows)
    result.complaints = len({r[1] for r in rows})
    if "investigation" in services:
        cases = await query(
            services["investigation"].database_url, "SELECT number FROM cases WHERE customer_company LIKE :like", like
        )
        result.case_rows = len(cases)
        result.cases = len({r[0] for r in cases} & numbers)
    if "notification" in services:
        notices = await query(
            services["notification"].database_url,
            "SELECT number, event_type, event_id, recipient, channel FROM notifications",
        )
        mine = [n for n in notices if n[0] in numbers]
        dispatches: dict[tuple[str, str], set[str]] = {}
        for number, event_type, event_id, _, _ in mine:
            if not event_type.startswith("sla."):  # a deadline raises one sla.* event per timer
                dispatches.setdefault((number, event_type), set()).add(event_id)
        result.notified_registered = sum(1 for (_, t) in dispatches if t == "complaint.registered")
        result.notified_opened = sum(1 for (_, t) in dispatches if t == "investigation.opened")
        result.extra_dispatches = sum(len(ids) - 1 for ids in dispatches.values())
        # Once per complaint, event type, recipient and channel; sla.* once per timer (its event id).
        per_notice = Counter((n[0], n[2] if n[1].startswith("sla.") else n[1], n[3], n[4]) for n in mine)
        result.extra_notices = sum(c - 1 for c in per_notice.values())
    if "penalty" in services:
        assessed = await query(
            services["penalty"].database_url, "SELECT number FROM assessments WHERE number LIKE :like", like
        )
        result.assessment_rows = len(assessed)
        result.assessments = len({r[0] for r in assessed})
    for name, service in services.items():
        pending = await query(service.database_url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        result.pending_outbox[name] = int(pending[0][0])
    return result


async def progress(stack: Stack, names: Iterable[str] | None = None) -> dict[str, int]:
    """Rows of each service's unit of work (complaints, cases, notices, assessments), whatever their flow."""
    found = {}
    for name in names or stack.services:
        found[name] = int((await query(stack[name].database_url, PROGRESS_SQL[name]))[0][0])
    return found


async def wait_progress(stack: Stack, name: str, at_least: int, timeout: float = 60.0) -> int:
    """Until service `name` has `at_least` rows of its unit of work (to time a fault mid-flow); the count then."""

    async def reached() -> tuple[int] | None:
        done = (await progress(stack, [name]))[name]
        return (done,) if done >= at_least else None

    found = await wait_for(reached, timeout=timeout, interval=0.05, what=f"{name} at {at_least} rows")
    assert found is not None  # wait_for returns only a truthy value
    return found[0]


async def settle(stack: Stack, flow: Flow, *, timeout: float = 120.0, quiet: float = 3.0) -> Tally:
    """Wait until the flow is complete (or nothing moves any more), then a quiet period for late
    doubles: every outbox empty, no message ready in any queue of the stack, counts unchanged.
    Returns the final tally; the caller asserts on it."""
    last: str | None = None
    stable_since = time.monotonic()
    current: Tally | None = None

    async def settled() -> bool:
        nonlocal last, stable_since, current
        current = await tally(stack, flow)
        states = await infra.queue_states(stack.rabbitmq_url, [stack.queue_prefix + q for q in QUEUES])
        busy = {q: s.ready for q, s in states.items() if s.ready}
        snapshot = f"{current} {busy}"
        now = time.monotonic()
        if snapshot != last:
            last, stable_since = snapshot, now
        idle = current.outbox_empty and not busy
        return idle and (current.lost == 0 or now - stable_since >= 10) and now - stable_since >= quiet

    with contextlib.suppress(AssertionError):  # not settled by the deadline: the caller asserts on the tally
        await wait_for(settled, timeout=timeout, interval=0.5, what="the flow settled")
    assert current is not None
    return current


# -- dead-letter queues --------------------------------------------------------------------------


async def dead_letter_counts(stack: Stack) -> dict[str, int]:
    """Messages in each dead-letter queue of the stack (`<prefix><service>.<purpose>.dlq`)."""
    states = await infra.queue_states(stack.rabbitmq_url, [f"{stack.queue_prefix}{q}.dlq" for q in QUEUES])
    return {name.removeprefix(stack.queue_prefix): state.ready for name, state in states.items()}


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str | None
    reason: str
    body: bytes


async def drain_dead_letters(stack: Stack) -> list[DeadLetter]:
    """Take (ack) everything from the stack's dead-letter queues, with its reason."""
    found: list[DeadLetter] = []
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        for name in QUEUES:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(f"{stack.queue_prefix}{name}.dlq", passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                reason = (message.headers or {}).get(REASON_HEADER, "")
                text = reason.decode() if isinstance(reason, bytes) else str(reason)
                found.append(DeadLetter(f"{name}.dlq", message.message_id, text, message.body))
    return found


# -- HTTP ------------------------------------------------------------------------------------------


async def readiness(client: httpx.AsyncClient, url: str) -> tuple[int, dict[str, str]]:
    """(status, checks) of /health/ready; (0, {}) if the service does not answer at all."""
    try:
        answer = await client.get(f"{url}/health/ready", timeout=5)
    except httpx.HTTPError:
        return 0, {}
    try:
        checks: dict[str, str] = answer.json().get("checks", {})
    except ValueError:
        checks = {}
    return answer.status_code, checks


async def publish_failures(client: httpx.AsyncClient, url: str) -> float:
    """`cqm_event_publish_failures_total` of one service, summed over its labels."""
    answer = await client.get(f"{url}/metrics", timeout=10)
    answer.raise_for_status()
    total = 0.0
    for line in answer.text.splitlines():
        if line.startswith("cqm_event_publish_failures_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total
