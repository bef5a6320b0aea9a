"""The unit of work on a real database: one SQLAlchemy transaction per unit of work.

Inside a `SharedTransaction` (a consumer's batch) a unit of work is a savepoint of the batch's
transaction instead: its commit releases the savepoint, its failure rolls back only its own
writes, and the batch commits once for all (one fsync for many messages).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

from cqm_shared.audit import current_trace_id
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.domain import StaleVersion
from cqm_shared.messaging.outbox import outbox_row
from cqm_shared.telemetry import current_traceparent
from cqm_shared.uow import Actor, AuditRow, InboxEntry, Translator, UnitOfWork

if TYPE_CHECKING:
    from cqm_shared.runtime import ServiceRuntime


@dataclass
class SharedTransaction:
    """One open transaction that the units of work of a batch join as savepoints."""

    sessions: async_sessionmaker[AsyncSession]
    session: AsyncSession
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def committed(self) -> None:
        for callback in dict.fromkeys(self.after_commit):  # each relay woken once
            callback()


shared_transaction: contextvars.ContextVar[SharedTransaction | None] = contextvars.ContextVar(
    "shared_transaction", default=None
)


class SqlUnitOfWork(UnitOfWork):
    """Base of the services' units of work; a subclass builds its repositories on `self.session`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outbox: sa.Table,
        inbox_table: sa.Table,
        audit_table: sa.Table,
        after_commit: Callable[[], None] = lambda: None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trace_id", current_trace_id)
        kwargs.setdefault("traceparent", current_traceparent)
        super().__init__(**kwargs)
        self._sessions = sessions
        self._outbox = outbox
        self._inbox_table = inbox_table
        self._audit_table = audit_table
        self._wake = after_commit
        self._session: AsyncSession | None = None
        self._shared: SharedTransaction | None = None
        self._savepoint: AsyncSessionTransaction | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    async def _begin(self) -> None:
        shared = shared_transaction.get()
        if shared is not None and shared.sessions is self._sessions:
            self._shared, self._session = shared, shared.session
            self._savepoint = await shared.session.begin_nested()
        else:
            self._shared, self._session = None, self._sessions()
            await self._session.begin()
        self._build_repositories(self._session)

    def _build_repositories(self, session: AsyncSession) -> None:
        """Subclasses create their repositories here, on the unit of work's session."""

    async def _claimed(self, inbox: InboxEntry) -> bool:
        table = self._inbox_table
        seen = await self.session.execute(
            sa.select(table.c.event_id).where(table.c.event_id == inbox.event_id, table.c.consumer == inbox.consumer)
        )
        return seen.first() is not None

    async def _write(self, audit: list[AuditRow], events: list[CloudEvent]) -> None:
        session = self.session
        if self.inbox is not None:
            # The primary key (event_id, consumer) makes a concurrent duplicate fail here.
            await session.execute(
                sa.insert(self._inbox_table).values(
                    event_id=self.inbox.event_id,
                    consumer=self.inbox.consumer,
                    event_type=self.inbox.event_type,
                    processed_at=self.clock.now(),
                )
            )
        if audit:
            await session.execute(sa.insert(self._audit_table), [row.values() for row in audit])
        if events:
            now = self.clock.now()
            await session.execute(sa.insert(self._outbox), [outbox_row(e, now) for e in events])

    async def _commit(self) -> None:
        if self._savepoint is not None:
            await self._savepoint.commit()
        else:
            await self.session.commit()

    async def _rollback(self) -> None:
        if self._savepoint is not None:
            if self._savepoint.is_active:
                await self._savepoint.rollback()
        elif self._session is not None and self._session.in_transaction():
            await self._session.rollback()

    async def _close(self) -> None:
        if self._session is not None and self._shared is None:
            await self._session.close()
        self._session, self._shared, self._savepoint = None, None, None

    def _after_commit(self, events: list[CloudEvent]) -> None:
        if events:
            if self._shared is not None:
                self._shared.after_commit.append(self._wake)  # the rows exist once the batch commits
            else:
                self._wake()


U = TypeVar("U", bound=SqlUnitOfWork)


def sql_units_of_work(
    runtime: ServiceRuntime,
    cls: type[U],
    *,
    audit: sa.Table,
    translate: Translator,
    source: str,
    also_wake: Callable[[], None] | None = None,
) -> Callable[[Actor, InboxEntry | None], U]:
    """The factory a service's composition root hands to its API and consumers. `also_wake` is
    called after each commit besides the outbox relay (e.g. a worker with new work waiting)."""

    def wake() -> None:
        runtime.relay.wake()
        if also_wake is not None:
            also_wake()

    def make(actor: Actor, inbox: InboxEntry | None = None) -> U:
        return cls(
            runtime.sessions,
            outbox=runtime.tables.outbox,
            inbox_table=runtime.tables.inbox,
            audit_table=audit,
            after_commit=wake,
            clock=runtime.clock,
            actor=actor,
            source=source,
            translate=translate,
            inbox=inbox,
        )

    return make


async def versioned_update(
    session: AsyncSession,
    table: sa.Table,
    key: sa.ColumnElement[bool],
    *,
    entity: str,
    identity: str,
    expected_version: int,
    values: dict[str, Any],
) -> None:
    """`UPDATE … WHERE <key> AND version = expected`; no row means another writer came first.

    The refusal names the version found, so a client hears "now at version 3", not "deleted".
    """
    result = await session.execute(sa.update(table).where(key, table.c.version == expected_version).values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        actual = (await session.execute(sa.select(table.c.version).where(key))).scalar_one_or_none()
        raise StaleVersion(entity, identity, expected_version, actual)
