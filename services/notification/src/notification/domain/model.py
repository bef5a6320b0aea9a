"""Notifications (通知). Pure: no I/O.

A `Dispatch` is what one consumed event made notification send: one notice per recipient,
on one channel. In-app is the only channel yet: an in-app notice is delivered when its
dispatch commits (the stored row is the delivery). Every dispatch is audited: who, the
recipients, the channel, and why (the event's type and id).

What notification reads of other services' events is kept in its own terms
(`ComplaintSummary`, `CaseOpened`, `CaseTriaged`, …): only what its messages say, translated
from the public payloads at the edge (entrypoints/consumers.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent

# Notification ids are derived from (event, recipient, channel): a replay names the same rows.
_IDS = uuid.UUID("5f3c2a61-8d0e-4b7a-9c61-2f0a6e1d9b44")


class Channel(StrEnum):
    IN_APP = "in_app"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"


@dataclass(frozen=True)
class ComplaintSummary:
    """What notification tells of a registered complaint."""

    number: str
    factory: str
    company: str
    product: str  # part number, else model
    phenomenon: str
    batch_return: bool = False


@dataclass(frozen=True)
class Deadline:
    milestone: str
    due_at: datetime
    state: str = "pending"  # pending, met or cancelled

    @property
    def pending(self) -> bool:
        return self.state == "pending"


@dataclass(frozen=True)
class CaseOpened:
    """What notification tells of a newly opened investigation."""

    number: str
    factory: str
    deadlines: tuple[Deadline, ...]


@dataclass(frozen=True)
class CaseTriaged:
    """What notification tells of a triage (确认/分类): to the responsible department and the
    on-site team, or, when triage ends the investigation, to customer service."""

    number: str
    factory: str
    severity: str  # urgent, critical, major, moderate or minor
    category: str  # quality or a non-quality kind
    valid: bool = True
    our_fault: bool = True
    special: str | None = None  # process_abnormality or hazardous_substance
    responsible_department: str | None = None
    dispatch: tuple[str, ...] = ()  # roles sent on site
    ends_investigation: bool = False
    deadlines: tuple[Deadline, ...] = ()


@dataclass(frozen=True)
class Share:
    """One responsible party and its share (percent)."""

    name: str
    share: Decimal
    kind: str = "department"  # department, person, role or supplier
    department: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ResponsibilityAssigned:
    """What notification tells of a responsibility determination (责任判定)."""

    number: str
    factory: str
    parties: tuple[Share, ...]
    determination: int = 1
    supersedes: int | None = None
    accident_class: str | None = None
    loss_amount: Decimal = Decimal("0")
    loss_class: str | None = None
    charge_back: bool = False
    dispute_window_ends_at: datetime | None = None


@dataclass(frozen=True)
class DisputeFiled:
    """An objection or a market-cause claim (异议) against a determination."""

    number: str
    factory: str
    kind: str  # objection or market_cause
    department: str
    against: int
    reason: str = ""


@dataclass(frozen=True)
class DisputeRuling:
    """Production operations' final ruling on a dispute."""

    number: str
    factory: str
    kind: str  # objection or market_cause
    upheld: bool
    determination: int | None = None  # the determination the ruling created
    responsibility_cleared: bool = False
    department: str | None = None  # the disputing department, when the event names it
    reason: str = ""


class Step(StrEnum):
    """The later steps of a case that customer service and QE hear of."""

    FINAL_REPLY = "final_reply"
    PRELIMINARY_REPLY = "preliminary_reply"
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True)
class CaseProgress:
    """A reply to the customer, a closing or a reopening of a case."""

    number: str
    factory: str
    step: Step
    round: int = 1
    outcome: str | None = None  # of a closing
    reason: str = ""
    deadlines: tuple[Deadline, ...] = ()


@dataclass(frozen=True)
class PenaltyItem:
    """One line item (考核明细) of an assessment: who pays what under which rule."""

    rule_code: str
    kind: str  # fine, points, charge_back, exempt or commission_cancelled
    role: str  # the rule's payer role, e.g. department_head
    payee_id: str
    payee: str  # the payee's name
    amount: Decimal = Decimal("0")
    points: Decimal = Decimal("0")
    department: str | None = None
    unresolved: bool = False  # addressed to a role: HR resolves the person
    original_amount: Decimal | None = None  # before the appeal decision changed it


@dataclass(frozen=True)
class AppealState:
    """An appeal (申诉) to the general manager and, once decided, the decision."""

    by: str
    reason: str
    lines: tuple[int, ...] = ()  # contested line positions; empty: the whole assessment
    decided: bool = False
    upheld: bool | None = None
    decision: str | None = None


