"""Use cases of notification: each runs in one unit of work.

A consumed event may do two things in its one transaction: tell people (a dispatch of
deliveries) and bring the deadline timers of its case or assessment in line with the
deadlines it carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cqm_shared.domain import NotFound
from notification.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    addresses,
    delivery_id,
    first_attempt,
    group_addresses,
)
from notification.domain.inbox import ReadMark, addresses_of
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
from notification.domain.rendering import Renderer
from notification.domain.sla import sla_notices
from notification.domain.timers import (
    DeadlineFact,
    DeadlineKey,
    EscalationState,
    Timer,
    TimerState,
    Track,
    escalation_state,
)
from notification.service.unit_of_work import InboxItem, NotificationUnitOfWork

MAX_SUBJECT = 300


class FactoryPolicyMissing(RuntimeError):
    """No policy names who hears what in the event's factory (retried, then dead-lettered)."""


class Policies(Protocol):
    """Each factory's notification policy (a `PolicyBook` in the service)."""

    def for_factory(self, factory: str) -> NotificationPolicy: ...


@dataclass(frozen=True)
class Notifying:
    """What every use case that tells people needs: the factories' policies and the templates."""

    policies: Policies
    renderer: Renderer

    def policy(self, factory: str) -> NotificationPolicy:
        try:
            return self.policies.for_factory(factory)
        except LookupError:
            raise FactoryPolicyMissing(f"no notification policy for factory {factory}") from None


@dataclass(frozen=True)
class DeadlineUpdate:
    """The deadlines an event states for one holder (a case or an assessment), at its version."""

    key: str  # case:<number> or assessment:<id>
    factory: str
    number: str
    producer: str
    version: int | None
    deadlines: tuple[DeadlineFact, ...]
    department: str | None = None


# ---------------------------------------------------------------------------------------
# Steps inside an open unit of work


def plan_deliveries(
    cause: Cause,
    number: str,
    factory: str,
    notices: Iterable[Notice],
    policy: NotificationPolicy,
    renderer: Renderer,
    at: datetime,
) -> list[Delivery]:
    """A delivery per recipient and channel (each once), rendered in the recipient's locale."""
    planned: dict[str, Delivery] = {}
    for notice in notices:
        targets = addresses(notice.recipient, notice.rule, policy) + group_addresses(notice.rule, policy)
        for address in targets:
            key = delivery_id(cause.event_id, address.recipient, address.channel)
            if key in planned and (planned[key].urgent or not notice.urgent):
                continue  # one delivery per recipient and channel: the urgent notice wins
            text = renderer.render(notice.template, address.locale, notice.context)  # type: ignore[arg-type]
            in_app = address.channel is Channel.IN_APP
            due, digest = (at, False) if in_app else first_attempt(address, notice.urgent, at, policy.delivery)
            planned[key] = Delivery(
                id=key,
                number=number,
                factory=factory,
                event_id=cause.event_id,
                event_type=cause.event_type,
                recipient_role=notice.recipient_role,
                recipient=address.recipient,
                channel=address.channel,
                locale=address.locale,
                urgent=notice.urgent,
                subject=text.subject[:MAX_SUBJECT],
                body=text.body,
                status=DeliveryStatus.DELIVERED if in_app else DeliveryStatus.PENDING,
                created_at=at,
                target=address.target,
                digest=digest,
                attempts=1 if in_app else 0,
                next_attempt_at=None if in_app else due,
                delivered_at=at if in_app else None,
            )
    return list(planned.values())


async def _tell(
    uow: NotificationUnitOfWork,
    cause: Cause,
    number: str,
    factory: str,
    notices: Callable[[NotificationPolicy], list[Notice]],
    notifying: Notifying,
    why: str,
) -> None:
    if await uow.dispatches.get(cause.event_id) is not None:
        return
    policy = notifying.policy(factory)
    at = uow.clock.now()
    deliveries = plan_deliveries(cause, number, factory, notices(policy), policy, notifying.renderer, at)
    uow.dispatches.add(Dispatch.of(cause, number, factory, deliveries, at=at, reason=why))


async def _reconcile(uow: NotificationUnitOfWork, update: DeadlineUpdate, notifying: Notifying, why: str) -> None:
    if not update.deadlines:
        # An event without a deadline list (an older producer's) says nothing about them: it
        # must not cancel what a newer one scheduled.
        return
    policy = notifying.policy(update.factory)
    at = uow.clock.now()
    track = await uow.tracks.get(update.key)
    if track is None:
        track = uow.tracks.add(Track.new(update.key, update.factory, update.number, update.producer, at))
    if not track.is_newer(update.version):
        return  # a late, older event: the newer state stands
    existing = await uow.timers.of_track(update.key)
    new = track.reconcile(
        version=update.version,
        deadlines=update.deadlines,
        department=update.department,
        existing=existing,
        policy=policy.timers,
        at=at,
        why=why,
    )
    for timer in new:
        uow.timers.add(timer)


