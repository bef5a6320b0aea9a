"""Deadline timers on a fake clock (DOMAIN.md §3 "Deadlines": reminders before, escalation after,
逾期反应 department head -> director -> GM, seed 000 第三条(三)1 "处理时效管理及逾期反应").

Through the use cases and the in-memory unit of work: a case's deadlines become timers; moving
the clock fires them (`sla.warning`, `sla.breached` with the level) and tells the right people;
meeting the milestone cancels the rest; an older event arriving late changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, MemoryStore
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.domain.model import Cause
from notification.domain.policy import NotificationPolicy
from notification.domain.timers import DeadlineFact, TimerKind, TimerState
from notification.entrypoints.workers import DueWorker, each
from notification.service.handlers import DeadlineUpdate, Notifying, fire_timer, timers_of, track_deadlines
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryClaims, MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NOTIFYING = Notifying(POLICIES, JinjaRenderer())
NUMBER = "F01-2611-0007"
SYSTEM = Actor("system:/services/notification")
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


def first_response(state: str = "pending", due: datetime = T0 + 24 * HOUR) -> DeadlineFact:
    return DeadlineFact("first_response", due, state, 1, "seed 001 §1.2.1")


def update(version: int | None, *deadlines: DeadlineFact, department: str | None = "装配车间") -> DeadlineUpdate:
    return DeadlineUpdate(
        key=f"case:{NUMBER}",
        factory="F01",
        number=NUMBER,
        producer="investigation",
        version=version,
        deadlines=deadlines,
        department=department,
    )


async def apply(make: Make, event_id: str, u: DeadlineUpdate) -> None:
    await track_deadlines(make(SYSTEM), Cause(event_id, "investigation.updated"), u, NOTIFYING, why="test")


def sla_events(store: MemoryStore) -> list[CloudEvent]:
    return [e for e in store.outbox if e.type.startswith("sla.")]


def told(store: MemoryStore, event_type: str, level: int | None = None) -> set[str]:
    """Recipients of the in-app notices of the fired timers of one kind (and level)."""
    timers = {t.id: t for t in store.table("timers").values()}
    return {
        d.recipient
        for d in store.table("deliveries").values()
        if d.event_type == event_type and (level is None or timers[d.event_id].level == level)
    }


async def test_a_deadline_becomes_reminders_a_breach_and_each_escalation_level(make: Make) -> None:
    """Policy default: reminders at 50 % and 80 % of the time, the breach at the due time, then
    escalation levels 1, 2, 3 at 4 h, 24 h and 72 h after it (deploy/policies/default.yaml)."""
    await apply(make, "e1", update(1, first_response()))

    timers = await timers_of(make(SYSTEM), NUMBER)
    assert [(t.kind, t.level, t.fire_at - T0) for t in timers] == [
        (TimerKind.REMINDER, 0, 12 * HOUR),
        (TimerKind.REMINDER, 0, timedelta(hours=19, minutes=12)),
        (TimerKind.BREACH, 0, 24 * HOUR),
        (TimerKind.ESCALATION, 1, 28 * HOUR),
        (TimerKind.ESCALATION, 2, 48 * HOUR),
        (TimerKind.ESCALATION, 3, 96 * HOUR),
    ]
    assert {t.state for t in timers} == {TimerState.PENDING}


async def test_timers_fire_on_time_and_tell_the_owner_then_head_director_and_gm(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    """逾期反应: the owner is reminded and told of the breach (first response: customer service,
    seed 001 §1.2.1); level 1 adds the responsible department's head, level 2 its director,
    level 3 the general manager."""
    await apply(make, "e1", update(1, first_response()))

    clock.set(T0 + 12 * HOUR - timedelta(seconds=1))
    assert await worker.drain() == 0  # nothing is due a second early

    clock.set(T0 + 12 * HOUR)
    assert await worker.drain() == 1
    [warning] = sla_events(store)
    assert (warning.type, warning.subject, warning.data["level"], warning.data["milestone"]) == (
        "sla.warning",
        NUMBER,
        0,
        "first_response",
    )
    assert told(store, "sla.warning") == {"role:customer_service"}

    clock.set(T0 + 24 * HOUR)
    assert await worker.drain() == 2  # the 80 % reminder, late, and the breach
    clock.set(T0 + 28 * HOUR)
    assert await worker.drain() == 1
    clock.set(T0 + 48 * HOUR)
    assert await worker.drain() == 1
    clock.set(T0 + 96 * HOUR)
    assert await worker.drain() == 1

    breaches = [e for e in sla_events(store) if e.type == "sla.breached"]
    assert [e.data["level"] for e in breaches] == [0, 1, 2, 3]
    assert {e.data["department"] for e in breaches} == {"装配车间"}
    assert told(store, "sla.breached", 0) == {"role:customer_service"}
    assert told(store, "sla.breached", 1) == {"role:customer_service", "department_head:装配车间"}
    assert told(store, "sla.breached", 2) == {"department_head:装配车间", "director:装配车间"}
    assert told(store, "sla.breached", 3) == {"director:装配车间", "role:general_manager"}
    notices = [d for d in store.table("deliveries").values() if d.event_type == "sla.breached"]
    assert all(d.urgent for d in notices)
    level3 = next(d for d in notices if d.recipient == "role:general_manager")
    assert NUMBER in level3.subject and "3" in level3.subject

    assert await worker.drain() == 0  # each fired once
    assert len(sla_events(store)) == 6


async def test_meeting_the_milestone_cancels_what_has_not_fired(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    await apply(make, "e1", update(1, first_response()))
    clock.set(T0 + 12 * HOUR)
    await worker.drain()

    await apply(make, "e2", update(2, first_response(state="met")))

    states = {(t.kind, t.level): t.state for t in await timers_of(make(SYSTEM), NUMBER) if t.fire_at > T0 + 12 * HOUR}
    assert set(states.values()) == {TimerState.CANCELLED}
    clock.set(T0 + 200 * HOUR)
    assert await worker.drain() == 0
    assert [e.type for e in sla_events(store)] == ["sla.warning"]


async def test_an_older_event_arriving_late_never_resurrects_a_cancelled_timer(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    """CONTRACT.md: consumers keep the newest case version and ignore an older one arriving late."""
    await apply(make, "e3", update(3, first_response(state="met")))
    await apply(make, "e2", update(2, first_response()))  # version 2, delivered after version 3

    assert await timers_of(make(SYSTEM), NUMBER) == []
    clock.set(T0 + 200 * HOUR)
    assert await worker.drain() == 0
    assert sla_events(store) == []


async def test_a_moved_deadline_replaces_its_timers_and_keeps_what_fired(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    await apply(make, "e1", update(1, first_response()))
    clock.set(T0 + 12 * HOUR)
    await worker.drain()  # the 50 % reminder fired

    later = T0 + 48 * HOUR
    await apply(make, "e2", update(2, first_response(due=later)))

    timers = await timers_of(make(SYSTEM), NUMBER)
    fired = [t for t in timers if t.state is TimerState.FIRED]
    pending = [t for t in timers if t.state is TimerState.PENDING]
    assert [(t.kind, t.due_at) for t in fired] == [(TimerKind.REMINDER, T0 + 24 * HOUR)]
    assert {t.due_at for t in pending} == {later}
    assert min(t.fire_at for t in pending if t.kind is TimerKind.BREACH) == later
    # learned at 12 h, due at 48 h: the new reminders come at 50 % (30 h) and 80 % of that time
    assert sorted(t.fire_at - T0 for t in pending if t.kind is TimerKind.REMINDER) == [
        30 * HOUR,
        timedelta(hours=40, minutes=48),
    ]
    clock.set(T0 + 30 * HOUR)
    await worker.drain()
    assert [e.type for e in sla_events(store)] == ["sla.warning", "sla.warning"]


async def test_a_breach_is_assessed_as_a_process_penalty_source(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    """sla.breached carries what penalty needs for 4.3.1.6 / 4.3.2.1 / 4.3.2.2: number, milestone,
    round, due time, level and the department (seed 000 §4.3)."""
    slip = DeadlineFact("feedback_slip", T0 + 48 * HOUR, "pending", 2, "seed 004 §2.4.1")
    await apply(make, "e1", update(4, slip, department="机加车间"))
    clock.set(T0 + 48 * HOUR)
    await worker.drain()

    [breach] = [e for e in sla_events(store) if e.type == "sla.breached"]
    assert breach.data["round"] == 2 and breach.data["department"] == "机加车间"
    assert breach.data["producer"] == "investigation" and breach.data["source"] == "seed 004 §2.4.1"
    assert datetime.fromisoformat(breach.data["due_at"]) == T0 + 48 * HOUR
    # the feedback slip's owner is the responsible department itself
    assert told(store, "sla.breached", 0) == {"department:机加车间"}


async def test_a_deadline_already_past_when_learned_breaches_at_once_without_reminders(
    make: Make, store: MemoryStore, clock: FakeClock, worker: DueWorker
) -> None:
    clock.set(T0 + 30 * HOUR)
    await apply(make, "e1", update(1, first_response()))

    kinds = [(t.kind, t.level) for t in await timers_of(make(SYSTEM), NUMBER)]
    assert (TimerKind.REMINDER, 0) not in kinds
    assert await worker.drain() == 2  # the breach and level 1 (due + 4 h) are both past
    assert [e.data["level"] for e in sla_events(store)] == [0, 1]


async def test_the_same_event_twice_schedules_nothing_twice(make: Make) -> None:
    await apply(make, "e1", update(1, first_response()))
    await apply(make, "e1b", update(None, first_response()))  # an older producer: no version

    timers = await timers_of(make(SYSTEM), NUMBER)
    assert len(timers) == 6
    assert len({t.id for t in timers}) == 6


async def test_an_event_without_a_deadline_list_cancels_nothing(make: Make) -> None:
    """An older producer's event carries no deadlines (CONTRACT.md: added within v1, optional)."""
    await apply(make, "e1", update(1, first_response()))
    await apply(make, "e2", update(2))

    assert {t.state for t in await timers_of(make(SYSTEM), NUMBER)} == {TimerState.PENDING}
