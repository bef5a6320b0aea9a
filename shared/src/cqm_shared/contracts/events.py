"""Typed payloads (`data`) of the event types, keyed by (type, dataversion).

Within a version only optional fields are added and consumers ignore unknown fields; a
breaking change is a new version registered beside the old one.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord, Severity
from cqm_shared.contracts.envelope import CloudEvent, EventValidationError

COMPLAINT_SUBMITTED = "complaint.submitted"
COMPLAINT_REGISTERED = "complaint.registered"
COMPLAINT_REJECTED = "complaint.rejected"
COMPLAINT_AMENDED = "complaint.amended"
COMPLAINT_WITHDRAWN = "complaint.withdrawn"
INVESTIGATION_OPENED = "investigation.opened"
INVESTIGATION_TRIAGED = "investigation.triaged"
CONTAINMENT_RECORDED = "investigation.containment_recorded"
ROOT_CAUSE_RECORDED = "investigation.root_cause_recorded"
RESPONSIBILITY_DETERMINED = "investigation.responsibility_determined"
RESPONSIBILITY_DISPUTED = "investigation.responsibility_disputed"
DISPUTE_RULED = "investigation.dispute_ruled"
ACTION_ADDED = "investigation.action_added"
ACTION_VERIFIED = "investigation.action_verified"
CUSTOMER_REPLIED = "investigation.customer_replied"
INVESTIGATION_CLOSED = "investigation.closed"
INVESTIGATION_REOPENED = "investigation.reopened"
INVESTIGATION_UPDATED = "investigation.updated"
PENALTY_ASSESSED = "penalty.assessed"
PENALTY_APPEALED = "penalty.appealed"
PENALTY_FINALIZED = "penalty.finalized"
PENALTY_PERIOD_CLOSED = "penalty.period_closed"
SLA_WARNING = "sla.warning"
SLA_BREACHED = "sla.breached"
NOTIFICATION_DELIVERED = "notification.delivered"
NOTIFICATION_FAILED = "notification.failed"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldError(_Payload):
    field: str
    message: str


class ComplaintRejected(_Payload):
    original_event_id: str
    external_ref: str | None = None
    errors: list[FieldError]


class FieldChange(_Payload):
    field: str  # dotted path, e.g. product.quantity_defective
    before: Any = None
    after: Any = None


class ComplaintAmended(_Payload):
    """A correction (划改): the changes with their original values, and the record after it."""

    number: str
    factory: str
    revision: int
    amended_at: AwareDatetime
    actor: str
    reason: str
    changes: list[FieldChange]
    record: ComplaintRecord


class ComplaintWithdrawn(_Payload):
    number: str
    factory: str
    withdrawn_at: AwareDatetime
    actor: str
    reason: str


class ComplaintCategory(StrEnum):
    """Quality vs non-quality causes (seed 001)."""

    QUALITY = "quality"
    HUMAN_FACTORS = "human_factors"
    PRICE = "price"
    SERVICE = "service"
    MAINTENANCE = "maintenance"
    LEGAL = "legal"
    HELP = "help"
    CONSULTATION = "consultation"


class Deadline(_Payload):
    """One SLA milestone of a case (DOMAIN.md §3 "Deadlines")."""

    milestone: str
    due_at: AwareDatetime
    source: str = Field(description="the regulation clause the default comes from")
    # Added within v1 (optional): absent from older producers, where every deadline was pending.
    state: str = Field(default="pending", description="pending, met or cancelled")
    round: int = Field(default=1, ge=1, description="handling round; a reopened case has round 2, 3, …")
    met_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None


class InvestigationOpened(_Payload):
    number: str
    factory: str
    state: str
    opened_at: AwareDatetime
    deadlines: list[Deadline]
    # Added within v1 (optional): the case's version after this change, which later
    # `investigation.*` events carry too, so a consumer can order them and spot a gap.
    version: int | None = Field(default=None, ge=1, description="the case's version after this change")


class CaseStatus(_Payload):
    """What every `investigation.*` event carries (added within v1, optional for older producers):
    the case's version after the change, its state and round, and its complete list of
    deadlines, so a consumer keeps the newest version and ignores an older one arriving late."""

    version: int | None = Field(default=None, ge=1, description="the case's version after this change")
    state: str | None = Field(default=None, description="the case's state after this change")
    round: int = Field(default=1, ge=1, description="handling round (2, 3, … after a reopening)")
    deadlines: list[Deadline] = Field(default_factory=list, description="every deadline of the case")
    actor: str | None = None
    reason: str = ""


class InvestigationTriaged(CaseStatus):
    """Triage (确认/分类, DOMAIN.md §3.1): validity, category, severity."""

    number: str
    factory: str
    triaged_at: AwareDatetime
    valid: bool
    category: ComplaintCategory
    severity: Severity
    our_fault: bool = True
    special: str | None = Field(default=None, description="process_abnormality or hazardous_substance")
    responsible_department: str | None = None
    dispatch: list[str] = Field(default_factory=list, description="roles sent on site (seed 000 §4.1.1)")
    ends_investigation: bool = Field(default=False, description="not valid / not quality / not ours: reply, close")


class PartyKind(StrEnum):
    DEPARTMENT = "department"
    PERSON = "person"
    ROLE = "role"
    SUPPLIER = "supplier"


class AccidentClass(StrEnum):
    """Accident classification by cause (seed 000 §4.2.2)."""

    TECHNICAL_MAJOR = "technical_major"
    TECHNICAL_GENERAL = "technical_general"
    MANAGEMENT_MAJOR = "management_major"
    MANAGEMENT_GENERAL = "management_general"
    COMMUNICATION = "communication"


class ResponsibleParty(_Payload):
    kind: PartyKind
    name: Annotated[str, Field(min_length=1, max_length=200)]
    department: str | None = None
    role: str | None = None
    share: Annotated[Decimal, Field(gt=0, le=100, description="percent")]


class RuleFinding(_Payload):
    """A cause code of the factory's penalty rule table with its counts (DOMAIN.md §4)."""

    code: Annotated[str, Field(min_length=1, max_length=40, description="e.g. 5.2.3.1")]
    occurrences: int = Field(default=1, ge=0)
    pieces: int = Field(default=0, ge=0)
    party: str | None = Field(default=None, description="the party it concerns, when not all of them")
    # Added within v1 (optional):
    product_stage: str = Field(default="series", description="series, prototype or new_product (exemptions)")
    degree: str = Field(default="general", description="general or serious (情节严重)")


