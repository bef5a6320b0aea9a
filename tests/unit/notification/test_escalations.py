"""Escalation levels of pending deadlines (逾期反应, DOMAIN.md §3 "Deadlines": reminders before,
escalation after – department head -> director -> GM; §5 "deadlines -> reminders before,
escalation after") through the use case and the in-memory unit of work, on a fake clock.

A deadline stays listed while it is pending: level None until its breach fires, 0 once the
owner was told of the breach, 1-3 as it escalated; meeting, cancelling or moving it takes it
off the list even after every level fired. Only the caller's factories are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.domain import NotFound
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, MemoryStore
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.domain.model import Cause
from notification.domain.policy import NotificationPolicy
from notification.domain.timers import DeadlineFact, DeadlineKey, EscalationState, TimerKind, TimerState
from notification.entrypoints.workers import DueWorker, each
from notification.service.handlers import DeadlineUpdate, Notifying, escalations_of, fire_timer, track_deadlines
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryClaims, MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NOTIFYING = Notifying(POLICIES, JinjaRenderer())
NUMBER = "F01-2611-0007"
THEIRS = "F02-2611-0003"
SYSTEM = Actor("system:/services/notification")
F01_HEAD = Actor("user:head-1", frozenset({"F01"}))
HEAD_OFFICE = Actor("user:gm", None)
HOUR = timedelta(hours=1)

Make = Callable[..., MemoryNotificationUnitOfWork]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")


@pytest.fixture
def worker(store: MemoryStore, clock: FakeClock, make: Make) -> DueWorker:
    async def fire(timer_id: str) -> None:
        await fire_timer(make(SYSTEM), timer_id, NOTIFYING)

    return DueWorker("timers", claims=MemoryClaims(store, "timers"), handle=each(fire, "timers", clock), clock=clock)


def deadline(milestone: str = "first_response", due: datetime = T0 + 24 * HOUR, state: str = "pending") -> DeadlineFact:
    return DeadlineFact(milestone, due, state, 1, "seed 001 §1.2.1")


def update(
    version: int, *deadlines: DeadlineFact, number: str = NUMBER, department: str | None = "装配车间"
) -> DeadlineUpdate:
    return DeadlineUpdate(
        key=f"case:{number}",
        factory=number[:3],
        number=number,
        producer="investigation",
        version=version,
        deadlines=deadlines,
        department=department,
    )


async def apply(make: Make, event_id: str, u: DeadlineUpdate) -> None:
    await track_deadlines(make(SYSTEM), Cause(event_id, "investigation.updated"), u, NOTIFYING, why="test")


async def levels(
    make: Make,
    actor: Actor = F01_HEAD,
    *,
    factory: str | None = None,
    number: str | None = None,
    after: DeadlineKey | None = None,
    limit: int = 50,
) -> list[EscalationState]:
    return await escalations_of(make(actor), POLICIES, factory=factory, number=number, after=after, limit=limit)


def summary(e: EscalationState) -> tuple[str, str, int | None, tuple[str, int, datetime] | None]:
    nxt = (e.next.kind.value, e.next.level, e.next.fire_at) if e.next else None
    return e.number, e.deadline.milestone, e.level, nxt


async def test_a_pending_deadline_climbs_from_breach_to_each_escalation_level(
    make: Make, clock: FakeClock, worker: DueWorker
) -> None:
    """Policy default: the breach at the due time (level 0, the owner), then level 1, 2, 3 at 4 h,
    24 h and 72 h after it (department head, director, general manager)."""
    due = T0 + 24 * HOUR
    await apply(make, "e1", update(1, deadline(due=due)))

    [before] = await levels(make)
    assert summary(before) == (NUMBER, "first_response", None, ("reminder", 0, T0 + 12 * HOUR))
    assert (before.deadline.due_at, before.overdue, before.reached_at) == (due, False, None)
    assert (before.owner, before.department, before.factory, before.producer) == (
        "customer_service",  # the first response is customer service's (seed 001 §1.2.1)
        "装配车间",
        "F01",
        "investigation",
    )

    clock.set(due)
    await worker.drain()  # the late 80 % reminder and the breach
    [breached] = await levels(make)
    assert summary(breached) == (NUMBER, "first_response", 0, ("escalation", 1, due + 4 * HOUR))
    assert breached.overdue is False and breached.reached_at == due  # due now, not past it

    for at, level, nxt in (
        (due + 4 * HOUR, 1, ("escalation", 2, due + 24 * HOUR)),
        (due + 24 * HOUR, 2, ("escalation", 3, due + 72 * HOUR)),
        (due + 72 * HOUR, 3, None),
    ):
        clock.set(at)
        await worker.drain()
        [state] = await levels(make)
        assert (state.level, state.reached_at, state.overdue) == (level, at, True)
        assert summary(state)[3] == nxt

    clock.set(due + 200 * HOUR)
    [still] = await levels(make)  # every level fired and the deadline still pending: it stays listed
    assert (still.level, still.next) == (3, None)


async def test_the_level_is_judged_by_the_timers_that_fired_not_by_the_clock_alone(
    make: Make, clock: FakeClock, worker: DueWorker
) -> None:
    await apply(make, "e1", update(1, deadline()))
    clock.set(T0 + 30 * HOUR)  # past the breach and level 1, the worker not run yet
    [waiting] = await levels(make)
    assert (waiting.level, waiting.overdue) == (None, True)
    assert waiting.next is not None and waiting.next.kind is TimerKind.REMINDER  # the late reminder first
    await worker.drain()
    [fired] = await levels(make)
    assert fired.level == 1


async def test_a_met_deadline_leaves_the_list_even_after_every_level_fired(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    await apply(make, "e1", update(1, deadline(), deadline("close", T0 + 120 * HOUR)))
    clock.set(T0 + 100 * HOUR)  # first response: every level fired; close: reminders only
    await worker.drain()
    assert [(e.deadline.milestone, e.level) for e in await levels(make)] == [("first_response", 3), ("close", None)]

    await apply(make, "e2", update(2, deadline(state="met"), deadline("close", T0 + 120 * HOUR)))

    assert [e.deadline.milestone for e in await levels(make)] == ["close"]
    first = [t for t in store.table("timers").values() if t.milestone == "first_response"]
    assert {t.state for t in first} == {TimerState.FIRED}  # what fired stays fired …
    assert {t.settled_at for t in first} == {clock.now()}  # … and settles with the deadline
    assert "settle" in {row.action for row in store.audit}

    await apply(make, "e3", update(3, deadline(state="met"), deadline("close", T0 + 120 * HOUR, "cancelled")))
    assert await levels(make) == []


async def test_a_moved_deadline_is_listed_at_its_new_due_time_from_level_none_again(
    make: Make, clock: FakeClock, worker: DueWorker
) -> None:
    await apply(make, "e1", update(1, deadline()))
    clock.set(T0 + 30 * HOUR)
    await worker.drain()
    assert [e.level for e in await levels(make)] == [1]

    later = T0 + 60 * HOUR  # e.g. a corrected complaint moved it
    await apply(make, "e2", update(2, deadline(due=later)))
    [moved] = await levels(make)
    assert (moved.deadline.due_at, moved.level, moved.overdue) == (later, None, False)


async def test_only_the_callers_factories_one_complaint_and_pages_in_due_order(make: Make) -> None:
    """A factory user never sees another factory's deadlines, even when they name it."""
    await apply(make, "e1", update(1, deadline(due=T0 + 48 * HOUR), deadline("close", T0 + 120 * HOUR)))
    await apply(make, "e2", update(1, deadline(due=T0 + 24 * HOUR), number=THEIRS, department=None))
    await apply(make, "e3", update(1, deadline(due=T0 + 30 * HOUR), number="F01-2611-0008"))

    mine = await levels(make)
    assert [(e.number, e.deadline.due_at) for e in mine] == [
        ("F01-2611-0008", T0 + 30 * HOUR),
        (NUMBER, T0 + 48 * HOUR),
        (NUMBER, T0 + 120 * HOUR),
    ]
    with pytest.raises(NotFound):
        await levels(make, factory="F02")
    assert [e.number for e in await levels(make, number=THEIRS)] == []
    assert [e.deadline.milestone for e in await levels(make, number=NUMBER)] == ["first_response", "close"]

    everyone = await levels(make, HEAD_OFFICE)
    assert [e.number for e in everyone] == [THEIRS, "F01-2611-0008", NUMBER, NUMBER]
    assert everyone[0].department is None
    assert [e.number for e in await levels(make, HEAD_OFFICE, factory="F02")] == [THEIRS]

    walked: list[EscalationState] = []
    page = await levels(make, HEAD_OFFICE, limit=3)
    walked += page
    walked += await levels(make, HEAD_OFFICE, limit=3, after=page[-1].deadline)
    assert walked == everyone
