"""What notification consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    COMPLAINT_REGISTERED,
    CUSTOMER_REPLIED,
    DISPUTE_RULED,
    INVESTIGATION_CLOSED,
    INVESTIGATION_OPENED,
    INVESTIGATION_REOPENED,
    INVESTIGATION_TRIAGED,
    PENALTY_APPEALED,
    PENALTY_ASSESSED,
    PENALTY_FINALIZED,
    PENALTY_PERIOD_CLOSED,
    RESPONSIBILITY_DETERMINED,
    RESPONSIBILITY_DISPUTED,
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
from notification.service.handlers import (
    Policies,
    notify_disputed,
    notify_opened,
    notify_penalty,
    notify_period_closed,
    notify_progress,
    notify_registered,
    notify_responsibility,
    notify_ruled,
    notify_triaged,
)
from notification.service.unit_of_work import NotificationUnitOfWork

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class UseCase(Protocol[T_contra]):
    def __call__(
        self, uow: NotificationUnitOfWork, cause: Cause, about: T_contra, policies: Policies, /, *, why: str
    ) -> Awaitable[None]: ...


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


def on_complaint_registered(policies: Policies) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[ComplaintRecord]) -> None:
        summary = complaint_summary(message.data)
        await notify_registered(uow, _cause(message), summary, policies, why=message.why)

    return Handles(handle)


def on_investigation_opened(policies: Policies) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[InvestigationOpened]) -> None:
        await notify_opened(uow, _cause(message), case_opened(message.data), policies, why=message.why)

    return Handles(handle)


def _on(translate: Callable[[P], T], use_case: UseCase[T], policies: Policies) -> Handles:
    """A payload translated into notification's terms, then the use case."""

    async def handle(uow: NotificationUnitOfWork, message: Message[P]) -> None:
        await use_case(uow, _cause(message), translate(message.data), policies, why=message.why)

    return Handles(handle)


def on_investigation_triaged(policies: Policies) -> Handles:
    return _on(case_triaged, notify_triaged, policies)


def on_responsibility_determined(policies: Policies) -> Handles:
    return _on(responsibility_assigned, notify_responsibility, policies)


def on_responsibility_disputed(policies: Policies) -> Handles:
    return _on(dispute_filed, notify_disputed, policies)


def on_dispute_ruled(policies: Policies) -> Handles:
    return _on(dispute_ruling, notify_ruled, policies)


def on_customer_replied(policies: Policies) -> Handles:
    return _on(customer_replied, notify_progress, policies)


def on_investigation_closed(policies: Policies) -> Handles:
    return _on(case_closed, notify_progress, policies)


def on_investigation_reopened(policies: Policies) -> Handles:
    return _on(case_reopened, notify_progress, policies)


def on_penalty_assessed(policies: Policies) -> Handles:
    return _on(penalty_assessed, notify_penalty, policies)


def on_penalty_appealed(policies: Policies) -> Handles:
    return _on(penalty_appealed, notify_penalty, policies)


def on_penalty_finalized(policies: Policies) -> Handles:
    return _on(penalty_finalized, notify_penalty, policies)


def on_period_closed(policies: Policies) -> Handles:
    return _on(period_closed, notify_period_closed, policies)


def subscriptions(policies: Policies) -> list[Subscription]:
    return [
        Subscription(
            purpose="complaints",
            handlers={COMPLAINT_REGISTERED: on_complaint_registered(policies)},
            description="Tells QE and R&D after-sales of new complaints; the quality head of batch returns.",
        ),
        Subscription(
            purpose="investigations",
            handlers={
                INVESTIGATION_OPENED: on_investigation_opened(policies),
                INVESTIGATION_TRIAGED: on_investigation_triaged(policies),
                RESPONSIBILITY_DETERMINED: on_responsibility_determined(policies),
                RESPONSIBILITY_DISPUTED: on_responsibility_disputed(policies),
                DISPUTE_RULED: on_dispute_ruled(policies),
                CUSTOMER_REPLIED: on_customer_replied(policies),
                INVESTIGATION_CLOSED: on_investigation_closed(policies),
                INVESTIGATION_REOPENED: on_investigation_reopened(policies),
            },
            description=(
                "Tells QE and customer service the deadlines of a new case; the responsible department and "
                "the on-site team of a triage; the department head of a responsibility (purchasing of a "
                "charge-back); production operations of a dispute, QE and the department of its ruling; "
                "customer service and QE of the final reply, the closing and a reopening."
            ),
        ),
        Subscription(
            purpose="penalties",
            handlers={
                PENALTY_ASSESSED: on_penalty_assessed(policies),
                PENALTY_APPEALED: on_penalty_appealed(policies),
                PENALTY_FINALIZED: on_penalty_finalized(policies),
                PENALTY_PERIOD_CLOSED: on_period_closed(policies),
            },
            description=(
                "Tells the heads of the penalised departments of a draft assessment (and of the appeal "
                "decision), the general manager of an appeal, HR and finance of the approved line items and "
                "of a closed monthly ledger."
            ),
        ),
    ]
