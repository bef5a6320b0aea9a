"""What notification consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    ACTION_ADDED,
    ACTION_VERIFIED,
    COMPLAINT_REGISTERED,
    CONTAINMENT_RECORDED,
    CUSTOMER_REPLIED,
    DISPUTE_RULED,
    INVESTIGATION_CLOSED,
    INVESTIGATION_OPENED,
    INVESTIGATION_REOPENED,
    INVESTIGATION_TRIAGED,
    INVESTIGATION_UPDATED,
    PENALTY_APPEALED,
    PENALTY_ASSESSED,
    PENALTY_FINALIZED,
    PENALTY_PERIOD_CLOSED,
    RESPONSIBILITY_DETERMINED,
    RESPONSIBILITY_DISPUTED,
    ROOT_CAUSE_RECORDED,
    CaseStatus,
    InvestigationOpened,
)
from cqm_shared.messaging.consumer import Handles, Message, Subscription
from notification.domain.model import (
    AppealState,
    CaseOpened,
    CaseProgress,
    CaseTriaged,
    Cause,
    ComplaintSummary,
    Deadline,
    DepartmentTotals,
    DisputeFiled,
    DisputeRuling,
    PenaltyItem,
    PenaltyNotice,
    PenaltyStage,
    PeriodClosed,
    ResponsibilityAssigned,
    Share,
    Step,
)
from notification.domain.timers import DeadlineFact
from notification.service.handlers import (
    DeadlineUpdate,
    Notifying,
    notify_disputed,
    notify_opened,
    notify_penalty,
    notify_period_closed,
    notify_progress,
    notify_registered,
    notify_responsibility,
    notify_ruled,
    notify_triaged,
    track_deadlines,
)
from notification.service.unit_of_work import NotificationUnitOfWork

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class UseCase(Protocol[T_contra]):
    def __call__(
        self,
        uow: NotificationUnitOfWork,
        cause: Cause,
        about: T_contra,
        notifying: Notifying,
        /,
        *,
        why: str,
        deadlines: DeadlineUpdate | None = None,
    ) -> Awaitable[None]: ...


def _facts(deadlines: Iterable[public.Deadline]) -> tuple[DeadlineFact, ...]:
    return tuple(
        DeadlineFact(milestone=d.milestone, due_at=d.due_at, state=d.state, round=d.round, source=d.source)
        for d in deadlines
    )


def case_deadlines(payload: CaseStatus | InvestigationOpened) -> DeadlineUpdate:
    """The deadlines every `investigation.*` event carries, at the case's version."""
    number: str = getattr(payload, "number", "")
    factory: str = getattr(payload, "factory", "")
    department = getattr(payload, "responsible_department", None)
    if department is None and isinstance(payload, public.ResponsibilityDetermined):
        department = next((p.department or p.name for p in payload.parties if p.kind.value == "department"), None)
    return DeadlineUpdate(
        key=f"case:{number}",
        factory=factory,
        number=number,
        producer="investigation",
        version=payload.version,
        deadlines=_facts(payload.deadlines),
        department=department,
    )


def assessment_deadlines(payload: public.PenaltyAssessment) -> DeadlineUpdate:
    """The monthly cycle of an assessment (seed 000 §4.2.2); a replaced or void one has none left."""
    settled = payload.status in ("superseded", "void")
    deadlines = _facts(payload.deadlines)
    if settled:
        deadlines = tuple(DeadlineFact(d.milestone, d.due_at, "cancelled", d.round, d.source) for d in deadlines)
    department = next((line.department for line in payload.lines if line.department), None)
    return DeadlineUpdate(
        key=f"assessment:{payload.assessment_id}",
        factory=payload.factory,
        number=payload.number,
        producer="penalty",
        version=payload.version,
        deadlines=deadlines,
        department=department,
    )


def complaint_summary(record: ComplaintRecord) -> ComplaintSummary:
    return ComplaintSummary(
        number=record.number,
        factory=record.factory,
        company=record.customer.company,
        product=record.product.part_number or record.product.model or "",
        phenomenon=record.phenomenon,
        batch_return=record.batch_return,
    )


def _deadlines(deadlines: Iterable[public.Deadline]) -> tuple[Deadline, ...]:
    return tuple(Deadline(milestone=d.milestone, due_at=d.due_at, state=d.state) for d in deadlines)


def case_opened(payload: InvestigationOpened) -> CaseOpened:
    return CaseOpened(
        number=payload.number,
        factory=payload.factory,
        deadlines=tuple(Deadline(milestone=d.milestone, due_at=d.due_at) for d in payload.deadlines),
    )


