"""Thin, idempotent, bounded-retry consumer for one subscription queue.

For each delivery the envelope is read (either AMQP content mode), its (type, dataversion)
looked up in the contract registry and its `data` validated into the typed payload before
any handler runs; handlers get a `Message[T]`, never a CloudEvent. What cannot be read, an
unknown type or an unsupported `dataversion`, goes straight to `<queue>.dlq` with the reason.

A handler runs a use case on a unit of work that carries the message's inbox entry: the
inbox row commits with the handler's changes, so the same event id twice changes state once.
A handler error is retried with backoff up to `max_delivery_attempts`, then dead-lettered.
Deliveries that arrive while a transaction is being written wait for the next one: a batch
(up to `batch_size`) runs in one transaction, each message in a savepoint of its own, still
claimed in the inbox. When one fails, the batch's transaction is dropped: the failing one
is retried alone, with its own retry budget, and the others are written again without it.
At low rates a batch is one message: no added latency.
An unreachable database is not the message's fault: the message is held (unacked, its retry
budget untouched) until the `DatabaseGate` reopens, then processed. A unique-key collision with
a concurrent duplicate is run once more at once: the second run sees the winner's state.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from aio_pika import IncomingMessage
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import Clock
from cqm_shared.contracts.envelope import CONTENT_TYPE, CloudEvent, EventValidationError
from cqm_shared.contracts.events import EVENT_PAYLOADS, payload_model
from cqm_shared.messaging.topology import Topology
from cqm_shared.outages import DatabaseGate, ShuttingDown, is_outage
from cqm_shared.problems import field_errors
from cqm_shared.sql_uow import SharedTransaction, shared_transaction
from cqm_shared.telemetry import context_from_traceparent, tracer
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, UnitOfWork, system_actor

log = logging.getLogger(__name__)

CONSUMED = Counter("cqm_events_consumed_total", "Deliveries by outcome", ["queue", "outcome"])
BATCHES = Histogram(
    "cqm_consumer_batch_messages", "Messages written per transaction", ["queue"], buckets=(1, 2, 4, 8, 16, 32, 64, 128)
)

REASON_HEADER = "x-cqm-dead-letter-reason"

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Message(Generic[T]):
    """A consumed event as handlers see it: the envelope's facts and the typed payload."""

    id: str
    type: str
    source: str
    factory: str
    subject: str | None
    time: datetime
    dataversion: int
    data: T

    @property
    def why(self) -> str:
        """The audit trail's reason for what this message caused."""
        return f"{self.type} {self.id} from {self.source}"


@dataclass
class _Pending:
    event: CloudEvent
    model: type[BaseModel]
    context: contextvars.Context  # the delivery's (its span): the handler runs in it
    outcome: asyncio.Future[str]


ALONE = "alone"  # a batch's verdict: process this one by itself


class _Failed(Exception):
    """One message of a batch failed on its own."""

    def __init__(self, pending: _Pending) -> None:
        super().__init__(f"message {pending.event.id} failed in a batch")
        self.pending = pending


@dataclass(frozen=True)
class InvalidPayload:
    """A well-formed event whose `data` does not validate (for handlers that answer it)."""

    id: str
    type: str
    source: str
    factory: str
    time: datetime
    data: dict[str, Any]
    errors: list[dict[str, str]]


EventHandler = Callable[[Any, Message[Any]], Awaitable[None]]
InvalidHandler = Callable[[Any, InvalidPayload], Awaitable[None]]
UnitOfWorkFactory = Callable[[Actor, InboxEntry | None], UnitOfWork]


@dataclass(frozen=True)
class Handles:
    """What a subscription does with one event type; `on_invalid` answers bad payloads
    (e.g. intake's `complaint.rejected`) instead of dead-lettering them."""

    handle: EventHandler
    on_invalid: InvalidHandler | None = None


@dataclass
class Subscription:
    """One queue `<service>.<purpose>` and the handler for each event type it receives."""

    purpose: str
    handlers: Mapping[str, Handles]
    description: str = ""


