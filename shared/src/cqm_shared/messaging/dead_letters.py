"""Dead-letter queues an operator can act on (死信队列): list, show, replay to the original
queue, discard with a reason in the audit trail.

Messages are taken with basic.get (manual ack) and held, unacked, until the call ends: those
acted on are acked (a replay after the broker confirms the copy, a discard after its audit row
commits), the others go back with nack(requeue=True) in the order they were taken; a closed
channel returns them too. So browsing loses nothing.

Nor does it reorder: a quorum queue serves returned messages first, in the order they came
back, so every call takes the same messages, all the queue holds up to `examine_limit`, and
returns them in order (taking fewer would rotate the ones it took behind the rest). Pages are
slices of that take, and answers say when there is `more` than was examined. The take is
complete before anything is replayed: a replayed message that fails again is dead-lettered
behind it, out of this call's reach, so "replay all" ends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

import aio_pika
import aiormq
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import Clock
from cqm_shared.contracts.envelope import CONTENT_TYPE, FACTORY_PATTERN
from cqm_shared.domain import Aggregate, DomainEvent
from cqm_shared.messaging.consumer import REASON_HEADER
from cqm_shared.messaging.tables import MessagingTables
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.sql_uow import SqlUnitOfWork
from cqm_shared.uow import Actor, Repository

EXAMINE_LIMIT = 1000
DISCARDED = "dead_letter.discarded"

# What the consumer adds when it dead-letters, and what the broker counts: none of it may
# travel with a replay (a stale x-delivery-count would spend the retries of the new attempt).
_DEAD_LETTER_HEADERS = frozenset(
    {
        REASON_HEADER,
        "x-cqm-original-queue",
        "x-cqm-original-routing-key",
        "x-cqm-dead-lettered-at",
        "x-delivery-count",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
_BROKER_REASONS = {
    "delivery_limit": "delivery limit reached (broker)",
    "rejected": "rejected by a consumer (broker)",
    "expired": "message TTL expired (broker)",
    "maxlen": "queue length limit reached (broker)",
}
_ATTEMPTS = re.compile(r"^failed after (\d+) attempts")
_FACTORY = re.compile(FACTORY_PATTERN)
_BINARY_PREFIXES = ("cloudEvents:", "cloudEvents_", "ce-", "ce_")


class UnknownQueue(LookupError):
    """The service has no such queue or dead-letter queue."""


class OriginalQueueMissing(RuntimeError):
    """The queue a replay would go to is not declared (the service never started here)."""


class ReasonCount(BaseModel):
    reason: str
    count: int


class QueueSummary(BaseModel):
    queue: str = Field(description="the dead-letter queue 死信队列")
    original_queue: str = Field(description="the queue its messages failed in, and are replayed to")
    exists: bool = Field(description="false until the service has declared it")
    messages: int = Field(description="messages ready in the queue (all factories)")
    examined: int = Field(description="messages read for `reasons` (bounded)")
    more: bool = Field(description="the queue holds messages beyond those examined")
    reasons: list[ReasonCount] = Field(description="reasons of the examined messages the caller may see, most first")


class DeadLetter(BaseModel):
    message_id: str = Field(description="AMQP message id, else the event id, else a digest of the body")
    event_type: str | None
    factory: str | None
    subject: str | None
    reason: str = Field(description="why it was dead-lettered 原因")
    original_queue: str
    routing_key: str | None
    dead_lettered_at: datetime | None
    attempts: int | None = Field(description="deliveries before it was dead-lettered, where known")


class DeadLetterDetail(DeadLetter):
    content_type: str | None
    headers: dict[str, Any]
    body: Any = Field(description="the body: JSON when it parses, else text, else base64")
    body_format: Literal["json", "text", "base64"]


class DeadLetterPage(BaseModel):
    queue: str
    original_queue: str
    messages: int = Field(description="messages ready in the queue (all factories)")
    offset: int
    limit: int
    examined: int
    more: bool = Field(description="more messages follow this page, or lie beyond those examined")
    items: list[DeadLetter]


class ReplayResult(BaseModel):
    queue: str
    target_queue: str = Field(description="the original queue the messages were published to")
    replayed: int
    message_ids: list[str]
    examined: int
    more: bool = Field(description="the queue held messages beyond those examined: run again")


class DiscardResult(BaseModel):
    queue: str
    message_id: str
    discarded: int = Field(description="copies removed (normally 1)")
    reason: str


Selector = Callable[[DeadLetterDetail], bool]


@dataclass
class _Take:
    """What one call took from a DLQ, and what it left there."""

    exists: bool = True
    messages: list[tuple[AbstractIncomingMessage, DeadLetterDetail]] = field(default_factory=list)
    remaining: int = 0  # ready after the last basic.get (the broker's count, not a stale look)

    @property
    def letters(self) -> list[DeadLetterDetail]:
        return [d for _, d in self.messages]

    @property
    def count(self) -> int:
        return len(self.messages) + self.remaining


class DeadLetterQueues:
    """The dead-letter queues of one service, over a connection of their own per call."""

    def __init__(
        self,
        *,
        url: str,
        queues: Mapping[str, str],
        sessions: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        audit_table: sa.Table,
        clock: Clock,
        source: str,
        examine_limit: int = EXAMINE_LIMIT,
        timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._original = dict(queues)  # dead-letter queue -> the queue it serves
        self._sessions = sessions
        self._tables = tables
        self._audit_table = audit_table
        self._clock = clock
        self._source = source
        self.examine_limit = examine_limit
        self._timeout = timeout

    @classmethod
    def of(cls, runtime: ServiceRuntime, audit_table: sa.Table, **options: Any) -> DeadLetterQueues:
        queues = {runtime.topology.dlq_name(q): q for q in runtime.consumed}
        return cls(
            url=runtime.settings.rabbitmq_url,
            queues=queues,
            sessions=runtime.sessions,
            tables=runtime.tables,
            audit_table=audit_table,
            clock=runtime.clock,
            source=f"/services/{runtime.service}",
            **options,
        )

    @property
    def names(self) -> list[str]:
        return sorted(self._original)

    def resolve(self, name: str) -> tuple[str, str]:
        """(dead-letter queue, original queue) for either name; UnknownQueue otherwise."""
        if name in self._original:
            return name, self._original[name]
        for dlq, original in self._original.items():
            if original == name:
                return dlq, original
        raise UnknownQueue(f"no dead-letter queue {name!r} in this service; it has {', '.join(self.names)}")

    async def summaries(self, factories: frozenset[str] | None = None) -> list[QueueSummary]:
        """Every DLQ with its count and its reasons grouped, most frequent first."""
        found = []
        async with self._connection() as connection:
            for dlq in self.names:
                async with self._taking(connection, dlq) as take:
                    reasons = Counter(d.reason for d in take.letters if _visible(d, factories))
                found.append(
                    QueueSummary(
                        queue=dlq,
                        original_queue=self._original[dlq],
                        exists=take.exists,
                        messages=take.count,
                        examined=len(take.messages),
                        more=take.remaining > 0,
                        reasons=[ReasonCount(reason=r, count=n) for r, n in reasons.most_common()],
                    )
                )
        return found

    async def page(
        self, name: str, *, offset: int = 0, limit: int = 50, factories: frozenset[str] | None = None
    ) -> DeadLetterPage:
        dlq, original = self.resolve(name)
        async with self._connection() as connection, self._taking(connection, dlq) as take:
            visible = [_brief(d) for d in take.letters if _visible(d, factories)]
        items = visible[offset : offset + limit]
        return DeadLetterPage(
            queue=dlq,
            original_queue=original,
            messages=take.count,
            offset=offset,
            limit=limit,
            examined=len(take.messages),
            more=len(visible) > offset + limit or take.remaining > 0,
            items=items,
        )

    async def show(
        self, name: str, message_id: str, factories: frozenset[str] | None = None
    ) -> DeadLetterDetail | None:
        dlq, _ = self.resolve(name)
        async with self._connection() as connection, self._taking(connection, dlq) as take:
            return next((d for d in take.letters if d.message_id == message_id and _visible(d, factories)), None)

    async def replay(
        self,
        name: str,
        *,
        actor: str,
        message_id: str | None = None,
        reason_contains: str | None = None,
        factories: frozenset[str] | None = None,
    ) -> ReplayResult:
        """Publish the chosen messages to their original queue (only there), then ack them.

        One of `message_id` / `reason_contains` (case-insensitive), or neither for all.
        """
        dlq, original = self.resolve(name)
        chosen = _selector(message_id, reason_contains)
        replayed: list[str] = []
        async with self._connection() as connection:
            if not await self._exists(connection, original):
                raise OriginalQueueMissing(f"queue {original} does not exist; start the service first")
            async with self._taking(connection, dlq) as take:
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                async with channel:
                    for message, detail in take.messages:
                        if not (chosen(detail) and _visible(detail, factories)):
                            continue
                        # The default exchange delivers to the named queue alone: other queues
                        # bound to the event's routing key do not get it a second time.
                        await channel.default_exchange.publish(
                            _replayed(message, actor, self._clock.now()), routing_key=original, mandatory=True
                        )
                        await message.ack()  # only after the broker confirmed the copy
                        replayed.append(detail.message_id)
        return ReplayResult(
            queue=dlq,
            target_queue=original,
            replayed=len(replayed),
            message_ids=replayed,
            examined=len(take.messages),
            more=take.remaining > 0,
        )

    async def discard(
        self, name: str, message_id: str, *, reason: str, actor: str, factories: frozenset[str] | None = None
    ) -> DiscardResult | None:
        """Remove a message (every copy with its id) after recording why in the audit trail."""
        if not reason.strip():
            raise ValueError("a discard needs a reason")
        dlq, _ = self.resolve(name)
        async with self._connection() as connection, self._taking(connection, dlq) as take:
            matching = [(m, d) for m, d in take.messages if d.message_id == message_id and _visible(d, factories)]
            if not matching:
                return None
            await self._audit_discard(dlq, matching[0][1], copies=len(matching), reason=reason, actor=actor)
            for message, _ in matching:
                await message.ack()  # only after the audit row is committed
        return DiscardResult(queue=dlq, message_id=message_id, discarded=len(matching), reason=reason)

    # -- broker ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AbstractConnection]:
        connection = await aio_pika.connect(self._url, timeout=self._timeout)
        async with connection:
            yield connection

    async def _exists(self, connection: AbstractConnection, queue: str) -> bool:
        channel = await connection.channel()
        try:
            await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return False  # the broker closed that channel
        await channel.close()
        return True

    @asynccontextmanager
    async def _taking(self, connection: AbstractConnection, dlq: str) -> AsyncIterator[_Take]:
        """Take what the queue holds, up to `examine_limit`, and hold it; on leaving, what was
        not acked goes back in the order taken."""
        take = _Take()
        channel = await connection.channel()
        try:
            queue = await channel.get_queue(dlq, ensure=False)
            try:
                while len(take.messages) < self.examine_limit:
                    message = await queue.get(no_ack=False, fail=False, timeout=self._timeout)
                    if message is None:
                        take.remaining = 0
                        break
                    take.messages.append((message, _read(message, dlq, self._original[dlq])))
                    take.remaining = message.message_count or 0
            except aiormq.exceptions.ChannelNotFoundEntity:
                take.exists = False  # not declared yet: the service has not started here
            yield take
            for message, _ in take.messages:
                if not message.processed:
                    await message.nack(requeue=True)
        finally:
            await _close(channel)  # returns whatever is still unacked (e.g. after an error)

    # -- audit ----------------------------------------------------------------------------

    async def _audit_discard(self, dlq: str, letter: DeadLetterDetail, *, copies: int, reason: str, actor: str) -> None:
        uow = _AuditOnly(
            self._sessions,
            outbox=self._tables.outbox,
            inbox_table=self._tables.inbox,
            audit_table=self._audit_table,
            clock=self._clock,
            actor=Actor(actor),
            source=self._source,
            translate=lambda _: [],
        )
        async with uow:
            record = uow.letters.add(_DeadLetterRecord(letter, dlq))
            record.discard(at=self._clock.now(), reason=reason, copies=copies)
            await uow.commit()


async def _close(channel: AbstractChannel) -> None:
    if not channel.is_closed:
        await channel.close()


# -- reading a dead letter --------------------------------------------------------------


def _read(message: AbstractIncomingMessage, dlq: str, original: str) -> DeadLetterDetail:
    headers = dict(message.headers or {})
    attributes = _event_attributes(message.body, headers, message.content_type)
    deaths = headers.get("x-death")
    death = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    reason = _text(headers.get(REASON_HEADER))
    if reason is None:
        broker = _text(death.get("reason"))
        reason = _BROKER_REASONS.get(broker or "", f"{broker} (broker)") if broker else "unknown (no reason recorded)"
    attempts = _ATTEMPTS.match(reason)
    factory = attributes.get("factory")
    body, body_format = _body(message.body)
    return DeadLetterDetail(
        message_id=message.message_id or attributes.get("id") or _digest(message.body),
        event_type=attributes.get("type"),
        factory=factory.upper() if factory and _FACTORY.match(factory.upper()) else None,
        subject=attributes.get("subject"),
        reason=reason,
        original_queue=original,
        routing_key=_text(headers.get("x-cqm-original-routing-key")) or _first(death.get("routing-keys")),
        dead_lettered_at=_when(headers.get("x-cqm-dead-lettered-at")) or _when(death.get("time")),
        # The consumer names the attempts when it gives up; an event it cannot read is refused
        # on the delivery that read it. The DLQ's own x-delivery-count counts browsing instead.
        attempts=int(attempts.group(1)) if attempts else (1 if reason.startswith("invalid event") else None),
        content_type=message.content_type,
        headers={k: _jsonable(v) for k, v in headers.items()},
        body=body,
        body_format=body_format,
    )


def _brief(detail: DeadLetterDetail) -> DeadLetter:
    return DeadLetter.model_validate(detail.model_dump(include=set(DeadLetter.model_fields)))


def _event_attributes(body: bytes, headers: Mapping[str, Any], content_type: str | None) -> dict[str, str]:
    """The CloudEvent attributes that can be read, leniently: a dead letter may be invalid."""
    found: dict[str, Any] = {}
    if not (content_type or "").startswith(CONTENT_TYPE):
        for key, value in headers.items():
            prefix = next((p for p in _BINARY_PREFIXES if key.startswith(p)), None)
            if prefix is not None:
                found[key[len(prefix) :].lower()] = _text(value)
    if not found:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        found = parsed if isinstance(parsed, dict) else {}
    return {k: str(found[k]) for k in ("id", "type", "factory", "subject") if isinstance(found.get(k), str)}


def _body(body: bytes) -> tuple[Any, Literal["json", "text", "base64"]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
    try:
        return json.loads(text), "json"
    except ValueError:
        return text, "text"


def _digest(body: bytes) -> str:
    """An id for a message that has none: the same content, the same id."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:24]