class ResponsibilityDetermined(CaseStatus):
    """Responsibility (责任判定): parties with shares summing to 100 % (DOMAIN.md §3.5).

    A newer `determination` of the same case supersedes an older one (a ruling that changes the
    parties publishes the next); a consumer keeps the highest.
    """

    number: str
    factory: str
    determined_at: AwareDatetime
    accident_class: AccidentClass
    loss_amount: Annotated[Decimal, Field(ge=0, description="CNY")] = Decimal("0")
    parties: list[ResponsibleParty] = Field(min_length=1)
    rule_codes: list[str] = Field(default_factory=list)
    # Added within v1 (optional):
    determination: int = Field(default=1, ge=1, description="sequence of this determination in the case")
    supersedes: int | None = Field(default=None, description="the determination this one replaces")
    loss_class: str | None = Field(default=None, description="extraordinary, major, serious or general (§5.2)")
    findings: list[RuleFinding] = Field(default_factory=list, description="rule codes with occurrence/piece counts")
    charge_back: bool = Field(default=False, description="a supplier share: its losses are charged back")
    dispute_window_ends_at: AwareDatetime | None = None
    split_situation: str | None = Field(default=None, description="the default split rule that proposed shares")
    override_reason: str | None = None

    @model_validator(mode="after")
    def _shares_sum_to_100(self) -> Self:
        total = sum((p.share for p in self.parties), Decimal("0"))
        if total != Decimal("100"):
            raise ValueError(f"party shares must sum to 100, got {total}")
        return self


class AffectedScope(_Payload):
    kind: str = Field(description="shipped, wip or warehouse")
    quantity: int = Field(ge=0)
    note: str = ""


class ContainmentRecorded(CaseStatus):
    """Containment (围堵, DOMAIN.md §3.2): scope and disposition."""

    number: str
    factory: str
    recorded_at: AwareDatetime
    scope: list[AffectedScope]
    dispositions: list[str] = Field(description="rework, concession, scrap, return, exchange, sorting")
    recall: bool | None = Field(default=None, description="management's recall decision for shipped goods")
    production_stop: bool = False


class RootCauseRecorded(CaseStatus):
    """Root cause (原因分析, DOMAIN.md §3.3): occurrence and escape cause."""

    number: str
    factory: str
    recorded_at: AwareDatetime
    occurrence_cause: str
    escape_cause: str


class ResponsibilityDisputed(CaseStatus):
    """异议 (seed 000 §4.3.3.2.3): an objection or a market-cause claim within the window."""

    number: str
    factory: str
    disputed_at: AwareDatetime
    kind: str = Field(description="objection or market_cause")
    department: str
    against: int = Field(ge=1, description="the determination disputed")


class DisputeRuled(CaseStatus):
    """Production operations' final ruling; a changed split follows as a new determination."""

    number: str
    factory: str
    ruled_at: AwareDatetime
    kind: str = Field(description="objection or market_cause")
    upheld: bool
    department: str | None = Field(default=None, description="the department that disputed")
    determination: int | None = Field(default=None, description="the determination the ruling created")
    responsibility_cleared: bool = Field(default=False, description="market cause accepted: nobody is responsible")


