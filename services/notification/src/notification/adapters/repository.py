"""The notification log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.envelope import CloudEvent
from notification.adapters.orm import notifications
from notification.domain.messages import Notice

IN_APP = "in_app"


async def record_in_app(session: AsyncSession, event: CloudEvent, notices: list[Notice], now: datetime) -> None:
    """In-app delivery is the row itself: it is delivered when it commits."""
    for n in notices:
        await session.execute(
            sa.insert(notifications).values(
                id=str(uuid.uuid4()),
                number=event.subject or "",
                factory=event.factory,
                event_id=str(event.id),
                event_type=event.type,
                recipient_role=n.recipient_role,
                recipient=n.recipient,
                channel=IN_APP,
                urgent=n.urgent,
                subject=n.subject,
                body=n.body,
                status="delivered",
                created_at=now,
                delivered_at=now,
            )
        )


async def for_complaint(
    session: AsyncSession, number: str, recipient: str | None, factories: frozenset[str] | None
) -> list[Any]:
    stmt = sa.select(notifications).where(notifications.c.number == number)
    if factories is not None:
        stmt = stmt.where(notifications.c.factory.in_(sorted(factories)))
    if recipient:
        stmt = stmt.where(notifications.c.recipient == recipient)
    return list((await session.execute(stmt.order_by(notifications.c.created_at, notifications.c.id))).all())
