"""Use cases of notification: each runs in one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from notification.domain.messages import (
    assessed_tells,
    for_appealed,
    for_assessed,
    for_disputed,
    for_finalized,
    for_opened,
    for_period_closed,
    for_progress,
    for_registered,
    for_responsibility,
    for_ruled,
    for_triaged,
    progress_trigger,
)
from notification.domain.model import (
    CaseOpened,
    CaseProgress,
    CaseTriaged,
    Cause,
    ComplaintSummary,
    Dispatch,
    DisputeFiled,
    DisputeRuling,
    Notice,
    PenaltyNotice,
    PenaltyStage,
    PeriodClosed,
    ResponsibilityAssigned,
)
from notification.domain.policy import NotificationPolicy
from notification.service.unit_of_work import NotificationUnitOfWork


class FactoryPolicyMissing(RuntimeError):
    """No policy names who hears what in the event's factory (retried, then dead-lettered)."""


class Policies(Protocol):
    """Each factory's notification policy (a `PolicyBook` in the service)."""

    def for_factory(self, factory: str) -> NotificationPolicy: ...


def _policy(policies: Policies, factory: str) -> NotificationPolicy:
    try:
        return policies.for_factory(factory)
    except LookupError:
        raise FactoryPolicyMissing(f"no notification policy for factory {factory}") from None


async def _dispatch(
    uow: NotificationUnitOfWork,
    cause: Cause,
    number: str,
    factory: str,
    notices: Callable[[NotificationPolicy], list[Notice]],
    policies: Policies,
    why: str,
) -> None:
    async with uow:
        if await uow.dispatches.get(cause.event_id) is not None:
            return
        sent = notices(_policy(policies, factory))
        uow.dispatches.add(Dispatch.in_app(cause, number, factory, sent, at=uow.clock.now(), reason=why))
        await uow.commit()


async def notify_registered(
    uow: NotificationUnitOfWork, cause: Cause, complaint: ComplaintSummary, policies: Policies, *, why: str
) -> None:
    """Tell QE and R&D after-sales of a new complaint; the quality head at once of a batch return."""
    await _dispatch(
        uow, cause, complaint.number, complaint.factory, lambda p: for_registered(complaint, p), policies, why
    )


async def notify_opened(
    uow: NotificationUnitOfWork, cause: Cause, case: CaseOpened, policies: Policies, *, why: str
) -> None:
    """Tell QE and customer service the deadlines of a newly opened case."""
    await _dispatch(uow, cause, case.number, case.factory, lambda p: for_opened(case, p), policies, why)


async def notify_triaged(
    uow: NotificationUnitOfWork, cause: Cause, case: CaseTriaged, policies: Policies, *, why: str
) -> None:
    """Tell the responsible department and the on-site team of a triage; customer service, to reply
    and close, when triage ends the investigation."""
    await _dispatch(uow, cause, case.number, case.factory, lambda p: for_triaged(case, p), policies, why)


async def notify_responsibility(
    uow: NotificationUnitOfWork, cause: Cause, assigned: ResponsibilityAssigned, policies: Policies, *, why: str
) -> None:
    """Tell the department head the parties and shares and until when to dispute; purchasing of a
    supplier's share (charge-back)."""
    await _dispatch(
        uow, cause, assigned.number, assigned.factory, lambda p: for_responsibility(assigned, p), policies, why
    )


async def notify_disputed(
    uow: NotificationUnitOfWork, cause: Cause, dispute: DisputeFiled, policies: Policies, *, why: str
) -> None:
    """Tell production operations of a dispute to rule."""
    await _dispatch(uow, cause, dispute.number, dispute.factory, lambda p: for_disputed(dispute, p), policies, why)


async def notify_ruled(
    uow: NotificationUnitOfWork, cause: Cause, ruling: DisputeRuling, policies: Policies, *, why: str
) -> None:
    """Tell the quality engineer and the disputing department of production operations' ruling."""
    await _dispatch(uow, cause, ruling.number, ruling.factory, lambda p: for_ruled(ruling, p), policies, why)


async def notify_progress(
    uow: NotificationUnitOfWork, cause: Cause, progress: CaseProgress, policies: Policies, *, why: str
) -> None:
    """Tell customer service and the quality engineer of the final reply, the closing or a reopening.
    A preliminary reply tells nobody: nothing is written."""
    if progress_trigger(progress) is None:
        return
    await _dispatch(uow, cause, progress.number, progress.factory, lambda p: for_progress(progress, p), policies, why)


async def notify_penalty(
    uow: NotificationUnitOfWork, cause: Cause, penalty: PenaltyNotice, policies: Policies, *, why: str
) -> None:
    """Tell the heads of the penalised departments of a draft (first computed, or after the appeal
    decision), the general manager of an appeal, HR and finance of the approved line items. Any
    other draft tells nobody: nothing is written."""
    if penalty.stage is PenaltyStage.ASSESSED:
        if not assessed_tells(penalty):
            return
        message = for_assessed
    elif penalty.stage is PenaltyStage.APPEALED:
        message = for_appealed
    else:
        message = for_finalized
    await _dispatch(uow, cause, penalty.number, penalty.factory, lambda p: message(penalty, p), policies, why)


async def notify_period_closed(
    uow: NotificationUnitOfWork, cause: Cause, closed: PeriodClosed, policies: Policies, *, why: str
) -> None:
    """Tell HR and finance of a closed monthly ledger, filed under `ledger/<factory>/<yyyy-mm>`."""
    await _dispatch(uow, cause, closed.number, closed.factory, lambda p: for_period_closed(closed, p), policies, why)


async def dispatches_of(uow: NotificationUnitOfWork, number: str, recipient: str | None = None) -> list[Dispatch]:
    """What was sent about one complaint (to one recipient, if named), in the factories the caller may see."""
    async with uow:
        return await uow.dispatches.for_complaint(number, uow.actor.factories, recipient)