def _selector(message_id: str | None, reason_contains: str | None) -> Selector:
    if message_id is not None and reason_contains is not None:
        raise ValueError("choose messages by id or by reason, not both")
    if message_id is not None:
        return lambda d: d.message_id == message_id
    if reason_contains is not None:
        needle = reason_contains.casefold()
        return lambda d: needle in d.reason.casefold()
    return lambda _: True


def _visible(detail: DeadLetterDetail, factories: frozenset[str] | None) -> bool:
    """A caller limited to some factories sees their messages only (not unreadable ones)."""
    return factories is None or (detail.factory is not None and detail.factory in factories)


def _replayed(message: AbstractIncomingMessage, actor: str, now: datetime) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _DEAD_LETTER_HEADERS}
    headers["x-cqm-replayed-at"] = now.astimezone(UTC).isoformat()
    headers["x-cqm-replayed-by"] = actor
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        app_id=message.app_id,
        timestamp=message.timestamp,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


def _first(values: object) -> str | None:
    return _text(values[0]) if isinstance(values, list) and values else None


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _jsonable(value: object) -> Any:
    """AMQP field values (bytes, timestamps, decimals, nested tables) as JSON values."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# -- the audit row: written like every other, by a unit of work's commit -----------------


@dataclass(frozen=True, kw_only=True)
class _Discarded(DomainEvent):
    action: ClassVar[str] = DISCARDED


class _DeadLetterRecord(Aggregate):
    """A dead letter as the audit trail shows it; nothing of it is stored but that row."""

    entity: ClassVar[str] = "dead_letter"

    def __init__(self, letter: DeadLetterDetail, dlq: str) -> None:
        self.letter = letter
        self.dlq = dlq
        self.version = 0
        self.factory = letter.factory or "*"

    @property
    def identity(self) -> str:
        return self.letter.message_id

    @property
    def audit_id(self) -> str:
        return self.letter.message_id[:64]  # the column's width

    def snapshot(self) -> dict[str, Any]:
        summary = _brief(self.letter).model_dump(mode="json")
        return {"queue": self.dlq, **summary}

    def discard(self, *, at: datetime, reason: str, copies: int) -> None:
        before = {**self.snapshot(), "copies": copies}
        self.record(_Discarded(at=at, reason=reason), before=before, after={"state": "discarded"})


class _Unstored(Repository[_DeadLetterRecord]):
    async def _insert(self, aggregate: _DeadLetterRecord) -> None:
        return None

    async def _update(self, aggregate: _DeadLetterRecord, expected_version: int) -> None:
        return None


class _AuditOnly(SqlUnitOfWork):
    letters: _Unstored

    def _build_repositories(self, session: AsyncSession) -> None:
        self.letters = _Unstored()

    def repositories(self) -> Iterable[Repository[Any]]:
        return [self.letters]