def case_triaged(payload: public.InvestigationTriaged) -> CaseTriaged:
    return CaseTriaged(
        number=payload.number,
        factory=payload.factory,
        severity=payload.severity.value,
        category=payload.category.value,
        valid=payload.valid,
        our_fault=payload.our_fault,
        special=payload.special,
        responsible_department=payload.responsible_department,
        dispatch=tuple(dict.fromkeys(payload.dispatch)),
        ends_investigation=payload.ends_investigation,
        deadlines=_deadlines(payload.deadlines),
    )


def responsibility_assigned(payload: public.ResponsibilityDetermined) -> ResponsibilityAssigned:
    return ResponsibilityAssigned(
        number=payload.number,
        factory=payload.factory,
        parties=tuple(
            Share(name=p.name, share=p.share, kind=p.kind.value, department=p.department, role=p.role)
            for p in payload.parties
        ),
        determination=payload.determination,
        supersedes=payload.supersedes,
        accident_class=payload.accident_class.value,
        loss_amount=payload.loss_amount,
        loss_class=payload.loss_class,
        charge_back=payload.charge_back,
        dispute_window_ends_at=payload.dispute_window_ends_at,
    )


def dispute_filed(payload: public.ResponsibilityDisputed) -> DisputeFiled:
    return DisputeFiled(
        number=payload.number,
        factory=payload.factory,
        kind=payload.kind,
        department=payload.department,
        against=payload.against,
        reason=payload.reason,
    )


def dispute_ruling(payload: public.DisputeRuled) -> DisputeRuling:
    return DisputeRuling(
        number=payload.number,
        factory=payload.factory,
        kind=payload.kind,
        upheld=payload.upheld,
        determination=payload.determination,
        responsibility_cleared=payload.responsibility_cleared,
        # `investigation.dispute_ruled` v1 does not name the disputing department (yet): read
        # once the contract adds it (an optional field); until then the directory's
        # responsible_department is told.
        department=getattr(payload, "department", None),
        reason=payload.reason,
    )


def customer_replied(payload: public.CustomerReplied) -> CaseProgress:
    step = Step.FINAL_REPLY if payload.kind == "final" else Step.PRELIMINARY_REPLY
    return _progress(payload, step)


def case_closed(payload: public.InvestigationClosed) -> CaseProgress:
    return _progress(payload, Step.CLOSED, outcome=payload.outcome)


def case_reopened(payload: public.InvestigationReopened) -> CaseProgress:
    return _progress(payload, Step.REOPENED)


def _progress(
    payload: public.CustomerReplied | public.InvestigationClosed | public.InvestigationReopened,
    step: Step,
    outcome: str | None = None,
) -> CaseProgress:
    return CaseProgress(
        number=payload.number,
        factory=payload.factory,
        step=step,
        round=payload.round,
        outcome=outcome,
        reason=payload.reason,
        deadlines=_deadlines(payload.deadlines),
    )


def _appeal(appeal: public.PenaltyAppeal | None) -> AppealState | None:
    if appeal is None:
        return None
    return AppealState(
        by=appeal.by,
        reason=appeal.reason,
        lines=tuple(appeal.lines),
        decided=appeal.decided_at is not None or appeal.upheld is not None,
        upheld=appeal.upheld,
        decision=appeal.decision,
    )


def _penalty(payload: public.PenaltyAssessment, stage: PenaltyStage) -> PenaltyNotice:
    return PenaltyNotice(
        number=payload.number,
        factory=payload.factory,
        stage=stage,
        status=payload.status,
        assessment_id=payload.assessment_id,
        period=payload.period,
        lines=tuple(
            PenaltyItem(
                rule_code=line.rule_code,
                kind=line.kind,
                role=line.role,
                payee_id=line.payee.id,
                payee=line.payee.name,
                amount=line.amount,
                points=line.points,
                department=line.department,
                unresolved=line.unresolved,
                original_amount=line.original_amount,
            )
            for line in sorted(payload.lines, key=lambda x: x.position)
        ),
        total=payload.total,
        charge_backs=payload.charge_backs,
        currency=payload.currency,
        illustrative=payload.illustrative or any(line.illustrative for line in payload.lines),
        adjustment=payload.adjustment,
        supersedes=tuple(payload.supersedes),
        appeal=_appeal(payload.appeal),
        approved_by=payload.approved_by,
        deadlines=_deadlines(payload.deadlines),
    )


def penalty_assessed(payload: public.PenaltyAssessment) -> PenaltyNotice:
    return _penalty(payload, PenaltyStage.ASSESSED)


def penalty_appealed(payload: public.PenaltyAssessment) -> PenaltyNotice:
    return _penalty(payload, PenaltyStage.APPEALED)


def penalty_finalized(payload: public.PenaltyAssessment) -> PenaltyNotice:
    return _penalty(payload, PenaltyStage.FINALIZED)


