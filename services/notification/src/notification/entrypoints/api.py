"""HTTP API of notification: the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from notification.domain.model import Dispatch, Notification
from notification.service.handlers import dispatches_of
from notification.service.unit_of_work import NotificationUnitOfWork

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


def _uow(request: Request, principal: Principal) -> NotificationUnitOfWork:
    uow: NotificationUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


class NotificationView(BaseModel):
    id: str
    number: str
    factory: str
    event_id: str
    event_type: str
    recipient_role: str
    recipient: str
    channel: str
    urgent: bool
    subject: str
    body: str
    status: str
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Dispatch, n: Notification) -> NotificationView:
        return cls(
            id=n.id,
            number=d.number,
            factory=d.factory,
            event_id=d.event_id,
            event_type=d.event_type,
            recipient_role=n.recipient_role,
            recipient=n.recipient,
            channel=d.channel.value,
            urgent=n.urgent,
            subject=n.subject,
            body=n.body,
            status=n.status.value,
            created_at=d.created_at,
            delivered_at=n.delivered_at,
        )


@router.get("", response_model=list[NotificationView], summary="What was sent to whom, when, on which channel")
async def list_notifications(
    request: Request,
    principal: Annotated[Principal, Depends(require("notifications:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
    recipient: Annotated[str | None, Query(max_length=200)] = None,
) -> list[NotificationView]:
    dispatches = await dispatches_of(_uow(request, principal), complaint, recipient or None)
    return [NotificationView.of(d, n) for d in dispatches for n in d.notifications]
