"""The unit of work: the one way a service changes state.

cosmicpython's `AbstractUnitOfWork.collect_new_events` joined to eShop's
`TransactionBehavior`: a unit of work owns the transaction, the repositories, the clock and
the acting principal. Use cases load aggregates through its repositories, call their
methods, and `commit()`; the commit writes the changed aggregates (optimistic version check),
turns every recorded domain event into an audit row and, where the event is public, an
outbox CloudEvent, all in the same transaction, then wakes the relay. Leaving the block
without `commit()` rolls everything back.

`SqlUnitOfWork` is the real one; `MemoryUnitOfWork` keeps the same rules in memory so use
cases are unit-tested without a broker or a database.
"""

from __future__ import annotations

import abc
import copy
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from cqm_shared.clock import Clock
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.domain import Aggregate, Change, DomainEvent, StaleVersion

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Actor:
    """The acting principal: who is recorded, and which factories they may see."""

    id: str
    factories: frozenset[str] | None = None  # None: every factory

    def can_see(self, factory: str) -> bool:
        return self.factories is None or factory in self.factories


def system_actor(source: str) -> Actor:
    return Actor(f"system:{source}")


@dataclass(frozen=True)
class PublicEvent:
    """A domain event translated to the public contract (CONTRACT.md event table)."""

    type: str
    factory: str
    subject: str | None
    data: BaseModel
    dataversion: int = 1


# Translation at the edge: a domain event -> the public events it publishes (often none).
Translator = Callable[[DomainEvent], Sequence[PublicEvent]]


@dataclass(frozen=True)
class InboxEntry:
    """The consumed message a unit of work processes (idempotent consumer)."""

    event_id: str
    consumer: str
    event_type: str


class AlreadyProcessed(Exception):
    """The unit of work's inbox entry is already claimed: the message was handled before."""


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    factory: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    trace_id: str | None

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Repository(Generic[A], abc.ABC):
    """Tracks what a unit of work loaded or added, and writes what changed at commit."""

    def __init__(self) -> None:
        self._added: list[A] = []
        self._loaded: dict[str, tuple[A, int]] = {}

    def add(self, aggregate: A) -> A:
        self._added.append(aggregate)
        return aggregate

    def _track(self, aggregate: A | None) -> A | None:
        if aggregate is not None:
            known = self._loaded.get(aggregate.identity)
            if known is not None:
                return known[0]  # one object per aggregate within a unit of work
            self._loaded[aggregate.identity] = (aggregate, aggregate.version)
        return aggregate

    @property
    def seen(self) -> list[A]:
        return [*self._added, *(a for a, _ in self._loaded.values())]

    async def flush(self) -> None:
        for aggregate in self._added:
            await self._insert(aggregate)
            self._loaded[aggregate.identity] = (aggregate, aggregate.version)
        self._added = []
        for key, (aggregate, loaded_version) in list(self._loaded.items()):
            if aggregate.version != loaded_version:
                await self._update(aggregate, loaded_version)
                self._loaded[key] = (aggregate, aggregate.version)

    @abc.abstractmethod
    async def _insert(self, aggregate: A) -> None: ...

    @abc.abstractmethod
    async def _update(self, aggregate: A, expected_version: int) -> None:
        """Write `aggregate` if the stored version is still `expected_version`, else raise StaleVersion."""


