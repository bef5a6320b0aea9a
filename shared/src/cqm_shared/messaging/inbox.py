"""Idempotent consumer: an event id is processed at most once per consumer."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.db import utcnow


async def claim(session: AsyncSession, inbox: sa.Table, event: CloudEvent, consumer: str) -> bool:
    """Record that `consumer` handles `event` in this transaction; False if it already did.

    The primary key (event_id, consumer) makes a concurrent second claim fail at flush or
    commit, which the caller treats as "already done".
    """
    seen = await session.execute(
        sa.select(inbox.c.event_id).where(inbox.c.event_id == str(event.id), inbox.c.consumer == consumer)
    )
    if seen.first() is not None:
        return False
    await session.execute(
        sa.insert(inbox).values(event_id=str(event.id), consumer=consumer, event_type=event.type, processed_at=utcnow())
    )
    return True
