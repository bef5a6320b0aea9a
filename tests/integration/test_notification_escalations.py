"""Escalation levels `GET /api/v1/escalations` through the real notification app on SQLite and
PostgreSQL, on a fake clock: timers scheduled from cases' deadlines and fired by the service's
own timer worker (逾期反应, DOMAIN.md §3 "Deadlines": department head -> director -> GM; §5
"deadlines -> reminders before, escalation after").

Each pending deadline is listed with the highest breach or escalation level fired and the next
timer; a met, cancelled or moved deadline leaves the list even once every level fired. After a
random mix of events and firings the pages agree with what the timers themselves say
(`notification.domain.timers`), and a factory user never sees another factory's deadlines.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI

from cqm_shared.clock import FakeClock
from cqm_shared.db import UTCDateTime, alembic_config, create_engine, ensure_sqlite_folder, upgrade
from cqm_shared.uow import system_actor
from notification.adapters.orm import timers
from notification.bootstrap import NotificationService
from notification.config import NotificationSettings
from notification.domain.model import Cause
from notification.domain.timers import DeadlineFact, EscalationState, Timer, escalation_state, open_deadlines
from notification.main import create_app
from notification.service.handlers import DeadlineUpdate, timers_of, track_deadlines
from tests.conftest import POLICY_DIR
from tests.helpers import asgi_client, auth, migrations_dir
from tests.unit.fakes import T0

HOUR = timedelta(hours=1)
SYSTEM = system_actor("/services/notification")
PROBLEM = "application/problem+json"
MINE, OTHER, THEIRS = "F01-2611-0101", "F01-2611-0102", "F02-2611-0101"


@dataclass
class World:
    app: FastAPI
    clock: FakeClock
    service: NotificationService
    versions: dict[str, int]

    async def deadlines(self, number: str, *facts: DeadlineFact, department: str | None = "装配车间") -> None:
        """An investigation event stating the case's deadlines (a newer version each time)."""
        version = self.versions[number] = self.versions.get(number, 0) + 1
        update = DeadlineUpdate(
            key=f"case:{number}",
            factory=number[:3],
            number=number,
            producer="investigation",
            version=version,
            deadlines=facts,
            department=department,
        )
        cause = Cause(f"{number}-v{version}", "investigation.updated")
        await track_deadlines(self.service.units_of_work(SYSTEM, None), cause, update, self.service.notifying, why="t")

    async def at(self, when: datetime) -> int:
        """The clock moves on and the service's timer worker fires what fell due."""
        self.clock.set(when)
        return await self.service.timer_worker.drain()


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(migrations_dir("notification"), database_url)
    yield database_url


@pytest.fixture
async def world(migrated: str) -> AsyncIterator[World]:
    settings = NotificationSettings(
        environment="test", database_url=migrated, policy_dir=POLICY_DIR, workers=False, queue_prefix="t."
    )
    clock = FakeClock(T0)
    app = create_app(settings, clock=clock)  # no lifespan: the test drives the timer worker itself
    try:
        yield World(app, clock, app.state.service, {})
    finally:
        await app.state.runtime.engine.dispose()


def due(milestone: str, at: datetime, state: str = "pending") -> DeadlineFact:
    return DeadlineFact(milestone, at, state, 1, "seed 001 §1.2.1")


async def get(world: World, roles: str = "department_head", factories: str | list[str] = "F01", **params: Any) -> Any:
    async with asgi_client(world.app, auth(roles, factories)) as client:
        return await client.get("/api/v1/escalations", params=params)


