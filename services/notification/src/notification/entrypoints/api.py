"""HTTP API of notification: the delivery log, the caller's in-app inbox, the deadline timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cqm_shared.contracts.complaint import DateTimeText
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from cqm_shared.web import given_once
from notification.domain.deliveries import Delivery
from notification.domain.model import Dispatch
from notification.domain.timers import DeadlineKey, EscalationState, Timer
from notification.service.handlers import (
    Policies,
    Reader,
    dispatches_of,
    escalations_of,
    inbox_of,
    mark_read,
    timers_of,
)
from notification.service.unit_of_work import NotificationUnitOfWork

router = APIRouter(prefix="/api/v1", tags=["notifications"])


def _uow(request: Request, principal: Principal) -> NotificationUnitOfWork:
    uow: NotificationUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


def _policies(request: Request) -> Policies:
    policies: Policies = request.app.state.policies
    return policies


def _reader(request: Request, principal: Principal) -> Reader:
    known: list[str] = request.app.state.policies.factories
    factories = known if principal.all_factories else sorted(f for f in principal.factories if f in known)
    return Reader(principal.subject, frozenset(r.value for r in principal.roles), factories)


class NotificationView(BaseModel):
    id: str
    number: str
    factory: str
    event_id: str
    event_type: str
    recipient_role: str
    recipient: str
    channel: str
    target: str | None
    locale: str
    urgent: bool
    subject: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    digest: bool
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> NotificationView:
        return cls(
            id=d.id,
            number=d.number,
            factory=d.factory,
            event_id=d.event_id,
            event_type=d.event_type,
            recipient_role=d.recipient_role,
            recipient=d.recipient,
            channel=d.channel.value,
            target=d.target,
            locale=d.locale,
            urgent=d.urgent,
            subject=d.subject,
            body=d.body,
            status=d.status.value,
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            digest=d.digest,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            failed_at=d.failed_at,
        )


@router.get(
    "/notifications",
    response_model=list[NotificationView],
    summary="What was sent to whom, when, on which channel (the delivery log)",
)
async def list_notifications(
    request: Request,
    principal: Annotated[Principal, Depends(require("notifications:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
    recipient: Annotated[str | None, Query(max_length=200)] = None,
) -> list[NotificationView]:
    dispatches: list[Dispatch] = await dispatches_of(_uow(request, principal), complaint, recipient or None)
    return [NotificationView.of(d) for dispatch in dispatches for d in dispatch.deliveries]


class InboxNotice(BaseModel):
    id: str
    number: str
    factory: str
    event_type: str
    recipient: str
    urgent: bool
    subject: str
    body: str
    created_at: datetime
    read: bool
    read_at: datetime | None


class Inbox(BaseModel):
    unread: int
    items: list[InboxNotice]


@router.get("/inbox", response_model=Inbox, summary="The caller's in-app notices (站内消息), newest first")
async def inbox(
    request: Request,
    principal: Annotated[Principal, Depends(require("inbox:read"))],
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[DateTimeText | None, Query(description="older than this (the next page)")] = None,
) -> Inbox:
    items, count = await inbox_of(
        _uow(request, principal),
        _reader(request, principal),
        _policies(request),
        unread_only=unread,
        limit=limit,
        before=before,
    )
    return Inbox(
        unread=count,
        items=[
            InboxNotice(
                id=i.delivery.id,
                number=i.delivery.number,
                factory=i.delivery.factory,
                event_type=i.delivery.event_type,
                recipient=i.delivery.recipient,
                urgent=i.delivery.urgent,
                subject=i.delivery.subject,
                body=i.delivery.body,
                created_at=i.delivery.created_at,
                read=i.read_at is not None,
                read_at=i.read_at,
            )
            for i in items
        ],
    )


class ReadReceipt(BaseModel):
    id: str
    read_at: datetime


@router.post(
    "/inbox/{notification_id}/read",
    response_model=ReadReceipt,
    summary="Mark one of the caller's notices read (again: nothing changes)",
    responses={404: {"description": "no such notice in the caller's inbox"}},
)
async def read_notice(
    request: Request,
    principal: Annotated[Principal, Depends(require("inbox:read"))],
    notification_id: str,
) -> ReadReceipt:
    at = await mark_read(_uow(request, principal), _reader(request, principal), notification_id, _policies(request))
    return ReadReceipt(id=notification_id, read_at=at)


class TimerView(BaseModel):
    id: str
    number: str
    factory: str
    milestone: str
    round: int
    kind: str
    level: int
    due_at: datetime
    fire_at: datetime
    state: str
    department: str | None
    producer: str
    fired_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, t: Timer) -> TimerView:
        return cls(
            id=t.id,
            number=t.number,
            factory=t.factory,
            milestone=t.milestone,
            round=t.round,
            kind=t.kind.value,
            level=t.level,
            due_at=t.due_at,
            fire_at=t.fire_at,
            state=t.state.value,
            department=t.department,
            producer=t.producer,
            fired_at=t.fired_at,
            cancelled_at=t.cancelled_at,
        )


@router.get(
    "/timers",
    response_model=list[TimerView],
    summary="A complaint's reminders, breaches and escalation levels (期限提醒与逾期升级)",
)
async def list_timers(
    request: Request,
    principal: Annotated[Principal, Depends(require("notifications:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
) -> list[TimerView]:
    return [TimerView.of(t) for t in await timers_of(_uow(request, principal), complaint)]


# -- escalation levels (逾期反应) -----------------------------------------------------------------


# Keyset cursor "<due time in epoch microseconds>~<track>~<milestone>~<round>" of the last
# deadline of a page: every value the pattern admits is a position (never refused once valid).
ESCALATION_CURSOR = r"^[0-9]{1,16}~[A-Za-z0-9:_.-]{1,100}~[A-Za-z0-9:_.-]{1,100}~[0-9]{1,6}$"
EPOCH = datetime.fromtimestamp(0, UTC)


def _decode_deadline(cursor: str) -> DeadlineKey:
    micros, track, milestone, round_ = cursor.split("~")
    return DeadlineKey(EPOCH + timedelta(microseconds=int(micros)), track, milestone, int(round_))


def _encode_deadline(key: DeadlineKey) -> str:
    return f"{(key.due_at - EPOCH) // timedelta(microseconds=1)}~{key.track}~{key.milestone}~{key.round}"


class NextTimerView(BaseModel):
    kind: str  # reminder, breach or escalation
    level: int
    fire_at: datetime


class EscalationView(BaseModel):
    number: str
    factory: str
    producer: str  # investigation (a case) or penalty (an assessment)
    milestone: str
    round: int
    due_at: datetime
    overdue: bool  # past due now
    level: int | None  # highest fired: 0 breached (the owner told), 1-3 escalated; None: none fired yet
    reached_at: datetime | None  # when that level fired
    next: NextTimerView | None  # the next timer to fire; None: every level fired
    owner: str | None  # the role that must meet the milestone (policy)
    department: str | None  # the responsible department, as notification knows it

    @classmethod
    def of(cls, e: EscalationState) -> EscalationView:
        nxt = e.next
        return cls(
            number=e.number,
            factory=e.factory,
            producer=e.producer,
            milestone=e.deadline.milestone,
            round=e.deadline.round,
            due_at=e.deadline.due_at,
            overdue=e.overdue,
            level=e.level,
            reached_at=e.reached_at,
            next=NextTimerView(kind=nxt.kind.value, level=nxt.level, fire_at=nxt.fire_at) if nxt else None,
            owner=e.owner,
            department=e.department,
        )


class EscalationPage(BaseModel):
    items: list[EscalationView]
    next_cursor: str | None  # send it back as `cursor` (with the same filters) for the next page


@router.get(
    "/escalations",
    response_model=EscalationPage,
    summary="Pending deadlines, earliest due first, with the escalation level reached (逾期反应)",
)
async def list_escalations(
    request: Request,
    principal: Annotated[Principal, Depends(require("notifications:read"))],
    _once: Annotated[None, Depends(given_once("factory", "complaint", "limit", "cursor"))],
    factory: Annotated[
        str | None, Query(pattern=r"^[A-Z][A-Z0-9]{1,9}$", description="one factory (default: all you see)")
    ] = None,
    complaint: Annotated[str | None, Query(min_length=1, max_length=32, description="one complaint's")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=ESCALATION_CURSOR)] = None,
) -> EscalationPage:
    """Every deadline a case or an assessment still has pending, as the timers know it: level 0
    once the breach fired (the owner was told), 1-3 as it escalated to the department head,
    director and general manager (DOMAIN.md §3 "Deadlines"), and the next timer. Only the
    caller's factories; a factory they may not see answers 404."""
    found = await escalations_of(
        _uow(request, principal),
        _policies(request),
        factory=factory,
        number=complaint,
        after=_decode_deadline(cursor) if cursor else None,
        limit=limit + 1,
    )
    more = len(found) > limit
    found = found[:limit]
    return EscalationPage(
        items=[EscalationView.of(e) for e in found],
        next_cursor=_encode_deadline(found[-1].deadline) if more else None,
    )
