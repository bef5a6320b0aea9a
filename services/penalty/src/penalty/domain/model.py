"""Penalty assessments (考核): the aggregate that owns their workflow. Pure: no I/O.

draft → (appeal to the GM → decision → draft) → approved (finalized: to HR and finance).
A newer determination of the same case supersedes the older assessment; a ruling that clears
responsibility voids it. Every transition records a domain event the unit of work turns into
an audit row and, where public, a `penalty.*` event carrying the whole assessment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent, InvalidInput, InvalidTransition
from penalty.domain.ledger import CycleDeadline, CycleMilestone
from penalty.domain.terms import Breach, Computation, Determination, LineItem, LineKind

# Re-exported: the consumers and adapters build these from public events and rows.
__all__ = ["Appeal", "AppealDecision", "Assessment", "AssessmentStatus", "Breach", "Determination"]


class AssessmentStatus(StrEnum):
    DRAFT = "draft"  # line items computed, pending approval
    APPEALED = "appealed"  # 申诉: waiting for the GM's decision
    APPROVED = "approved"  # finalized: published to HR and finance
    SUPERSEDED = "superseded"  # a newer determination of the case replaced it
    VOID = "void"  # the ruling cleared responsibility (market cause)


COUNTED = frozenset({AssessmentStatus.DRAFT, AssessmentStatus.APPEALED, AssessmentStatus.APPROVED})
PENDING = frozenset({AssessmentStatus.DRAFT, AssessmentStatus.APPEALED})


@dataclass(frozen=True)
class Appeal:
    by: str
    at: dt.datetime
    reason: str
    lines: tuple[int, ...]  # positions of the contested lines; empty: the whole assessment


@dataclass(frozen=True)
class AppealDecision:
    by: str
    at: dt.datetime
    upheld: bool  # the appeal succeeded (amounts changed)
    reason: str
    amounts: dict[int, Decimal] = field(default_factory=dict)  # line position -> decided amount


@dataclass(frozen=True, kw_only=True)
class AssessmentEvent(DomainEvent):
    assessment: Assessment


@dataclass(frozen=True, kw_only=True)
class Assessed(AssessmentEvent):
    """Draft line items computed (or recomputed after an appeal decision): `penalty.assessed`."""

    action: ClassVar[str] = "assess"
    supersedes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Superseded(AssessmentEvent):
    action: ClassVar[str] = "supersede"
    by_assessment: str


@dataclass(frozen=True, kw_only=True)
class Voided(AssessmentEvent):
    action: ClassVar[str] = "void"


@dataclass(frozen=True, kw_only=True)
class Appealed(AssessmentEvent):
    action: ClassVar[str] = "appeal"


@dataclass(frozen=True, kw_only=True)
class AppealDecided(AssessmentEvent):
    action: ClassVar[str] = "decide_appeal"


@dataclass(frozen=True, kw_only=True)
class Finalized(AssessmentEvent):
    action: ClassVar[str] = "approve"


@dataclass
class Assessment(Aggregate):
    entity: ClassVar[str] = "assessment"

    id: str
    number: str
    factory: str
    status: AssessmentStatus
    period: str  # yyyy-mm of the ledger it counts in
    policy_version: str  # the rule table version (and file digest) it was computed with
    lines: tuple[LineItem, ...]
    warnings: tuple[str, ...]
    deadlines: tuple[CycleDeadline, ...]
    received_at: dt.datetime
    determination: Determination | None = None
    breach: Breach | None = None
    adjustment: bool = False  # landed in a later period because its own was closed
    reversal_period: str | None = None  # superseded after its period closed: reversed there
    superseded_by: str | None = None
    appeal: Appeal | None = None
    decision: AppealDecision | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    version: int = 0

    @property
    def identity(self) -> str:
        return self.id

    @property
    def audit_id(self) -> str:
        return self.number

    @property
    def sequence(self) -> int:
        return self.determination.sequence if self.determination else 0

    @property
    def illustrative(self) -> bool:
        return any(line.illustrative for line in self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind is LineKind.FINE), Decimal(0))

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "period": self.period,
            "policy_version": self.policy_version,
            "total": str(self.total),
            "lines": [
                {"rule": x.rule_code, "payee": x.payee.id, "amount": str(x.amount), "points": str(x.points)}
                for x in self.lines
            ],
        }

    # -- creation ----------------------------------------------------------------------------

    @classmethod
    def assess(
        cls,
        assessment_id: str,
        computation: Computation,
        *,
        determination: Determination | None = None,
        breach: Breach | None = None,
        period: str,
        adjustment: bool,
        deadlines: tuple[CycleDeadline, ...],
        policy_digest: str,
        at: dt.datetime,
        reason: str,
        supersedes: tuple[str, ...] = (),
        superseded_by: str | None = None,
    ) -> Assessment:
        subject = determination or breach
        assert subject is not None, "an assessment is for a determination or a breach"
        summary = tuple(d.met(at) if d.milestone is CycleMilestone.SUMMARY else d for d in deadlines)
        late = superseded_by is not None  # an older determination arriving after a newer one
        assessment = cls(
            id=assessment_id,
            number=subject.number,
            factory=subject.factory,
            status=AssessmentStatus.SUPERSEDED if late else AssessmentStatus.DRAFT,
            period=period,
            policy_version=f"{computation.table_version}#{policy_digest}",
            lines=computation.lines,
            warnings=computation.warnings,
            deadlines=tuple(d.cancelled(at) for d in summary) if late else summary,
            received_at=at,
            superseded_by=superseded_by,
            determination=determination,
            breach=breach,
            adjustment=adjustment,
        )
        assessment.record(Assessed(at=at, reason=reason, assessment=assessment, supersedes=supersedes), before=None)
        return assessment

    # -- transitions -------------------------------------------------------------------------

    def _refuse(self, action: str, why: str) -> InvalidTransition:
        return InvalidTransition(self.entity, self.id, self.status.value, action, why)

    def _end(self, at: dt.datetime) -> tuple[CycleDeadline, ...]:
        return tuple(d.cancelled(at) for d in self.deadlines)

    def supersede(self, by: str, *, reversal_period: str | None, at: dt.datetime, reason: str) -> None:
        """A newer determination replaced this one; a counted closed period gets its reversal."""
        if self.status not in COUNTED:
            return
        before = self.snapshot()
        self.status = AssessmentStatus.SUPERSEDED
        self.superseded_by = by
        self.reversal_period = reversal_period
        self.deadlines = self._end(at)
        self.record(Superseded(at=at, reason=reason, assessment=self, by_assessment=by), before=before)

    def void(self, *, reversal_period: str | None, at: dt.datetime, reason: str) -> None:
        """Responsibility cleared by the ruling (market cause accepted): nothing is owed."""
        if self.status not in COUNTED:
            return
        before = self.snapshot()
        self.status = AssessmentStatus.VOID
        self.reversal_period = reversal_period
        self.deadlines = self._end(at)
        self.record(Voided(at=at, reason=reason, assessment=self), before=before)

    def file_appeal(self, *, by: str, lines: tuple[int, ...], at: dt.datetime, reason: str) -> None:
        """申诉 to the GM (seed 002 篇二 §四.9): once, while the assessment is a draft."""
        if self.status is not AssessmentStatus.DRAFT:
            raise self._refuse("appeal", "only a draft can be appealed")
        if self.decision is not None:
            raise self._refuse("appeal", "the appeal was decided already; the decision is final")
        if not reason.strip():
            raise InvalidInput("an appeal needs its reason", field="reason")
        unknown = [i for i in lines if not 0 <= i < len(self.lines)]
        if unknown:
            raise InvalidInput(f"no line at position(s) {unknown}", field="lines")
        before = self.snapshot()
        self.status = AssessmentStatus.APPEALED
        self.appeal = Appeal(by, at, reason, tuple(sorted(set(lines))))
        self.deadlines = self._met(CycleMilestone.WORKSHOP_PROPOSAL, at)
        self.record(Appealed(at=at, reason=reason, assessment=self, actor=by), before=before)

    def decide_appeal(
        self, *, by: str, upheld: bool, amounts: dict[int, Decimal], at: dt.datetime, reason: str
    ) -> None:
        """The GM's decision: dismissed (lines unchanged) or upheld with the decided amounts."""
        if self.status is not AssessmentStatus.APPEALED or self.appeal is None:
            raise self._refuse("decide_appeal", "there is no pending appeal")
        if not upheld and amounts:
            raise InvalidInput("a dismissed appeal changes no amount", field="amounts")
        if upheld and not amounts:
            raise InvalidInput("an upheld appeal names the decided amount of each line it changes", field="amounts")
        for position, amount in amounts.items():
            if not 0 <= position < len(self.lines):
                raise InvalidInput(f"no line at position {position}", field="amounts")
            line = self.lines[position]
            if line.kind is not LineKind.FINE:
                raise InvalidInput(f"line {position} is not a fine", field="amounts")
            if amount < 0 or amount > line.amount:
                raise InvalidInput(f"line {position}: the decided amount is within 0..{line.amount}", field="amounts")
            if amount != amount.quantize(Decimal("0.01")):
                raise InvalidInput(f"line {position}: the decided amount is to the fen (0.01)", field="amounts")
        before = self.snapshot()
        self.lines = tuple(
            replace(line, amount=amounts[i], original_amount=line.amount) if i in amounts else line
            for i, line in enumerate(self.lines)
        )
        self.decision = AppealDecision(by, at, upheld, reason, dict(amounts))
        self.status = AssessmentStatus.DRAFT
        self.record(AppealDecided(at=at, reason=reason, assessment=self, actor=by), before=before)

    def approve(self, *, by: str, at: dt.datetime, reason: str) -> None:
        """Production operations approves (生产运营部签准): final, published to HR and finance."""
        if self.status is AssessmentStatus.APPEALED:
            raise self._refuse("approve", "the appeal is pending: the GM decides it first")
        if self.status is not AssessmentStatus.DRAFT:
            raise self._refuse("approve", "only a draft can be approved")
        before = self.snapshot()
        self.status = AssessmentStatus.APPROVED
        self.approved_by = by
        self.approved_at = at
        self.deadlines = self._met(CycleMilestone.APPROVAL, at, also=CycleMilestone.WORKSHOP_PROPOSAL)
        self.record(Finalized(at=at, reason=reason, assessment=self, actor=by), before=before)

    def _met(
        self, milestone: CycleMilestone, at: dt.datetime, also: CycleMilestone | None = None
    ) -> tuple[CycleDeadline, ...]:
        return tuple(d.met(at) if d.milestone in (milestone, also) else d for d in self.deadlines)

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    def allowed_actions(self) -> list[str]:
        if self.status is AssessmentStatus.DRAFT:
            return ["approve"] if self.decision is not None else ["appeal", "approve"]
        if self.status is AssessmentStatus.APPEALED:
            return ["decide_appeal"]
        return []