class CorrectiveAction(_Payload):
    id: str
    kind: str = Field(description="temporary or permanent")
    description: str
    owner: str
    due_at: AwareDatetime


class ActionAdded(CaseStatus):
    """CAPA items (纠正预防措施) with owner and due date."""

    number: str
    factory: str
    added_at: AwareDatetime
    actions: list[CorrectiveAction] = Field(min_length=1)


class LotResult(_Payload):
    lot: str
    defect_found: bool
    checked_at: AwareDatetime


class ActionVerified(CaseStatus):
    """An effectiveness check lot by lot; `verified` once N consecutive lots were clean."""

    number: str
    factory: str
    action_id: str
    checked_at: AwareDatetime
    lots: list[LotResult]
    clean_lots: int = Field(ge=0, description="consecutive lots without the defect, from the latest")
    clean_lots_required: int = Field(ge=1)
    verified: bool


class CustomerReplied(CaseStatus):
    number: str
    factory: str
    replied_at: AwareDatetime
    kind: str = Field(description="preliminary or final")


class InvestigationClosed(CaseStatus):
    number: str
    factory: str
    closed_at: AwareDatetime
    outcome: str = Field(description="resolved, not_valid, non_quality, not_our_fault, market_cause or withdrawn")


class InvestigationReopened(CaseStatus):
    number: str
    factory: str
    reopened_at: AwareDatetime


class InvestigationUpdated(CaseStatus):
    """Any other recorded change of a case (on site, training, standardisation, follow-up, a
    corrected complaint): its new version and deadlines."""

    number: str
    factory: str
    updated_at: AwareDatetime
    step: str = Field(description="onsite, training, standardisation, follow_up or amend")
    detail: dict[str, Any] = Field(default_factory=dict)


class PenaltyPayee(_Payload):
    kind: str = Field(description="person, department, supplier, or role when the directory cannot resolve it")
    id: str
    name: str


class PenaltyLine(_Payload):
    """One line item (考核明细): who, under which rule, on what basis, how much."""

    position: int = Field(ge=0)
    rule_code: str = Field(description="the clause, e.g. 5.2.6, 4.3.3.2, 002-2.6, or charge_back")
    kind: str = Field(description="fine, points, charge_back, exempt or commission_cancelled")
    role: str = Field(description="the rule's payer role, e.g. department_head")
    payee: PenaltyPayee
    department: str | None = None
    party: str | None = Field(default=None, description="the responsible party the line derives from")
    basis: str = Field(description="how it was computed, e.g. '3 piece(s) × 50'")
    amount: Decimal = Field(description="CNY; charge-backs are outside the internal ledger")
    points: Decimal = Decimal(0)
    points_ledger: str | None = Field(default=None, description="performance (绩效分) or management (管理分)")
    unresolved: bool = Field(default=False, description="addressed to a role: HR resolves the person")
    illustrative: bool = Field(default=False, description="computed from illustrative coefficients")
    original_amount: Decimal | None = Field(default=None, description="before an appeal decision changed it")


class PenaltyAppeal(_Payload):
    by: str
    at: AwareDatetime
    reason: str
    lines: list[int] = Field(default_factory=list, description="contested line positions; empty: all")
    decided_by: str | None = None
    decided_at: AwareDatetime | None = None
    upheld: bool | None = None
    decision: str | None = None


class PenaltyAssessment(_Payload):
    """An assessment with its line items: the data of `penalty.assessed`, `.appealed`, `.finalized`."""

    assessment_id: str
    number: str
    factory: str
    status: str = Field(description="draft, appealed, approved, superseded or void")
    version: int = Field(ge=1)
    basis: str = Field(description="determination or breach")
    determination: int | None = Field(default=None, description="the determination assessed (investigation's)")
    milestone: str | None = Field(default=None, description="the breached milestone, for a process penalty")
    period: str = Field(description="the ledger month yyyy-mm it counts in")
    adjustment: bool = Field(default=False, description="landed in a later period: its own was closed")
    policy_version: str = Field(description="rule table version and policy digest used")
    currency: str = "CNY"
    lines: list[PenaltyLine]
    total: Decimal = Field(description="sum of the fines (money), charge-backs excluded")
    charge_backs: Decimal = Decimal(0)
    illustrative: bool = Field(default=False, description="some line uses illustrative coefficients")
    warnings: list[str] = Field(default_factory=list)
    supersedes: list[str] = Field(default_factory=list, description="assessments this one replaces")
    appeal: PenaltyAppeal | None = None
    approved_by: str | None = None
    approved_at: AwareDatetime | None = None
    deadlines: list[Deadline] = Field(default_factory=list, description="the monthly cycle (seed 000 §4.2.2)")
    actor: str | None = None
    reason: str = ""


