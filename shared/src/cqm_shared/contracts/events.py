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
RESPONSIBILITY_DETERMINED = "investigation.responsibility_determined"


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


class InvestigationTriaged(_Payload):
    """Triage (确认/分类, DOMAIN.md §3.1): validity, category, severity."""

    number: str
    factory: str
    triaged_at: AwareDatetime
    valid: bool
    category: ComplaintCategory
    severity: Severity
    actor: str | None = None


class Deadline(_Payload):
    """One SLA milestone of a case (DOMAIN.md §3 "Deadlines")."""

    milestone: str
    due_at: AwareDatetime
    source: str = Field(description="the regulation clause the default comes from")
    # Added within v1 (optional): absent from older producers, where every deadline was pending.
    state: str = Field(default="pending", description="pending, met or cancelled")


class InvestigationOpened(_Payload):
    number: str
    factory: str
    state: str
    opened_at: AwareDatetime
    deadlines: list[Deadline]
    # Added within v1 (optional): the case's version after this change, which later
    # `investigation.*` events carry too, so a consumer can order them and spot a gap.
    version: int | None = Field(default=None, ge=1, description="the case's version after this change")


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


class ResponsibilityDetermined(_Payload):
    """Responsibility (责任判定): parties with shares summing to 100 % (DOMAIN.md §3.5)."""

    number: str
    factory: str
    determined_at: AwareDatetime
    accident_class: AccidentClass
    loss_amount: Annotated[Decimal, Field(ge=0, description="CNY")] = Decimal("0")
    parties: list[ResponsibleParty] = Field(min_length=1)
    rule_codes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shares_sum_to_100(self) -> Self:
        total = sum((p.share for p in self.parties), Decimal("0"))
        if total != Decimal("100"):
            raise ValueError(f"party shares must sum to 100, got {total}")
        return self


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
