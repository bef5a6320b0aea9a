"""Idempotent, bounded-retry consumer for one subscription queue.

For each delivery: parse the CloudEvent (a malformed message goes straight to the DLQ with
the reason), claim its id in the inbox and run the handler in ONE transaction (events the
handler stages in the outbox commit with it), then ack. A handler error is retried with
backoff up to `max_delivery_attempts`, then the message is dead-lettered with the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aio_pika import IncomingMessage
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.contracts.envelope import CONTENT_TYPE, CloudEvent, EventValidationError
from cqm_shared.messaging.inbox import claim
from cqm_shared.messaging.topology import Topology
from cqm_shared.telemetry import context_from_traceparent, tracer

log = logging.getLogger(__name__)

CONSUMED = Counter("cqm_events_consumed_total", "Deliveries by outcome", ["queue", "outcome"])

EventHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

REASON_HEADER = "x-cqm-dead-letter-reason"


@dataclass
class Subscription:
    """One queue `<service>.<purpose>` and the handler for each event type it receives."""

    purpose: str
    handlers: Mapping[str, EventHandler]
    description: str = ""


class EventConsumer:
    def __init__(
        self,
        *,
        queue_name: str,
        consumer_id: str,
        handlers: Mapping[str, EventHandler],
        sessions: async_sessionmaker[AsyncSession],
        inbox: sa.Table,
        broker: RabbitBroker,
        topology: Topology,
        after_commit: Callable[[], None],
        retry_backoff: float,
    ) -> None:
        self.queue_name = queue_name
        self._consumer_id = consumer_id
        self._handlers = handlers
        self._sessions = sessions
        self._inbox = inbox
        self._broker = broker
        self._topology = topology
        self._after_commit = after_commit
        self._retry_backoff = retry_backoff
        self._tracer = tracer("cqm.consumer")

    async def __call__(self, message: RabbitMessage) -> None:
        raw: IncomingMessage = message.raw_message
        try:
            event = CloudEvent.from_json(raw.body)
            if event.type not in self._handlers:
                raise EventValidationError(f"no handler for event type {event.type} in {self.queue_name}")
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
                outcome = await self._process(event)
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

    async def _process(self, event: CloudEvent) -> str:
        try:
            async with self._sessions() as session, session.begin():
                if not await claim(session, self._inbox, event, self._consumer_id):
                    return "duplicate"
                await self._handlers[event.type](session, event)
        except IntegrityError:
            # A concurrent delivery of the same id may have won the inbox race.
            async with self._sessions() as session, session.begin():
                seen = await session.execute(
                    sa.select(self._inbox.c.event_id).where(
                        self._inbox.c.event_id == str(event.id),
                        self._inbox.c.consumer == self._consumer_id,
                    )
                )
                if seen.first() is not None:
                    return "duplicate"
            raise
        self._after_commit()
        return "processed"

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
                "x-cqm-dead-lettered-at": datetime.now(UTC).isoformat(),
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


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None