class EventConsumer:
    def __init__(
        self,
        *,
        queue_name: str,
        consumer_id: str,
        handlers: Mapping[str, Handles],
        units_of_work: UnitOfWorkFactory,
        sessions: async_sessionmaker[AsyncSession],
        inbox: sa.Table,
        broker: RabbitBroker,
        topology: Topology,
        clock: Clock,
        retry_backoff: float,
        database: DatabaseGate,
        batch_size: int = 1,
    ) -> None:
        self.queue_name = queue_name
        self._consumer_id = consumer_id
        self._handlers = handlers
        self._units_of_work = units_of_work
        self._sessions = sessions
        self._inbox = inbox
        self._broker = broker
        self._topology = topology
        self._clock = clock
        self._retry_backoff = retry_backoff
        self._database = database
        self._batch_size = batch_size
        self._pending: list[_Pending] = []
        self._batcher: asyncio.Task[None] | None = None
        self._tracer = tracer("cqm.consumer")

    def read(self, raw: IncomingMessage) -> tuple[CloudEvent, type[BaseModel]]:
        """The envelope and the payload model its (type, dataversion) names, or EventValidationError."""
        event = CloudEvent.from_amqp(raw.body, raw.headers, raw.content_type)
        if event.type not in self._handlers:
            raise EventValidationError(f"no handler for event type {event.type} in {self.queue_name}")
        try:
            model = payload_model(event.type, event.dataversion)
        except EventValidationError:
            readable = ", ".join(f"v{v}" for v in _versions(event.type))
            raise EventValidationError(
                f"unsupported dataversion: {event.type} v{event.dataversion}; this consumer reads {readable}"
            ) from None
        return event, model

    async def __call__(self, message: RabbitMessage) -> None:
        raw: IncomingMessage = message.raw_message
        try:
            event, model = self.read(raw)
        except EventValidationError as exc:
            await self._dead_letter(message, f"invalid event: {exc}")
            return
        headers = raw.headers or {}
        parent = context_from_traceparent(_text(headers.get("traceparent")) or event.traceparent)
        with self._tracer.start_as_current_span(
            f"{self.queue_name} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": self.queue_name,
                "messaging.message.id": str(event.id),
                "cloudevents.event_type": event.type,
                "cloudevents.event_subject": event.subject or "",
            },
        ) as span:
            try:
                outcome = await self._in_batch(event, model)
                if outcome == ALONE:
                    outcome = await self._process_when_reachable(event, model)
            except ShuttingDown:
                # Back to the queue for the next instance; not a failure of the message.
                span.set_attribute("cqm.outcome", "returned")
                await message.nack(requeue=True)
                return
            except EventValidationError as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await self._dead_letter(message, f"invalid event: {exc}")
                return
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                await self._retry_or_dead_letter(message, exc)
                return
            span.set_attribute("cqm.outcome", outcome)
        await message.ack()
        CONSUMED.labels(self.queue_name, outcome).inc()

    async def _processed(self, event_id: str) -> bool:
        query = sa.select(self._inbox.c.event_id).where(
            self._inbox.c.event_id == event_id, self._inbox.c.consumer == self._consumer_id
        )
        shared = shared_transaction.get()
        if shared is not None:  # a second session would wait for the batch's own connection
            return (await shared.session.execute(query)).first() is not None
        async with self._sessions() as session:
            return (await session.execute(query)).first() is not None

    # -- batches ------------------------------------------------------------------------------

    async def _in_batch(self, event: CloudEvent, model: type[BaseModel]) -> str:
        """The outcome of this message in the next batch, or ALONE."""
        if self._batch_size <= 1:
            return ALONE
        pending = _Pending(event, model, contextvars.copy_context(), asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._write_batches(), name=f"{self.queue_name} batches")
        return await pending.outcome

    async def _write_batches(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
            try:
                await self._database.passable()
                outcomes = await self._write_batch(batch)
            except ShuttingDown as exc:
                for pending in batch:
                    pending.outcome.set_exception(exc)
                continue
            except _Failed as failed:
                # Nothing of the batch was kept: the failing message goes alone, the rest again.
                failed.pending.outcome.set_result(ALONE)
                self._pending[:0] = [p for p in batch if p is not failed.pending]
                continue
            except Exception as exc:
                if is_outage(exc):
                    self._database.lost(exc)
                    self._pending[:0] = batch  # again, once the database answers
                    continue
                log.warning("%s: batch of %d failed (%s); each goes alone", self.queue_name, len(batch), exc)
                outcomes = [ALONE] * len(batch)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if not pending.outcome.done():
                    pending.outcome.set_result(outcome)

    async def _write_batch(self, batch: list[_Pending]) -> list[str]:
        async with self._sessions() as session:
            await session.begin()
            shared = SharedTransaction(self._sessions, session)
            outcomes = []
            for pending in batch:
                # In the delivery's context (its span, for traces and the outbox's traceparent).
                task = asyncio.create_task(self._one_of_batch(pending, shared), context=pending.context)
                outcomes.append(await task)
            await session.commit()
        shared.committed()
        BATCHES.labels(self.queue_name).observe(len(batch))
        return outcomes

    async def _one_of_batch(self, pending: _Pending, shared: SharedTransaction) -> str:
        shared_transaction.set(shared)  # this task's context only
        try:
            return await self._process(pending.event, pending.model)
        except Exception as exc:
            if is_outage(exc):
                raise  # the whole batch waits for the database
            # The whole transaction is dropped, not only this savepoint: whatever state a failed
            # handler left behind, none of it can be committed with the others.
            raise _Failed(pending) from exc

    async def _process_when_reachable(self, event: CloudEvent, model: type[BaseModel]) -> str:
        """Process, waiting out database outages; a duplicate's unique-key race is rerun once."""
        raced = False
        while True:
            await self._database.passable()
            try:
                return await self._process(event, model)
            except IntegrityError:
                if raced:
                    raise
                raced = True  # a concurrent twin committed first: this run will see its state
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._database.lost(exc)

    async def _process(self, event: CloudEvent, model: type[BaseModel]) -> str:
        event_id = str(event.id)
        handles = self._handlers[event.type]
        uow = self._units_of_work(system_actor(event.source), InboxEntry(event_id, self._consumer_id, event.type))
        try:
            try:
                data = model.model_validate(event.data)
            except ValidationError as exc:
                errors = field_errors(exc.errors())
                if handles.on_invalid is None:
                    detail = "; ".join(f"data.{e['field']}: {e['message']}" for e in errors)
                    raise EventValidationError(detail) from exc
                invalid = InvalidPayload(
                    event_id, event.type, event.source, event.factory, event.time, event.data, errors
                )
                await handles.on_invalid(uow, invalid)
            else:
                typed = Message(
                    event_id,
                    event.type,
                    event.source,
                    event.factory,
                    event.subject,
                    event.time,
                    event.dataversion,
                    data,
                )
                await handles.handle(uow, typed)
        except AlreadyProcessed:
            return "duplicate"
        except IntegrityError:
            # A concurrent delivery of the same id may have won the inbox race.
            if await self._processed(event_id):
                return "duplicate"
            raise
        if uow.committed:
            return "processed"
        # Nothing to do: either the state already reflects it, or a concurrent delivery of
        # the same id committed first (its inbox row says which).
        return "duplicate" if await self._processed(event_id) else "ignored"

    async def _retry_or_dead_letter(self, message: RabbitMessage, exc: Exception) -> None:
        raw: IncomingMessage = message.raw_message
        # Quorum queues count redeliveries in x-delivery-count (absent on the first delivery).
        delivered_before = (raw.headers or {}).get("x-delivery-count", 0)
        attempt = (delivered_before if isinstance(delivered_before, int) else 0) + 1
        reason = f"{type(exc).__name__}: {exc}"
        if attempt >= self._topology.max_delivery_attempts:
            await self._dead_letter(message, f"failed after {attempt} attempts: {reason}")
            return
        log.warning("%s: attempt %d failed, will retry: %s", self.queue_name, attempt, reason)
        CONSUMED.labels(self.queue_name, "retry").inc()
        await asyncio.sleep(self._retry_backoff * attempt)
        await message.nack(requeue=True)

    async def _dead_letter(self, message: RabbitMessage, reason: str) -> None:
        """Copy the message to `<queue>.dlq` with the reason, then ack the original."""
        raw: IncomingMessage = message.raw_message
        log.error("%s: dead-lettering message %s: %s", self.queue_name, raw.message_id, reason)
        headers: dict[str, Any] = dict(raw.headers or {})
        headers.update(
            {
                REASON_HEADER: reason[:4000],
                "x-cqm-original-queue": self.queue_name,
                "x-cqm-original-routing-key": raw.routing_key or "",
                "x-cqm-dead-lettered-at": self._clock.now().astimezone(UTC).isoformat(),
            }
        )
        try:
            await self._broker.publish(
                raw.body,
                exchange=self._topology.dead_letter_exchange,
                routing_key=self._topology.dlq_name(self.queue_name),
                persist=True,
                message_id=raw.message_id,
                content_type=raw.content_type or CONTENT_TYPE,
                headers=headers,
            )
        except Exception:
            log.exception("%s: could not dead-letter; message stays queued", self.queue_name)
            await message.nack(requeue=True)
            return
        await message.ack()
        CONSUMED.labels(self.queue_name, "dead_lettered").inc()


def _versions(event_type: str) -> list[int]:
    return sorted(v for t, v in EVENT_PAYLOADS if t == event_type)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None