async def listed(world: World, factories: str | list[str] = "F01", **params: Any) -> list[dict[str, Any]]:
    answer = await get(world, factories=factories, **params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def walk(world: World, limit: int, factories: str | list[str] = "*") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        answer = await get(world, factories=factories, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


def level(item: dict[str, Any]) -> tuple[str, int | None, tuple[str, int, datetime] | None]:
    nxt = item["next"]
    return (
        item["milestone"],
        item["level"],
        (nxt["kind"], nxt["level"], datetime.fromisoformat(nxt["fire_at"])) if nxt else None,
    )


async def test_a_deadline_climbs_from_breach_to_the_general_manager_and_leaves_when_met(world: World) -> None:
    """Policy default: the breach at the due time tells the owner (level 0); levels 1, 2, 3 follow
    4 h, 24 h and 72 h after it: department head, director, general manager."""
    first, close = T0 + 24 * HOUR, T0 + 120 * HOUR
    await world.deadlines(MINE, due("first_response", first), due("close", close))

    [before, later] = await listed(world)
    assert level(before) == ("first_response", None, ("reminder", 0, T0 + 12 * HOUR))
    assert {k: before[k] for k in ("number", "factory", "producer", "round", "overdue", "reached_at")} == {
        "number": MINE,
        "factory": "F01",
        "producer": "investigation",
        "round": 1,
        "overdue": False,
        "reached_at": None,
    }
    assert (before["owner"], before["department"]) == ("customer_service", "装配车间")  # seed 001 §1.2.1
    assert datetime.fromisoformat(before["due_at"]) == first and later["milestone"] == "close"

    await world.at(first)
    assert level((await listed(world))[0]) == ("first_response", 0, ("escalation", 1, first + 4 * HOUR))
    for when, reached, nxt in (
        (first + 4 * HOUR, 1, ("escalation", 2, first + 24 * HOUR)),
        (first + 24 * HOUR, 2, ("escalation", 3, first + 72 * HOUR)),
        (first + 72 * HOUR, 3, None),
    ):
        await world.at(when)
        item = (await listed(world))[0]
        assert level(item) == ("first_response", reached, nxt)
        assert item["overdue"] is True and datetime.fromisoformat(item["reached_at"]) == when

    await world.at(first + 90 * HOUR)
    assert [level(i)[:2] for i in await listed(world)] == [("first_response", 3), ("close", None)]
    # the first response is given at last: off the list, though every level had fired
    await world.deadlines(MINE, due("first_response", first, "met"), due("close", close))
    assert [i["milestone"] for i in await listed(world)] == ["close"]
    async with world.service.runtime.sessions() as session:
        rows = (await session.execute(sa.select(timers).where(timers.c.milestone == "first_response"))).all()
    assert {r.state for r in rows} == {"fired"} and {r.settled_at for r in rows} == {world.clock.now()}


async def test_a_factory_user_never_sees_another_factorys_deadlines(world: World) -> None:
    await world.deadlines(MINE, due("first_response", T0 + 24 * HOUR))
    await world.deadlines(THEIRS, due("first_response", T0 + 20 * HOUR), department="机加车间")
    await world.at(T0 + 30 * HOUR)

    assert [(i["number"], i["level"]) for i in await listed(world)] == [(MINE, 1)]
    hidden = await get(world, factory="F02")
    assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM
    assert await listed(world, complaint=THEIRS) == []
    both = await listed(world, factories="*")
    assert [(i["number"], i["factory"], i["department"]) for i in both] == [
        (THEIRS, "F02", "机加车间"),
        (MINE, "F01", "装配车间"),
    ]
    assert [i["number"] for i in await listed(world, factories="*", factory="F02")] == [THEIRS]
    assert [i["number"] for i in await listed(world, factories="*", complaint=MINE)] == [MINE]


async def test_every_human_role_reads_it_and_bad_parameters_are_422(world: World) -> None:
    """Everyone with "My work" reads the escalation levels (notifications:read)."""
    for role in ("customer_service", "quality_engineer", "department_head", "production_operations", "auditor"):
        assert (await get(world, roles=role)).status_code == 200, role
    assert (await get(world, roles="integration")).status_code == 403
    for bad in (
        {"limit": 0},
        {"limit": 201},
        {"factory": "f01"},
        {"complaint": ""},
        {"complaint": "x" * 33},
        {"cursor": "nonsense"},
        {"cursor": "1~case:F01 x~first_response~1"},
        {"factory": ["F01", "F02"]},  # a single value given twice: never silently the last one
        {"complaint": [MINE, THEIRS]},
    ):
        answer = await get(world, **bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == PROBLEM


def expected(all_timers: list[Timer], departments: dict[str, str | None], now: datetime) -> list[EscalationState]:
    groups = open_deadlines(all_timers)
    return [
        escalation_state(
            sorted(groups[k], key=lambda t: (t.fire_at, t.level)),
            now=now,
            department=departments.get(k.track),
            owner=None,
        )
        for k in sorted(groups)
    ]


async def test_after_random_events_and_firings_the_pages_say_what_the_timers_say(world: World) -> None:
    """Twelve cases in two factories, deadlines met, cancelled, moved and escalated at random."""
    rng = random.Random(1203)
    milestones = ("first_response", "customer_reply", "close", "feedback_slip")
    numbers = [f"{'F01' if i % 3 else 'F02'}-2611-02{i:02d}" for i in range(12)]
    state: dict[str, dict[str, DeadlineFact]] = {}
    departments: dict[str, str | None] = {}
    for number in numbers:
        chosen = rng.sample(milestones, rng.choice((1, 2, 3)))
        state[number] = {m: due(m, T0 + rng.randrange(2, 300) * HOUR) for m in chosen}
        departments[f"case:{number}"] = rng.choice(("装配车间", "机加车间", None))
        await world.deadlines(number, *state[number].values(), department=departments[f"case:{number}"])
    now = T0
    for _ in range(25):
        now += rng.randrange(1, 12) * HOUR
        await world.at(now)
        number = rng.choice(numbers)
        milestone = rng.choice(list(state[number]))
        old = state[number][milestone]
        if old.pending:
            change = rng.choice(("met", "cancelled", "moved", "same"))
            moved = now + rng.randrange(1, 50) * HOUR
            state[number][milestone] = (
                due(milestone, moved)
                if change == "moved"
                else due(milestone, old.due_at, "pending" if change == "same" else change)
            )
        await world.deadlines(number, *state[number].values(), department=departments[f"case:{number}"])

    everything: list[Timer] = []
    for number in numbers:
        everything += await timers_of(world.service.units_of_work(SYSTEM, None), number)
    want = expected(everything, departments, world.clock.now())
    assert len(want) >= 5 and {e.level for e in want} >= {None, 3}
    got = await walk(world, 4)
    assert [
        (i["number"], i["milestone"], datetime.fromisoformat(i["due_at"]), i["level"], i["overdue"], i["department"])
        for i in got
    ] == [(e.number, e.deadline.milestone, e.deadline.due_at, e.level, e.overdue, e.department) for e in want]
    assert [i["next"] and (i["next"]["kind"], i["next"]["level"]) for i in got] == [
        e.next and (e.next.kind.value, e.next.level) for e in want
    ]
    mine = await walk(world, 3, factories="F01")
    assert mine == [i for i in got if i["factory"] == "F01"]
    pending = {(n, m) for n, facts in state.items() for m, f in facts.items() if f.pending}
    assert {(i["number"], i["milestone"]) for i in got} == pending  # exactly the deadlines still pending


# -- migration 0004 ------------------------------------------------------------------------------


async def test_migration_0004_settles_what_fired_for_deadlines_that_stopped_pending(database_url: str) -> None:
    """Timers stored before the escalation list: a fired timer whose deadline's breach or an
    escalation timer was cancelled settles (the deadline stopped pending then); a deadline whose
    timers all fired cannot tell and stays listed."""
    folder = migrations_dir("notification")
    ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0003")
    old = sa.table(
        "timers",
        *(sa.column(n, sa.String) for n in ("id", "track", "number", "factory", "milestone", "kind", "state")),
        *(sa.column(n, sa.String) for n in ("producer",)),
        *(sa.column(n, sa.Integer) for n in ("round", "level", "version")),
        *(sa.column(n, UTCDateTime) for n in ("due_at", "fire_at", "created_at", "fired_at", "cancelled_at")),
    )
    met_at = T0 + 30 * HOUR

    def row(milestone: str, kind: str, level: int, state: str, fire: datetime) -> dict[str, Any]:
        return {
            "id": f"{milestone}-{kind}-{level}",
            "track": f"case:{MINE}",
            "number": MINE,
            "factory": "F01",
            "milestone": milestone,
            "kind": kind,
            "state": state,
            "producer": "investigation",
            "round": 1,
            "level": level,
            "version": 2,
            "due_at": T0 + 24 * HOUR,
            "fire_at": fire,
            "created_at": T0,
            "fired_at": fire if state == "fired" else None,
            "cancelled_at": met_at if state == "cancelled" else None,
        }

    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old),
            [
                # met 6 h after it was due: breach and level 1 had fired, level 2 was cancelled
                row("first_response", "reminder", 0, "fired", T0 + 12 * HOUR),
                row("first_response", "breach", 0, "fired", T0 + 24 * HOUR),
                row("first_response", "escalation", 1, "fired", T0 + 28 * HOUR),
                row("first_response", "escalation", 2, "cancelled", T0 + 48 * HOUR),
                # still pending after every level fired
                row("close", "breach", 0, "fired", T0 + 24 * HOUR),
                row("close", "escalation", 1, "fired", T0 + 28 * HOUR),
            ],
        )
    await engine.dispose()

    await asyncio.to_thread(upgrade, folder, database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            settled = {i: at for i, at in await conn.execute(sa.select(timers.c.id, timers.c.settled_at))}
    finally:
        await engine.dispose()
    assert settled == {
        "first_response-reminder-0": met_at,
        "first_response-breach-0": met_at,
        "first_response-escalation-1": met_at,
        "first_response-escalation-2": None,  # cancelled: it never counted
        "close-breach-0": None,
        "close-escalation-1": None,
    }
    await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0003")
    await asyncio.to_thread(upgrade, folder, database_url)