def period_closed(payload: public.PenaltyPeriodClosed) -> PeriodClosed:
    return PeriodClosed(
        factory=payload.factory,
        period=payload.period,
        closed_by=payload.closed_by,
        compensation=payload.compensation,
        fines=payload.fines,
        charge_backs=payload.charge_backs,
        cost_of_poor_quality=payload.cost_of_poor_quality,
        performance_points=payload.performance_points,
        management_points=payload.management_points,
        unresolved_lines=payload.unresolved_lines,
        departments=tuple(
            (
                name,
                DepartmentTotals(
                    fines=t.fines,
                    performance_points=t.performance_points,
                    management_points=t.management_points,
                    lines=t.lines,
                ),
            )
            for name, t in sorted(payload.departments.items())
        ),
    )


def _cause(message: Message[Any]) -> Cause:
    return Cause(event_id=message.id, event_type=message.type)


def on_complaint_registered(notifying: Notifying) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[ComplaintRecord]) -> None:
        summary = complaint_summary(message.data)
        await notify_registered(uow, _cause(message), summary, notifying, why=message.why)

    return Handles(handle)


def _on(
    translate: Callable[[P], T],
    use_case: UseCase[T],
    notifying: Notifying,
    deadlines: Callable[[P], DeadlineUpdate] | None = None,
) -> Handles:
    """A payload translated into notification's terms, then the use case (with the deadlines it states)."""

    async def handle(uow: NotificationUnitOfWork, message: Message[P]) -> None:
        update = deadlines(message.data) if deadlines is not None else None
        await use_case(uow, _cause(message), translate(message.data), notifying, why=message.why, deadlines=update)

    return Handles(handle)


def on_deadlines_only(notifying: Notifying) -> Handles:
    """Events that tell nobody but carry the case's deadlines at its version."""

    async def handle(uow: NotificationUnitOfWork, message: Message[CaseStatus]) -> None:
        await track_deadlines(uow, _cause(message), case_deadlines(message.data), notifying, why=message.why)

    return Handles(handle)


def on_period_closed(notifying: Notifying) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[public.PenaltyPeriodClosed]) -> None:
        await notify_period_closed(uow, _cause(message), period_closed(message.data), notifying, why=message.why)

    return Handles(handle)


def subscriptions(notifying: Notifying) -> list[Subscription]:
    case = case_deadlines
    deadlines_only = on_deadlines_only(notifying)
    return [
        Subscription(
            purpose="complaints",
            handlers={COMPLAINT_REGISTERED: on_complaint_registered(notifying)},
            description="Tells QE and R&D after-sales of new complaints; the quality head of batch returns.",
        ),
        Subscription(
            purpose="investigations",
            handlers={
                INVESTIGATION_OPENED: _on(case_opened, notify_opened, notifying, case),
                INVESTIGATION_TRIAGED: _on(case_triaged, notify_triaged, notifying, case),
                RESPONSIBILITY_DETERMINED: _on(responsibility_assigned, notify_responsibility, notifying, case),
                RESPONSIBILITY_DISPUTED: _on(dispute_filed, notify_disputed, notifying, case),
                DISPUTE_RULED: _on(dispute_ruling, notify_ruled, notifying, case),
                CUSTOMER_REPLIED: _on(customer_replied, notify_progress, notifying, case),
                INVESTIGATION_CLOSED: _on(case_closed, notify_progress, notifying, case),
                INVESTIGATION_REOPENED: _on(case_reopened, notify_progress, notifying, case),
                CONTAINMENT_RECORDED: deadlines_only,
                ROOT_CAUSE_RECORDED: deadlines_only,
                ACTION_ADDED: deadlines_only,
                ACTION_VERIFIED: deadlines_only,
                INVESTIGATION_UPDATED: deadlines_only,
            },
            description=(
                "Tells QE and customer service the deadlines of a new case; the responsible department and "
                "the on-site team of a triage; the department head of a responsibility (purchasing of a "
                "charge-back); production operations of a dispute, QE and the department of its ruling; "
                "customer service and QE of the final reply, the closing and a reopening. Every event's "
                "deadlines (at the case's version) set, move or cancel the reminder and escalation timers."
            ),
        ),
        Subscription(
            purpose="penalties",
            handlers={
                PENALTY_ASSESSED: _on(penalty_assessed, notify_penalty, notifying, assessment_deadlines),
                PENALTY_APPEALED: _on(penalty_appealed, notify_penalty, notifying, assessment_deadlines),
                PENALTY_FINALIZED: _on(penalty_finalized, notify_penalty, notifying, assessment_deadlines),
                PENALTY_PERIOD_CLOSED: on_period_closed(notifying),
            },
            description=(
                "Tells the heads of the penalised departments of a draft assessment (and of the appeal "
                "decision), the general manager of an appeal, HR and finance of the approved line items and "
                "of a closed monthly ledger. The monthly cycle's deadlines are timed."
            ),
        ),
    ]