class UnitOfWork(abc.ABC):
    def __init__(
        self,
        *,
        clock: Clock,
        actor: Actor,
        source: str,
        translate: Translator,
        inbox: InboxEntry | None = None,
        trace_id: Callable[[], str | None] = lambda: None,
        traceparent: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.actor = actor
        self.source = source
        self._translate = translate
        self.inbox = inbox
        self._trace_id = trace_id
        self._traceparent = traceparent
        self.committed = False

    async def __aenter__(self) -> Self:
        self.committed = False
        await self._begin()
        # Checked inside the transaction (on SQLite under its write lock): a redelivered
        # message costs no extra round trip, and its handler never runs twice.
        if self.inbox is not None and await self._claimed(self.inbox):
            try:
                await self._rollback()
            finally:
                await self._close()
            raise AlreadyProcessed(f"event {self.inbox.event_id} already processed by {self.inbox.consumer}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self.committed:
                await self._rollback()
        finally:
            await self._close()

    @abc.abstractmethod
    def repositories(self) -> Iterable[Repository[Any]]: ...

    def collect_new_events(self) -> list[Change]:
        return [change for repo in self.repositories() for agg in repo.seen for change in agg.pull_changes()]

    def expect_version(self, aggregate: Aggregate, expected: int | None) -> None:
        """The caller's version (If-Match) must be the one loaded: two editors never overwrite each other."""
        if expected is not None and aggregate.version != expected:
            raise StaleVersion(aggregate.entity, aggregate.identity, expected, aggregate.version)

    async def commit(self) -> None:
        for repo in self.repositories():
            await repo.flush()
        changes = self.collect_new_events()
        trace_id, traceparent = self._trace_id(), self._traceparent()
        audit = [self._audit_row(c, trace_id) for c in changes]
        events = [self._cloud_event(p, traceparent) for c in changes for p in self._translate(c.event)]
        await self._write(audit, events)
        await self._commit()
        self.committed = True
        self._after_commit(events)

    def _audit_row(self, change: Change, trace_id: str | None) -> AuditRow:
        event = change.event
        return AuditRow(
            at=event.at,
            actor=event.actor or self.actor.id,
            action=event.action,
            entity=change.entity,
            entity_id=change.entity_id,
            factory=change.factory,
            before=to_jsonable_python(change.before),
            after=to_jsonable_python(change.after),
            reason=event.reason,
            trace_id=trace_id,
        )

    def _cloud_event(self, public: PublicEvent, traceparent: str | None) -> CloudEvent:
        return CloudEvent(
            id=uuid.uuid4(),
            type=public.type,
            source=self.source,
            time=self.clock.now(),
            subject=public.subject,
            dataversion=public.dataversion,
            factory=public.factory,
            traceparent=traceparent,
            data=public.data.model_dump(mode="json"),
        )

    @abc.abstractmethod
    async def _begin(self) -> None: ...

    @abc.abstractmethod
    async def _claimed(self, inbox: InboxEntry) -> bool:
        """Whether the inbox already holds this entry."""

    @abc.abstractmethod
    async def _write(self, audit: list[AuditRow], events: list[CloudEvent]) -> None:
        """Write audit rows, outbox events and the inbox claim in the open transaction."""

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _rollback(self) -> None: ...

    async def _close(self) -> None:
        return None

    def _after_commit(self, events: list[CloudEvent]) -> None:
        return None


# ---------------------------------------------------------------------------------------
# In memory: the same rules without a database, for fast tests of every use case.


@dataclass
class MemoryStore:
    """What a service's database would hold, committed; shared by successive units of work."""

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: list[AuditRow] = field(default_factory=list)
    outbox: list[CloudEvent] = field(default_factory=list)
    inbox: set[tuple[str, str]] = field(default_factory=set)

    def table(self, name: str) -> dict[str, Any]:
        return self.tables.setdefault(name, {})

    def published(self, event_type: str | None = None) -> list[CloudEvent]:
        return [e for e in self.outbox if event_type is None or e.type == event_type]


def _stored(aggregate: A) -> A:
    """The copy a table keeps: like a row, it holds state, not the changes of the commit writing it."""
    kept = copy.deepcopy(aggregate)
    kept.pull_changes()
    return kept


class MemoryRepository(Repository[A]):
    """Aggregates kept as deep copies in a `MemoryStore` table, written only on commit."""

    table_name: str = "aggregates"

    def __init__(self, store: MemoryStore, staged: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self._store = store
        self._staged = staged  # the unit of work's pending writes: table -> key -> object

    def table(self, name: str) -> dict[Any, Any]:
        """A table's committed rows overlaid with this unit of work's writes (read your own writes)."""
        return {**self._store.table(name), **self._staged.get(name, {})}

    @property
    def rows(self) -> dict[str, A]:
        """This repository's aggregates, committed and written in this unit of work."""
        return self.table(self.table_name)

    async def get(self, identity: str) -> A | None:
        found = self.rows.get(identity)
        return self._track(copy.deepcopy(found)) if found is not None else None

    async def _insert(self, aggregate: A) -> None:
        if aggregate.identity in self.rows:
            raise KeyError(f"duplicate key {aggregate.identity} in {self.table_name}")
        self._staged.setdefault(self.table_name, {})[aggregate.identity] = _stored(aggregate)

    async def _update(self, aggregate: A, expected_version: int) -> None:
        stored = self.rows.get(aggregate.identity)
        if stored is None or stored.version != expected_version:
            raise StaleVersion(
                aggregate.entity, aggregate.identity, expected_version, None if stored is None else stored.version
            )
        self._staged.setdefault(self.table_name, {})[aggregate.identity] = _stored(aggregate)


class MemoryUnitOfWork(UnitOfWork):
    """Base of the services' in-memory units of work (`repositories()` is theirs)."""

    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.staged: dict[str, dict[str, Any]] = {}
        self._pending_audit: list[AuditRow] = []
        self._pending_events: list[CloudEvent] = []

    async def _begin(self) -> None:
        self.staged.clear()
        self._build_repositories()

    def _build_repositories(self) -> None:
        """Subclasses create their repositories here: fresh for each `async with`, like a session."""

    async def _claimed(self, inbox: InboxEntry) -> bool:
        return (inbox.event_id, inbox.consumer) in self.store.inbox

    async def _write(self, audit: list[AuditRow], events: list[CloudEvent]) -> None:
        if self.inbox is not None and await self._claimed(self.inbox):
            # What the primary key does on a database when a concurrent duplicate committed first.
            raise KeyError(f"event {self.inbox.event_id} already processed by {self.inbox.consumer}")
        self._pending_audit, self._pending_events = audit, events

    async def _commit(self) -> None:
        for name, rows in self.staged.items():
            self.store.table(name).update(rows)
        self.store.audit.extend(self._pending_audit)
        self.store.outbox.extend(self._pending_events)
        if self.inbox is not None:
            self.store.inbox.add((self.inbox.event_id, self.inbox.consumer))
        self.staged.clear()

    async def _rollback(self) -> None:
        self.staged.clear()
