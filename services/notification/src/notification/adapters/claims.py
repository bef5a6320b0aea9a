"""Claims of due rows (timers, deliveries) by one replica, with a lease.

Every replica polls the same table. A claim marks up to a batch of due rows as its owner's
until the lease runs out: if the owner dies, its rows become claimable again once the lease
has passed, so nothing is lost and nothing waits for a human. The owner that finishes a row
moves it out of the pending state; doing so it should check that it still holds the claim
(`claimed_by`, or the row's `version`), since a lease that ran out may have been retaken.

PostgreSQL: one `WITH claimable AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED) UPDATE … WHERE
id IN (SELECT id FROM claimable) RETURNING`: replicas claiming at the same moment skip each other's
rows instead of waiting or taking them twice; the CTE runs the locking select exactly once
(see `claim`). SQLite has no row locks (SQLAlchemy silently drops `skip_locked` there): the
same statement runs in its own transaction, which the engine opens with `BEGIN IMMEDIATE`, so
claimers queue for the write lock and each sees the one before it committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

# UPDATE … RETURNING arrived in SQLite 3.35.0 (2021-03).
SQLITE_RETURNING = (3, 35, 0)
# Ids per released batch: each id is a bound parameter.
_RELEASE_CHUNK = 500


class Claims:
    """Claims rows of `table` whose `due` column has passed, in state `pending`, for `owner`.

    The table needs `id`, `claimed_by` and `lease_until` columns; `due` and `lease_until`
    hold timezone-aware UTC times (`UTCDateTime`).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: sa.Table,
        *,
        due: str,
        state: str,
        pending: str = "pending",
        owner: str,
        lease: timedelta,
        sqlite: bool,
    ) -> None:
        if sqlite and sqlite3.sqlite_version_info < SQLITE_RETURNING:
            raise RuntimeError(f"SQLite {sqlite3.sqlite_version} has no UPDATE … RETURNING; claims need 3.35 or newer")
        if lease <= timedelta(0):
            raise ValueError("a lease must be positive")
        if not owner:
            raise ValueError("a claim needs an owner")
        self._sessions = sessions
        self._table = table
        self._id = table.c.id
        self._due = table.c[due]
        self._state = table.c[state]
        self._pending = pending
        self._owner = owner
        self._lease = lease
        self._sqlite = sqlite

    @property
    def owner(self) -> str:
        return self._owner

    def _claimable(self, now: datetime) -> ColumnElement[bool]:
        lease_until = self._table.c.lease_until
        # `<=`, never `==`: a poll that comes late still finds every row that fell due meanwhile.
        return sa.and_(
            self._state == self._pending,
            self._due <= now,
            sa.or_(lease_until.is_(None), lease_until <= now),
        )

    async def claim(self, now: datetime, limit: int, *, where: ColumnElement[bool] | None = None) -> list[str]:
        """Ids of up to `limit` rows in state `pending` with due <= now and no live lease
        (lease_until IS NULL or lease_until <= now), earliest due first; sets claimed_by=owner,
        lease_until=now+lease in the same statement. `where` narrows the rows (e.g. a channel)."""
        if limit <= 0:
            return []
        t = self._table
        claimable = self._claimable(now)
        if where is not None:
            claimable = sa.and_(claimable, where)
        picked = sa.select(self._id).where(claimable).order_by(self._due, self._id).limit(limit)
        if not self._sqlite:
            picked = picked.with_for_update(skip_locked=True)
        # The pick is a MATERIALIZED CTE: evaluated exactly once. As a plain `id IN (SELECT …
        # LIMIT n FOR UPDATE SKIP LOCKED)` nothing stops PostgreSQL from putting the subquery on
        # the inner side of a nested loop and rescanning it per outer row, and each rescan skips
        # the rows already taken and locks further ones (with the conditions repeated on the
        # UPDATE, a claim of 25 took 1,832 rows on a fresh table without statistics). SQLite
        # (>= 3.35) accepts the same hint.
        chosen = picked.cte("claimable").prefix_with("MATERIALIZED")
        stmt = (
            sa.update(t)
            # Only the id: the picked rows are locked (PostgreSQL re-checked them when locking) or
            # the write lock is held (SQLite); repeating the conditions here steers PostgreSQL to
            # scan every due row instead of looking the picked ones up by primary key.
            .where(self._id.in_(sa.select(chosen.c.id)))
            .values({t.c.claimed_by: self._owner, t.c.lease_until: now + self._lease})
            .returning(self._id, self._due)
        )
        # A transaction of its own, with nothing else in it: on SQLite it holds the database's
        # only write lock, on PostgreSQL the row locks; neither should wait on other systems.
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(stmt)).all()
        # RETURNING promises no order on either database.
        return [row_id for row_id, _ in sorted(rows, key=lambda r: (r[1], r[0]))]

    async def release(self, ids: Sequence[str]) -> None:
        """Give back claims not handled (e.g. on shutdown), so another owner need not wait for
        the lease. Only rows still pending and still this owner's are touched."""
        t = self._table
        unique = sorted(set(ids))
        for start in range(0, len(unique), _RELEASE_CHUNK):
            chunk = unique[start : start + _RELEASE_CHUNK]
            async with self._sessions() as session, session.begin():
                await session.execute(
                    sa.update(t)
                    .where(
                        self._id.in_(chunk),
                        t.c.claimed_by == self._owner,  # a lease that ran out may have been retaken
                        self._state == self._pending,  # handled rows keep who handled them
                    )
                    .values({t.c.claimed_by: None, t.c.lease_until: None})
                )

    async def next_due(self, *, where: ColumnElement[bool] | None = None) -> datetime | None:
        """The earliest time a pending row can be claimed, or None if there is none: its due
        time, or the end of its lease if that is later (a row another replica holds is not
        claimable before; a worker sleeping until its due time would spin). May lie in the
        past: rows are due now."""
        t = self._table
        claimable_at = sa.case((t.c.lease_until > self._due, t.c.lease_until), else_=self._due)
        stmt = sa.select(sa.func.min(claimable_at)).where(self._state == self._pending)
        if where is not None:
            stmt = stmt.where(where)
        async with self._sessions() as session:
            value: datetime | None = (await session.execute(stmt)).scalar_one()
        return value
