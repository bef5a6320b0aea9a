"""Dispatches in the notification database: one `notifications` row per recipient."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.orm import notifications
from notification.domain.model import Channel, DeliveryStatus, Dispatch, Notification
from notification.service.unit_of_work import DispatchRepository

n = notifications


class SqlDispatchRepository(DispatchRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, event_id: str) -> Dispatch | None:
        stmt = sa.select(n).where(n.c.event_id == event_id).order_by(n.c.id)
        found = _dispatches(list((await self._session.execute(stmt)).all()))
        return self._track(found[0]) if found else None

    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        stmt = sa.select(n).where(n.c.number == number)
        if factories is not None:
            stmt = stmt.where(n.c.factory.in_(sorted(factories)))
        if recipient is not None:
            stmt = stmt.where(n.c.recipient == recipient)
        return _dispatches(list((await self._session.execute(stmt.order_by(n.c.created_at, n.c.id))).all()))

    async def _insert(self, d: Dispatch) -> None:
        if not d.notifications:
            return  # nobody to tell: the audit row says so
        await self._session.execute(
            sa.insert(n),
            [
                {
                    "id": x.id,
                    "number": d.number,
                    "factory": d.factory,
                    "event_id": d.event_id,
                    "event_type": d.event_type,
                    "recipient_role": x.recipient_role,
                    "recipient": x.recipient,
                    "channel": d.channel.value,
                    "urgent": x.urgent,
                    "subject": x.subject,
                    "body": x.body,
                    "status": x.status.value,
                    "created_at": d.created_at,
                    "delivered_at": x.delivered_at,
                }
                for x in d.notifications
            ],
        )

    async def _update(self, d: Dispatch, expected_version: int) -> None:
        raise NotImplementedError(f"dispatch {d.event_id} is written once; nothing updates it yet")


def _dispatches(rows: list[sa.Row[Any]]) -> list[Dispatch]:
    """Rows grouped by their event, in the order of each event's first row."""
    grouped: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.event_id, []).append(row)
    return [
        Dispatch(
            event_id=event_id,
            event_type=first.event_type,
            number=first.number,
            factory=first.factory,
            channel=Channel(first.channel),
            created_at=first.created_at,
            notifications=tuple(
                Notification(
                    id=r.id,
                    recipient_role=r.recipient_role,
                    recipient=r.recipient,
                    urgent=r.urgent,
                    subject=r.subject,
                    body=r.body,
                    status=DeliveryStatus(r.status),
                    delivered_at=r.delivered_at,
                )
                for r in group
            ),
            version=1,  # written once, at version 1
        )
        for event_id, group in grouped.items()
        for first in group[:1]
    ]
