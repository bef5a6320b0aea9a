"""Outbox relay: publishes staged events, persistent and confirmed, then marks them sent.

A row is marked published only after the broker confirmed it (basic.ack). A crash between
confirm and commit re-publishes the event later with the same id; consumers' inboxes absorb
the duplicate. On PostgreSQL rows are claimed `FOR UPDATE SKIP LOCKED`, so several replicas
may relay; on SQLite one relay per database file is assumed.

While the broker is away the relay backs off (capped, with jitter), tries one event per pass,
leaves the rows untouched (the cause is not theirs) and logs the cause once, and once again
when it publishes again; commits do not wake it during the wait.

Events nobody subscribes to are dropped by the exchange on purpose (publish/subscribe:
`mandatory` is off); every subscription's queue is durable, so a consumer that is down
still receives its events when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from faststream.rabbit import RabbitBroker, RabbitExchange
from opentelemetry import trace
from pamqp.commands import Basic
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import Clock, SystemClock
from cqm_shared.contracts.envelope import CONTENT_TYPE
from cqm_shared.outages import Backoff, OutageLog, is_outage
from cqm_shared.telemetry import context_from_traceparent, current_traceparent, tracer

log = logging.getLogger(__name__)

PUBLISHED = Counter("cqm_events_published_total", "Events confirmed by the broker", ["event_type"])
PUBLISH_FAILURES = Counter("cqm_event_publish_failures_total", "Publish attempts not confirmed", ["event_type"])


class NotConfirmed(RuntimeError):
    """The broker did not acknowledge a publish (nack, return or timeout)."""


@dataclass
class _Row:
    id: str
    event_type: str
    routing_key: str
    body: str


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: sa.Table,
        broker: RabbitBroker,
        exchange: RabbitExchange,
        lock_rows: bool,
        clock: Clock | None = None,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._broker = broker
        self._exchange = exchange
        self._lock_rows = lock_rows
        self._clock = clock or SystemClock()
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._backoff = Backoff(first=0.2, cap=5.0)
        self.outage = OutageLog("outbox relay: broker or database", log)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._tracer = tracer("cqm.relay")

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # a cancel can be swallowed by a finishing await; the flag cannot
            self._wakeup.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Called after a commit that staged events, so they leave without waiting for the poll."""
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                sent = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying; the rows stay pending
                if is_outage(exc):
                    self.outage.what = "outbox relay: " + ("broker" if isinstance(exc, NotConfirmed) else "database")
                    self.outage.failed(exc, "events stay in the outbox; backing off")
                else:
                    log.warning("outbox relay pass failed: %s: %s", type(exc).__name__, exc)
                # Sleep through wake-ups: every commit would otherwise start another failing pass.
                await asyncio.sleep(self._backoff.next())
                continue
            # A pass with nothing to publish proves the database is back, not the broker.
            if self.outage.ongoing and (sent or self.outage.what.endswith("database")):
                self.outage.recovered("publishing again")
            self._backoff.reset()
            if sent >= self._batch_size or self._stopping:
                continue
            # asyncio.timeout, not wait_for: 3.11's wait_for may swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wakeup.wait()

    async def publish_pending(self) -> int:
        """One pass: publish up to a batch of pending rows; returns how many were confirmed."""
        o = self._outbox
        stmt = (
            sa.select(o.c.id, o.c.event_type, o.c.routing_key, o.c.body)
            .where(o.c.published_at.is_(None))
            .order_by(o.c.created_at, o.c.id)
            .limit(self._batch_size)
        )
        if self._lock_rows:
            # PostgreSQL: the claimed rows stay locked while they are published, so relays
            # of several replicas never publish the same row at the same time.
            async with self._sessions() as session, session.begin():
                rows = [_Row(*r) for r in (await session.execute(stmt.with_for_update(skip_locked=True))).all()]
                confirmed, failed = await self._publish_all(rows)
                await self._record(session, confirmed, failed)
        else:
            # SQLite (one relay per file): never hold the database's single write lock across
            # broker round trips; read, publish, then record in a second short transaction.
            async with self._sessions() as session, session.begin():
                rows = [_Row(*r) for r in (await session.execute(stmt)).all()]
            confirmed, failed = await self._publish_all(rows)
            async with self._sessions() as session, session.begin():
                await self._record(session, confirmed, failed)
        for row in rows:
            if row.id in confirmed:
                PUBLISHED.labels(row.event_type).inc()
        if failed:
            cause = failed[0][1]
            raise NotConfirmed(f"{len(failed)} of {len(rows)} events not confirmed: {cause}") from cause
        return len(confirmed)

    async def _publish_all(self, rows: list[_Row]) -> tuple[list[str], list[tuple[_Row, BaseException]]]:
        if not rows:
            return [], []
        if not await self._broker.ping(timeout=0.05):
            # The connection is known to be down (it reconnects by itself): a pass would only
            # collect a failure per row.
            down = ConnectionError("the broker connection is down; reconnecting")
            return [], [(rows[0], down)]
        if self.outage.ongoing:
            # One event tells whether the broker is back; the rest wait for the answer.
            first = await asyncio.gather(self._publish(rows[0]), return_exceptions=True)
            if first[0] is not None:
                if isinstance(first[0], asyncio.CancelledError):
                    raise first[0]
                return [], [(rows[0], first[0])]
            rest_confirmed, rest_failed = await self._publish_concurrently(rows[1:])
            return [rows[0].id, *rest_confirmed], rest_failed
        return await self._publish_concurrently(rows)

    async def _publish_concurrently(self, rows: list[_Row]) -> tuple[list[str], list[tuple[_Row, BaseException]]]:
        # Each publish awaits its own confirm on the shared channel.
        results = await asyncio.gather(*(self._publish(r) for r in rows), return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
        confirmed = [r.id for r, res in zip(rows, results, strict=True) if res is None]
        failed = [(r, res) for r, res in zip(rows, results, strict=True) if res is not None]
        return confirmed, failed

    async def _record(
        self, session: AsyncSession, confirmed: list[str], failed: list[tuple[_Row, BaseException]]
    ) -> None:
        o = self._outbox
        if confirmed:
            await session.execute(
                sa.update(o)
                .where(o.c.id.in_(confirmed))
                .values(published_at=self._clock.now(), attempts=o.c.attempts + 1, last_error=None)
            )
        by_error: dict[str, list[str]] = {}
        for row, exc in failed:
            PUBLISH_FAILURES.labels(row.event_type).inc()
            if not is_outage(exc):  # an outage is not the row's doing: nothing to note on it
                by_error.setdefault(f"{type(exc).__name__}: {exc}"[:2000], []).append(row.id)
        for error, ids in by_error.items():
            await session.execute(
                sa.update(o).where(o.c.id.in_(ids)).values(attempts=o.c.attempts + 1, last_error=error)
            )

    async def _publish(self, row: _Row) -> None:
        traceparent = json.loads(row.body).get("traceparent")
        parent = context_from_traceparent(traceparent)
        with self._tracer.start_as_current_span(
            f"{self._exchange.name} publish",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "send",
                "messaging.destination.name": self._exchange.name,
                "messaging.rabbitmq.destination.routing_key": row.routing_key,
                "messaging.message.id": row.id,
                "cloudevents.event_type": row.event_type,
            },
        ):
            confirmation = await self._broker.publish(
                row.body.encode(),
                exchange=self._exchange,
                routing_key=row.routing_key,
                persist=True,
                mandatory=False,
                message_id=row.id,
                message_type=row.event_type,
                content_type=CONTENT_TYPE,
                headers={"traceparent": current_traceparent() or traceparent or ""},
                timeout=self._publish_timeout,
            )
        if not isinstance(confirmation, Basic.Ack):
            raise NotConfirmed(f"broker answered {type(confirmation).__name__} for {row.id}")
