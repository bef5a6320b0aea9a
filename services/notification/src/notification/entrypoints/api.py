"""HTTP API of notification: the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from notification.adapters import repository

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


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


@router.get("", response_model=list[NotificationView], summary="What was sent to whom, when, on which channel")
async def list_notifications(
    request: Request,
    principal: Annotated[Principal, Depends(require("notifications:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
    recipient: Annotated[str | None, Query(max_length=200)] = None,
) -> list[NotificationView]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.sessions() as session:
        rows = await repository.for_complaint(session, complaint, recipient, principal.visible_factories())
    return [NotificationView.model_validate(r, from_attributes=True) for r in rows]