async def _handle(
    uow: NotificationUnitOfWork,
    cause: Cause,
    notifying: Notifying,
    why: str,
    *,
    tell: tuple[str, str, Callable[[NotificationPolicy], list[Notice]]] | None = None,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    async with uow:
        if deadlines is not None:
            await _reconcile(uow, deadlines, notifying, why)
        if tell is not None:
            number, factory, notices = tell
            await _tell(uow, cause, number, factory, notices, notifying, why)
        await uow.commit()


# ---------------------------------------------------------------------------------------
# Consumed events


async def notify_registered(
    uow: NotificationUnitOfWork, cause: Cause, complaint: ComplaintSummary, notifying: Notifying, *, why: str
) -> None:
    """Tell QE and R&D after-sales of a new complaint; the quality head at once of a batch return."""
    tell = (complaint.number, complaint.factory, lambda p: for_registered(complaint, p))
    await _handle(uow, cause, notifying, why, tell=tell)


async def notify_opened(
    uow: NotificationUnitOfWork,
    cause: Cause,
    case: CaseOpened,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell QE and customer service the deadlines of a newly opened case; time them."""
    tell = (case.number, case.factory, lambda p: for_opened(case, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_triaged(
    uow: NotificationUnitOfWork,
    cause: Cause,
    case: CaseTriaged,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell the responsible department and the on-site team of a triage; customer service, to reply
    and close, when triage ends the investigation."""
    tell = (case.number, case.factory, lambda p: for_triaged(case, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_responsibility(
    uow: NotificationUnitOfWork,
    cause: Cause,
    assigned: ResponsibilityAssigned,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell the department head the parties and shares and until when to dispute; purchasing of a
    supplier's share (charge-back)."""
    tell = (assigned.number, assigned.factory, lambda p: for_responsibility(assigned, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_disputed(
    uow: NotificationUnitOfWork,
    cause: Cause,
    dispute: DisputeFiled,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell production operations of a dispute to rule."""
    tell = (dispute.number, dispute.factory, lambda p: for_disputed(dispute, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_ruled(
    uow: NotificationUnitOfWork,
    cause: Cause,
    ruling: DisputeRuling,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell the quality engineer and the disputing department of production operations' ruling."""
    tell = (ruling.number, ruling.factory, lambda p: for_ruled(ruling, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_progress(
    uow: NotificationUnitOfWork,
    cause: Cause,
    progress: CaseProgress,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell customer service and the quality engineer of the final reply, the closing or a reopening.
    A preliminary reply tells nobody (its deadlines are still timed)."""
    tell = None
    if progress_trigger(progress) is not None:
        tell = (progress.number, progress.factory, lambda p: for_progress(progress, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def track_deadlines(
    uow: NotificationUnitOfWork, cause: Cause, deadlines: DeadlineUpdate, notifying: Notifying, *, why: str
) -> None:
    """An event that tells nobody but states the deadlines (containment, root cause, actions…)."""
    await _handle(uow, cause, notifying, why, deadlines=deadlines)


async def notify_penalty(
    uow: NotificationUnitOfWork,
    cause: Cause,
    penalty: PenaltyNotice,
    notifying: Notifying,
    *,
    why: str,
    deadlines: DeadlineUpdate | None = None,
) -> None:
    """Tell the heads of the penalised departments of a draft (first computed, or after the appeal
    decision), the general manager of an appeal, HR and finance of the approved line items. Any
    other draft tells nobody. The monthly cycle's deadlines are timed either way."""
    message: Callable[[PenaltyNotice, NotificationPolicy], list[Notice]] | None
    if penalty.stage is PenaltyStage.ASSESSED:
        message = for_assessed if assessed_tells(penalty) else None
    elif penalty.stage is PenaltyStage.APPEALED:
        message = for_appealed
    else:
        message = for_finalized
    tell = None
    if message is not None:
        chosen = message
        tell = (penalty.number, penalty.factory, lambda p: chosen(penalty, p))
    await _handle(uow, cause, notifying, why, tell=tell, deadlines=deadlines)


async def notify_period_closed(
    uow: NotificationUnitOfWork, cause: Cause, closed: PeriodClosed, notifying: Notifying, *, why: str
) -> None:
    """Tell HR and finance of a closed monthly ledger, filed under `ledger/<factory>/<yyyy-mm>`."""
    tell = (closed.number, closed.factory, lambda p: for_period_closed(closed, p))
    await _handle(uow, cause, notifying, why, tell=tell)


# ---------------------------------------------------------------------------------------
# Timers


async def fire_timer(uow: NotificationUnitOfWork, timer_id: str, notifying: Notifying) -> Timer | None:
    """Fire one due timer: `sla.warning` / `sla.breached` and the notices of its level, in one
    transaction. None when it is no longer pending (fired elsewhere, or cancelled)."""
    async with uow:
        timer = await uow.timers.get(timer_id)
        if timer is None or timer.state is not TimerState.PENDING:
            return None
        track = await uow.tracks.get(timer.track)
        at = uow.clock.now()
        raised = timer.fire(at, track.department if track is not None else None)
        cause = Cause(event_id=timer.id, event_type=f"sla.{'breached' if raised.breached else 'warning'}")
        await _tell(
            uow,
            cause,
            timer.number,
            timer.factory,
            lambda p: sla_notices(raised, p, at=at),
            notifying,
            raised.reason,
        )
        await uow.commit()
        return timer


async def timers_of(uow: NotificationUnitOfWork, number: str) -> list[Timer]:
    async with uow:
        return await uow.timers.for_complaint(number, uow.actor.factories)


def factory_scope(visible: frozenset[str] | None, factory: str | None) -> frozenset[str] | None:
    """The factories a question covers: the one named (NotFound if the caller may not see it,
    never disclosed), else all the caller sees (None: every factory)."""
    if factory is None:
        return visible
    if visible is not None and factory not in visible:
        raise NotFound(f"factory {factory} not found")
    return frozenset({factory})


def _owner(policies: Policies, factory: str, milestone: str) -> str | None:
    try:
        return policies.for_factory(factory).timers.owner_of(milestone)
    except LookupError:
        return None


async def escalations_of(
    uow: NotificationUnitOfWork,
    policies: Policies,
    *,
    factory: str | None = None,
    number: str | None = None,
    after: DeadlineKey | None = None,
    limit: int = 50,
) -> list[EscalationState]:
    """Every deadline still pending in the factories the caller sees, earliest due first, with
    the level of 逾期反应 it reached and what fires next (DOMAIN.md §3 "Deadlines", §5)."""
    factories = factory_scope(uow.actor.factories, factory)
    async with uow:
        now = uow.clock.now()
        found = await uow.timers.open_deadlines(factories, number=number, after=after, limit=limit)
    return [
        escalation_state(
            d.timers,
            now=now,
            department=d.department,
            owner=_owner(policies, d.timers[0].factory, d.deadline.milestone),
        )
        for d in found
        if d.timers
    ]


# ---------------------------------------------------------------------------------------
# Reading


async def dispatches_of(uow: NotificationUnitOfWork, number: str, recipient: str | None = None) -> list[Dispatch]:
    """What was sent about one complaint (to one recipient, if named), in the factories the caller may see."""
    async with uow:
        return await uow.dispatches.for_complaint(number, uow.actor.factories, recipient)


@dataclass(frozen=True)
class Reader:
    """Who reads an inbox: the user id and roles of the token, and the factories to look in."""

    subject: str
    roles: frozenset[str]
    factories: list[str]


def _addresses(reader: Reader, policies: Policies) -> set[str]:
    found: set[str] = set()
    for factory in reader.factories:
        try:
            policy = policies.for_factory(factory)
        except LookupError:
            continue
        person = policy.person(reader.subject)
        found |= addresses_of(reader.subject, reader.roles, [person] if person else [])
    return found or addresses_of(reader.subject, reader.roles, [])


async def inbox_of(
    uow: NotificationUnitOfWork,
    reader: Reader,
    policies: Policies,
    *,
    unread_only: bool = False,
    limit: int = 50,
    before: datetime | None = None,
) -> tuple[list[InboxItem], int]:
    """The reader's in-app notices (to them, their roles and departments), newest first, and how many are unread."""
    addresses = _addresses(reader, policies)
    async with uow:
        items = await uow.deliveries.inbox(
            addresses, reader.subject, uow.actor.factories, unread_only=unread_only, limit=limit, before=before
        )
        unread = await uow.deliveries.unread(addresses, reader.subject, uow.actor.factories)
        return items, unread


async def mark_read(uow: NotificationUnitOfWork, reader: Reader, notification_id: str, policies: Policies) -> datetime:
    """Mark one of the reader's in-app notices read (again: nothing changes); when it was read."""
    addresses = _addresses(reader, policies)
    async with uow:
        delivery = await uow.deliveries.get(notification_id)
        if (
            delivery is None
            or delivery.channel is not Channel.IN_APP
            or delivery.recipient not in addresses
            or not uow.actor.can_see(delivery.factory)
        ):
            raise NotFound(f"no notice {notification_id} in your inbox")
        mark = await uow.reads.get(notification_id, reader.subject)
        if mark is not None:
            return mark.read_at
        at = uow.clock.now()
        uow.reads.add(ReadMark.of(notification_id, reader.subject, delivery.number, delivery.factory, at))
        await uow.commit()
        return at