class PenaltyStage(StrEnum):
    """The steps of an assessment that its departments, the GM, HR and finance hear of."""

    ASSESSED = "assessed"  # draft line items (computed, or after the appeal decision)
    APPEALED = "appealed"
    FINALIZED = "finalized"  # approved: to HR and finance


@dataclass(frozen=True)
class PenaltyNotice:
    """What notification tells of a penalty assessment (考核) at one stage."""

    number: str
    factory: str
    stage: PenaltyStage
    status: str  # draft, appealed, approved, superseded or void
    assessment_id: str
    period: str  # yyyy-mm of the ledger it counts in
    lines: tuple[PenaltyItem, ...]
    total: Decimal
    charge_backs: Decimal = Decimal("0")
    currency: str = "CNY"
    illustrative: bool = False
    adjustment: bool = False  # landed in a later period: its own was closed
    supersedes: tuple[str, ...] = ()
    appeal: AppealState | None = None
    approved_by: str | None = None
    deadlines: tuple[Deadline, ...] = ()

    @property
    def departments(self) -> tuple[str, ...]:
        """The departments the lines name, in their order, without repeats."""
        return tuple(dict.fromkeys(line.department for line in self.lines if line.department))

    @property
    def payees(self) -> int:
        """How many payees are fined or lose points."""
        return len({line.payee_id for line in self.lines if line.kind in ("fine", "points")})


@dataclass(frozen=True)
class DepartmentTotals:
    fines: Decimal
    performance_points: Decimal = Decimal("0")
    management_points: Decimal = Decimal("0")
    lines: int = 0


@dataclass(frozen=True)
class PeriodClosed:
    """A factory's monthly penalty ledger, closed: its totals (to HR and finance)."""

    factory: str
    period: str
    closed_by: str
    compensation: Decimal
    fines: Decimal
    charge_backs: Decimal
    cost_of_poor_quality: Decimal
    performance_points: Decimal = Decimal("0")
    management_points: Decimal = Decimal("0")
    unresolved_lines: int = 0
    departments: tuple[tuple[str, DepartmentTotals], ...] = ()

    @property
    def number(self) -> str:
        """The key the delivery log files it under (no complaint): `ledger/<factory>/<yyyy-mm>`."""
        return f"ledger/{self.factory}/{self.period}"


@dataclass(frozen=True)
class Cause:
    """The consumed event a dispatch answers."""

    event_id: str
    event_type: str


@dataclass(frozen=True)
class Notice:
    """What to tell whom (before it is sent on a channel)."""

    recipient_role: str
    recipient: str
    subject: str
    body: str
    urgent: bool = False


@dataclass(frozen=True)
class Notification:
    """A notice as sent to one recipient on the dispatch's channel."""

    id: str
    recipient_role: str
    recipient: str
    urgent: bool
    subject: str
    body: str
    status: DeliveryStatus
    delivered_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Notified(DomainEvent):
    action: ClassVar[str] = "notify"
    event_id: str
    event_type: str
    number: str
    factory: str
    channel: Channel
    recipients: tuple[str, ...]


@dataclass
class Dispatch(Aggregate):
    """The notices one event caused, on one channel. Written once (never updated yet)."""

    entity: ClassVar[str] = "notification"

    event_id: str
    event_type: str
    number: str
    factory: str
    channel: Channel
    created_at: datetime
    notifications: tuple[Notification, ...]
    version: int = 0

    @property
    def identity(self) -> str:
        return self.event_id

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "channel": self.channel.value,
            "recipients": [n.recipient for n in self.notifications],
            "urgent": [n.recipient for n in self.notifications if n.urgent],
        }

    def to(self, recipient: str | None) -> tuple[Notification, ...]:
        """The notifications addressed to `recipient` (all of them when None)."""
        return tuple(n for n in self.notifications if recipient is None or n.recipient == recipient)

    @classmethod
    def in_app(
        cls, cause: Cause, number: str, factory: str, notices: list[Notice], *, at: datetime, reason: str
    ) -> Dispatch:
        """In-app notices: delivered when the dispatch commits."""
        channel = Channel.IN_APP
        dispatch = cls(
            event_id=cause.event_id,
            event_type=cause.event_type,
            number=number,
            factory=factory,
            channel=channel,
            created_at=at,
            notifications=tuple(
                Notification(
                    id=str(uuid.uuid5(_IDS, f"{cause.event_id}/{n.recipient}/{channel.value}")),
                    recipient_role=n.recipient_role,
                    recipient=n.recipient,
                    urgent=n.urgent,
                    subject=n.subject,
                    body=n.body,
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=at,
                )
                for n in notices
            ),
        )
        dispatch.record(
            Notified(
                at=at,
                reason=reason,
                event_id=cause.event_id,
                event_type=cause.event_type,
                number=number,
                factory=factory,
                channel=channel,
                recipients=tuple(n.recipient for n in notices),
            ),
            before=None,
        )
        return dispatch
