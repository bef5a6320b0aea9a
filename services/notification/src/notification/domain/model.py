"""Notifications (通知). Pure: no I/O.

A `Dispatch` is what one consumed event (or one fired deadline timer) made notification
send: a `Delivery` per recipient and channel (domain/deliveries.py). An in-app notice is
delivered when its dispatch commits (the stored row is the delivery); the other channels are
sent by the delivery worker. Every dispatch is audited: who, the recipients, the channels,
and why (the event's type and id).

What notification reads of other services' events is kept in its own terms
(`ComplaintSummary`, `CaseOpened`, `CaseTriaged`, …): only what its messages say, translated
from the public payloads at the edge (entrypoints/consumers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent
from notification.domain.deliveries import Delivery, DeliveryFacts, DeliveryStatus
from notification.domain.policy import RouteRule


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
    """What to tell whom (before it is rendered and sent on a channel).

    `template` and `context` say what to tell; the text is rendered per recipient locale
    (templates/<locale>/<template>.txt.j2). `rule` is the route rule that chose the recipient:
    it names the channels.
    """

    recipient_role: str
    recipient: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    urgent: bool = False
    rule: RouteRule | None = None


@dataclass(frozen=True, kw_only=True)
class Notified(DomainEvent):
    action: ClassVar[str] = "notify"
    event_id: str
    event_type: str
    number: str
    factory: str
    recipients: tuple[str, ...]
    delivered: tuple[DeliveryFacts, ...]  # the in-app notices, delivered as they are written


@dataclass
class Dispatch(Aggregate):
    """The notices one event (or one fired timer) caused: a delivery per recipient and channel.
    Written once; each delivery then lives on as its own aggregate (`Delivery`)."""

    entity: ClassVar[str] = "notification"

    event_id: str
    event_type: str
    number: str
    factory: str
    created_at: datetime
    deliveries: tuple[Delivery, ...]
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
            "deliveries": [f"{d.recipient} ({d.channel.value})" for d in self.deliveries],
            "urgent": sorted({d.recipient for d in self.deliveries if d.urgent}),
        }

    def to(self, recipient: str | None) -> tuple[Delivery, ...]:
        """The deliveries addressed to `recipient` (all of them when None)."""
        return tuple(d for d in self.deliveries if recipient is None or d.recipient == recipient)

    @classmethod
    def of(
        cls, cause: Cause, number: str, factory: str, deliveries: list[Delivery], *, at: datetime, reason: str
    ) -> Dispatch:
        dispatch = cls(
            event_id=cause.event_id,
            event_type=cause.event_type,
            number=number,
            factory=factory,
            created_at=at,
            deliveries=tuple(deliveries),
        )
        dispatch.record(
            Notified(
                at=at,
                reason=reason,
                event_id=cause.event_id,
                event_type=cause.event_type,
                number=number,
                factory=factory,
                recipients=tuple(dict.fromkeys(d.recipient for d in deliveries)),
                delivered=tuple(d.facts() for d in deliveries if d.status is DeliveryStatus.DELIVERED),
            ),
            before=None,
        )
        return dispatch