class PeriodDepartmentTotals(_Payload):
    fines: Decimal
    performance_points: Decimal
    management_points: Decimal
    lines: int


class PenaltyPeriodClosed(_Payload):
    """A factory's monthly ledger closed: immutable from now on; corrections land in the next."""

    factory: str
    period: str
    closed_at: AwareDatetime
    closed_by: str
    compensation: Decimal
    fines: Decimal
    charge_backs: Decimal
    cost_of_poor_quality: Decimal
    performance_points: Decimal
    management_points: Decimal
    unresolved_lines: int = 0
    departments: dict[str, PeriodDepartmentTotals] = Field(default_factory=dict)


class SlaEvent(_Payload):
    """`sla.warning` / `sla.breached`: a milestone about to be / past due, with escalation level."""

    number: str | None = Field(default=None, description="the complaint, when the milestone is a case's")
    factory: str
    milestone: str
    round: int = Field(default=1, ge=1)
    due_at: AwareDatetime
    at: AwareDatetime = Field(description="when the warning or breach was raised")
    level: int = Field(
        default=0, ge=0, description="escalation level: 0 the owner, 1 department head, 2 director, 3 GM"
    )
    source: str = Field(default="", description="the clause the deadline comes from")
    department: str | None = Field(default=None, description="the responsible department, when known")
    producer: str | None = Field(default=None, description="the service whose deadline it is")


class NotificationDelivery(_Payload):
    """`notification.delivered` / `notification.failed`: one entry of the delivery log."""

    id: str = Field(description="the delivery's id (stable across retries)")
    number: str = Field(description="the complaint, or ledger/<factory>/<yyyy-mm> for a closed ledger")
    factory: str
    cause_id: str = Field(description="the id of the event (or the deadline timer) the notice answers")
    cause_type: str
    recipient_role: str
    recipient: str = Field(description="a person id, or a shared inbox such as role:hr, robot:<name>, webhook:<name>")
    channel: str = Field(description="in_app, email, wecom, dingtalk, feishu or webhook")
    status: str = Field(description="delivered or failed")
    attempts: int = Field(ge=0)
    urgent: bool = False
    at: AwareDatetime
    error: str | None = Field(default=None, description="the last error, for a failed delivery")


M = TypeVar("M", bound=BaseModel)

EVENT_PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {
    (COMPLAINT_SUBMITTED, 1): ComplaintForm,
    (COMPLAINT_REGISTERED, 1): ComplaintRecord,
    (COMPLAINT_REJECTED, 1): ComplaintRejected,
    (COMPLAINT_AMENDED, 1): ComplaintAmended,
    (COMPLAINT_WITHDRAWN, 1): ComplaintWithdrawn,
    (INVESTIGATION_TRIAGED, 1): InvestigationTriaged,
    (INVESTIGATION_OPENED, 1): InvestigationOpened,
    (RESPONSIBILITY_DETERMINED, 1): ResponsibilityDetermined,
    (CONTAINMENT_RECORDED, 1): ContainmentRecorded,
    (ROOT_CAUSE_RECORDED, 1): RootCauseRecorded,
    (RESPONSIBILITY_DISPUTED, 1): ResponsibilityDisputed,
    (DISPUTE_RULED, 1): DisputeRuled,
    (ACTION_ADDED, 1): ActionAdded,
    (ACTION_VERIFIED, 1): ActionVerified,
    (CUSTOMER_REPLIED, 1): CustomerReplied,
    (INVESTIGATION_CLOSED, 1): InvestigationClosed,
    (INVESTIGATION_REOPENED, 1): InvestigationReopened,
    (INVESTIGATION_UPDATED, 1): InvestigationUpdated,
    (PENALTY_ASSESSED, 1): PenaltyAssessment,
    (PENALTY_APPEALED, 1): PenaltyAssessment,
    (PENALTY_FINALIZED, 1): PenaltyAssessment,
    (PENALTY_PERIOD_CLOSED, 1): PenaltyPeriodClosed,
    (SLA_WARNING, 1): SlaEvent,
    (SLA_BREACHED, 1): SlaEvent,
    (NOTIFICATION_DELIVERED, 1): NotificationDelivery,
    (NOTIFICATION_FAILED, 1): NotificationDelivery,
}


def payload_model(event_type: str, version: int) -> type[BaseModel]:
    try:
        return EVENT_PAYLOADS[(event_type, version)]
    except KeyError:
        raise EventValidationError(f"unsupported event type/version: {event_type} v{version}") from None


def parse_payload(event: CloudEvent, model: type[M]) -> M:
    """Validate `event.data` as `model`, checking the event carries that schema version."""
    expected = payload_model(event.type, event.dataversion)
    if expected is not model:
        raise EventValidationError(f"{event.type} v{event.dataversion} is not handled here (expected {model.__name__})")
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        details = "; ".join(f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise EventValidationError(details) from exc
