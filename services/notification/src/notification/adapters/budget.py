"""Chat robots' send budget in the database: one row per robot and minute, so every replica
spends the same budget (the platforms allow about 20 messages a minute per robot)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification.adapters.orm import send_windows

MINUTE = timedelta(minutes=1)


class SqlSendBudget:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, sqlite_dialect: bool) -> None:
        self._sessions = sessions
        self._insert = sqlite.insert if sqlite_dialect else postgresql.insert

    async def take(self, target: str, now: datetime, per_minute: int) -> datetime | None:
        window = now.replace(second=0, microsecond=0)
        w = send_windows
        insert = self._insert(w).values(target=target[:120], window_start=window, sent=1)
        # One atomic statement: count this send unless the minute's budget is spent.
        stmt = insert.on_conflict_do_update(
            index_elements=[w.c.target, w.c.window_start],
            set_={"sent": w.c.sent + 1},
            where=w.c.sent < per_minute,
        ).returning(w.c.sent)
        async with self._sessions() as session, session.begin():
            granted = (await session.execute(stmt)).first()
            # Old windows are of no use: keep the table small.
            await session.execute(sa.delete(w).where(w.c.target == target[:120], w.c.window_start < window - MINUTE))
        return None if granted is not None else window + MINUTE
