"""Domain events of penalty -> the public events it publishes (CONTRACT.md event table).

Every `penalty.assessed` / `.appealed` / `.finalized` carries the whole assessment (status,
version, line items, totals, appeal, the monthly cycle's deadlines), so HR and finance
reconcile idempotently whatever order the events arrive in: a recomputation after an appeal
decision and a voided assessment are `penalty.assessed` again, with their new status. A
superseded assessment publishes nothing of its own: the assessment replacing it lists it in
`supersedes`. A closed month publishes `penalty.period_closed` with its totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent
from penalty.domain.ledger import CycleDeadline, PeriodClosed
from penalty.domain.model import (
    AppealDecided,
    Appealed,
    Assessed,
    Assessment,
    AssessmentEvent,
    Finalized,
    Voided,
)
from penalty.domain.terms import LineItem, LineKind


def deadline(d: CycleDeadline) -> public.Deadline:
    return public.Deadline(
        milestone=d.milestone.value,
        due_at=d.due_at,
        source=d.source,
        state=d.state,
        round=1,
        met_at=d.met_at,
        cancelled_at=d.cancelled_at,
    )


def line(position: int, x: LineItem) -> public.PenaltyLine:
    return public.PenaltyLine(
        position=position,
        rule_code=x.rule_code,
        kind=x.kind.value,
        role=x.role,
        payee=public.PenaltyPayee(kind=x.payee.kind.value, id=x.payee.id, name=x.payee.name),
        department=x.department,
        party=x.party,
        basis=x.basis,
        amount=x.amount,
        points=x.points,
        points_ledger=x.points_ledger,
        unresolved=x.unresolved,
        illustrative=x.illustrative,
        original_amount=x.original_amount,
    )


def _appeal(a: Assessment) -> public.PenaltyAppeal | None:
    if a.appeal is None:
        return None
    decision = a.decision
    return public.PenaltyAppeal(
        by=a.appeal.by,
        at=a.appeal.at,
        reason=a.appeal.reason,
        lines=list(a.appeal.lines),
        decided_by=decision.by if decision else None,
        decided_at=decision.at if decision else None,
        upheld=decision.upheld if decision else None,
        decision=decision.reason if decision else None,
    )


def assessment(event: AssessmentEvent) -> public.PenaltyAssessment:
    a = event.assessment
    return public.PenaltyAssessment(
        assessment_id=a.id,
        number=a.number,
        factory=a.factory,
        status=a.status.value,
        version=a.version,
        basis="determination" if a.determination is not None else "breach",
        determination=a.sequence if a.determination is not None else None,
        milestone=a.breach.milestone if a.breach is not None else None,
        period=a.period,
        adjustment=a.adjustment,
        policy_version=a.policy_version,
        lines=[line(i, x) for i, x in enumerate(a.lines)],
        total=a.total,
        charge_backs=sum((x.amount for x in a.lines if x.kind is LineKind.CHARGE_BACK), Decimal(0)),
        illustrative=a.illustrative,
        warnings=list(a.warnings),
        supersedes=list(event.supersedes) if isinstance(event, Assessed) else [],
        appeal=_appeal(a),
        approved_by=a.approved_by,
        approved_at=a.approved_at,
        deadlines=[deadline(d) for d in a.deadlines],
        actor=event.actor,
        reason=event.reason,
    )


def period_closed(event: PeriodClosed) -> public.PenaltyPeriodClosed:
    totals = event.totals
    return public.PenaltyPeriodClosed(
        factory=event.factory,
        period=event.period,
        closed_at=event.at,
        closed_by=event.actor or "",
        compensation=Decimal(totals["compensation"]),
        fines=Decimal(totals["fines"]),
        charge_backs=Decimal(totals["charge_backs"]),
        cost_of_poor_quality=Decimal(totals["cost_of_poor_quality"]),
        performance_points=Decimal(totals["performance_points"]),
        management_points=Decimal(totals["management_points"]),
        unresolved_lines=int(totals.get("unresolved_lines", 0)),
        departments={
            name: public.PeriodDepartmentTotals(
                fines=Decimal(str(t["fines"])),
                performance_points=Decimal(str(t["performance_points"])),
                management_points=Decimal(str(t["management_points"])),
                lines=int(t["lines"]),
            )
            for name, t in event.departments.items()
        },
    )


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    match event:
        case Assessed() | AppealDecided() | Voided():
            return (
                PublicEvent(
                    public.PENALTY_ASSESSED, event.assessment.factory, event.assessment.number, assessment(event)
                ),
            )
        case Appealed():
            return (
                PublicEvent(
                    public.PENALTY_APPEALED, event.assessment.factory, event.assessment.number, assessment(event)
                ),
            )
        case Finalized():
            return (
                PublicEvent(
                    public.PENALTY_FINALIZED, event.assessment.factory, event.assessment.number, assessment(event)
                ),
            )
        case PeriodClosed():
            return (PublicEvent(public.PENALTY_PERIOD_CLOSED, event.factory, None, period_closed(event)),)
    return ()  # Superseded: audited only


# Every type penalty publishes, with its payload model (the runtime documents them).
PUBLISHES: dict[str, type[BaseModel]] = {
    public.PENALTY_ASSESSED: public.PenaltyAssessment,
    public.PENALTY_APPEALED: public.PenaltyAssessment,
    public.PENALTY_FINALIZED: public.PenaltyAssessment,
    public.PENALTY_PERIOD_CLOSED: public.PenaltyPeriodClosed,
}
