"""Request bodies of the steps (`POST /api/v1/investigations/{number}/{step}`) and their
translation into the domain's records. Field-level errors answer 422 before the domain sees them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cqm_shared.domain import InvalidInput
from investigation.domain.records import (
    AccidentCause,
    ActionKind,
    AffectedScope,
    Category,
    Crack,
    Disposition,
    DisputeKind,
    FishboneCategory,
    Party,
    PartyKind,
    QcFacts,
    ReplyKind,
    RuleFinding,
    ScopeKind,
    Severity,
    SpecialKind,
)

Text = Annotated[str, Field(max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(max_length=2000, description="why: kept in the case history")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


class TriageBody(_Body):
    """确认/分类 (DOMAIN.md §3.1)."""

    valid: bool = Field(description="投诉成立")
    category: Category = Field(description="quality or a non-quality kind (seed 001)")
    severity: Severity = Field(description="紧急 / 特重大 / 重大 / 较大 / 一般 (seed 000 §4.1.1)")
    our_fault: bool = Field(default=True, description="the company's product or service is at fault")
    special: SpecialKind | None = Field(default=None, description="own reply deadline (seed 001 §5.6.1, §5.8)")
    difficult: bool = Field(default=False, description="the feedback slip gets a week (seed 004 §2.4.1)")
    responsible_department: Name | None = None
    dispatch: list[Name] | None = Field(default=None, description="roles sent on site; default: the policy table")
    arrive_by: AwareDatetime | None = Field(default=None, description="on-site arrival required by customer service")
    note: Text = ""


class ScopeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ScopeKind
    quantity: int = Field(ge=0)
    note: Text = ""


class RecallBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recall: bool
    decided_by: Name = Field(description="management: who decided")
    note: Text = ""


class ContainmentBody(_Body):
    """围堵 (DOMAIN.md §3.2)."""

    scope: list[ScopeBody] = Field(min_length=1)
    dispositions: list[Disposition] = Field(min_length=1)
    actions: Text = ""
    recall: RecallBody | None = None
    production_stop: bool = False
    note: Text = ""

    def affected(self) -> tuple[AffectedScope, ...]:
        return tuple(AffectedScope(kind=s.kind, quantity=s.quantity, note=s.note) for s in self.scope)


class FishboneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: FishboneCategory
    cause: Name


class RootCauseBody(_Body):
    """原因分析 and the 8D disciplines (DOMAIN.md §3.3)."""

    occurrence_cause: Annotated[str, Field(min_length=1, max_length=4000)]
    escape_cause: Annotated[str, Field(min_length=1, max_length=4000)]
    team: list[Name] = Field(default_factory=list, description="D1")
    problem: Text = Field(default="", description="D2")
    why_chains: list[list[Name]] = Field(default_factory=list, description="5-why chains, each to a root cause")
    fishbone: list[FishboneBody] = Field(default_factory=list)
    prevention: Text = Field(default="", description="D7")


class PartyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: PartyKind
    name: Name
    share: Decimal = Field(gt=0, le=100, decimal_places=2, description="percent")
    department: Name | None = None
    role: Name | None = None

    def party(self) -> Party:
        return Party(kind=self.kind, name=self.name, share=self.share, department=self.department, role=self.role)


def _sum_to_100(parties: list[PartyBody]) -> None:
    total = sum((p.share for p in parties), Decimal(0))
    if total != 100:
        raise ValueError(f"shares must sum to exactly 100 %, got {total}")


class QcFactsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measured: bool = Field(default=False, description="经品管实测实量")
    visible_at_once: bool = Field(default=False, description="一眼可见")
    qc_log_record: bool = Field(default=False, description="质检日志有记录")
    crack: Crack = Crack.NONE

    def facts(self) -> QcFacts:
        return QcFacts(self.measured, self.visible_at_once, self.qc_log_record, self.crack)


class FindingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=40, description="a rule code, e.g. 5.2.3.1")]
    occurrences: int = Field(default=1, ge=0, le=100_000)
    pieces: int = Field(default=0, ge=0, le=10_000_000)
    party: Name | None = None
    product_stage: Literal["series", "prototype", "new_product"] = Field(
        default="series", description="样机 / 开发的新产品 are exempt from some rules"
    )
    degree: Literal["general", "serious"] = Field(default="general", description="情节一般 / 情节严重")

    def finding(self) -> RuleFinding:
        return RuleFinding(self.code, self.occurrences, self.pieces, self.party, self.product_stage, self.degree)


class ResponsibilityBody(_Body):
    """责任判定 (DOMAIN.md §3.4-§3.5)."""

    parties: list[PartyBody] = Field(min_length=1, max_length=50)
    cause_class: AccidentCause = Field(description="accident class by cause (seed 000 §4.2.2)")
    loss_amount: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, decimal_places=2, description="CNY")
    customer_may_end: bool = Field(default=False, description="the customer may end the relationship")
    reputation_severe: bool = False
    qc_facts: QcFactsBody = Field(default_factory=QcFactsBody)
    findings: list[FindingBody] = Field(default_factory=list, description="penalty rule codes with counts")
    override_reason: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("parties")
    @classmethod
    def _shares(cls, parties: list[PartyBody]) -> list[PartyBody]:
        _sum_to_100(parties)
        return parties


class DisputeBody(_Body):
    kind: DisputeKind
    department: Name
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class RulingBody(_Body):
    upheld: bool
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    parties: list[PartyBody] = Field(default_factory=list, description="the split as ruled, when it changes")

    @field_validator("parties")
    @classmethod
    def _shares(cls, parties: list[PartyBody]) -> list[PartyBody]:
        if parties:
            _sum_to_100(parties)
        return parties


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ActionKind
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    owner: Name
    due_at: AwareDatetime


class ActionsBody(_Body):
    actions: list[ActionBody] = Field(min_length=1, max_length=50)


class LotBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lot: Name
    defect_found: bool
    checked_at: AwareDatetime | None = Field(default=None, description="default: now; never in the future")


class VerificationBody(_Body):
    action_id: Annotated[str, Field(min_length=1, max_length=20)]
    lots: list[LotBody] = Field(min_length=1, max_length=100)


class StandardisationBody(_Body):
    documents: list[Name] = Field(min_length=1, max_length=100)


class ReplyBody(_Body):
    kind: ReplyKind
    content: Annotated[str, Field(min_length=1, max_length=20000)]
    channel: Annotated[str, Field(max_length=40)] = ""


class FollowUpBody(_Body):
    satisfied: bool
    accepted: bool
    note: Text = ""


class CloseBody(_Body):
    pass


class ReopenBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class OnsiteBody(_Body):
    what: Literal["arrived", "sheet_returned", "returned", "report_sent"]
    at: AwareDatetime | None = Field(default=None, description="default: now; never in the future")


class TrainingBody(_Body):
    attendees: int = Field(default=0, ge=0, le=100_000)
    note: Text = ""
    at: AwareDatetime | None = Field(default=None, description="when it was held; default now")


def not_after(moment: datetime | None, now: datetime, field: str) -> datetime:
    """A time a person reports: now when omitted, never in the future."""
    if moment is None:
        return now
    if moment > now:
        raise InvalidInput(f"{field} is in the future", field=field)
    return moment
