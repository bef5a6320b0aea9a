"""Transactional outbox: events are rows written in the same transaction as the state change."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.db import utcnow


async def stage_event(session: AsyncSession, outbox: sa.Table, event: CloudEvent) -> None:
    """Queue `event` for publishing once the surrounding transaction commits."""
    await session.execute(
        sa.insert(outbox).values(
            id=str(event.id),
            event_type=event.type,
            routing_key=event.routing_key,
            body=event.to_json().decode(),
            created_at=utcnow(),
            attempts=0,
        )
    )


async def pending_count(session: AsyncSession, outbox: sa.Table) -> int:
    result = await session.execute(
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    )
    return int(result.scalar_one())
