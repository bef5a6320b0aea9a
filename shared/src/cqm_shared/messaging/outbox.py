"""Transactional outbox: events are rows written in the same transaction as the state change.

Services stage events only through their unit of work (`cqm_shared.sql_uow`); `stage_event`
is for the relay's own tests and benchmarks, which exercise the plumbing without a domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.envelope import CloudEvent


def outbox_row(event: CloudEvent, now: datetime) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "event_type": event.type,
        "routing_key": event.routing_key,
        "body": event.to_json().decode(),
        "created_at": now,
        "attempts": 0,
    }


async def stage_event(session: AsyncSession, outbox: sa.Table, event: CloudEvent, now: datetime) -> None:
    """Queue `event` for publishing once the surrounding transaction commits."""
    await session.execute(sa.insert(outbox).values(**outbox_row(event, now)))


async def pending_count(session: AsyncSession, outbox: sa.Table) -> int:
    result = await session.execute(
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    )
    return int(result.scalar_one())
