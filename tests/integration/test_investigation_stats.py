"""Statistics investigation owns (DOMAIN.md §6) over HTTP, on SQLite and PostgreSQL.

Random cases are driven through the domain and saved; every figure the API answers is then
recounted in Python from the cases themselves (not from any table), for the factories the
caller may see, and callers only ever see their own factories.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from cqm_shared.clock import FakeClock
from cqm_shared.db import create_engine, session_factory, upgrade
from cqm_shared.policy import PolicyBook
from investigation.domain.model import Case
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import PartyKind
from investigation.main import create_app
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, auth, migrations_dir, service_settings
from tests.infrastructure import create_database, drop_database
from tests.integration import investigation_cases as ic

NOW = ic.at("2026-12-15 00:00")
BASE = "/api/v1/stats/investigations"


@dataclass
class World:
    app: FastAPI
    cases: dict[str, Case]  # as saved last


async def populate(url: str) -> dict[str, Case]:
    """80 cases in F01 and F02 opened over four months, 1,000 random steps, four cases a unit of work."""
    await asyncio.to_thread(upgrade, migrations_dir("investigation"), url)
    engine = create_engine(url)
    policies = PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)
    make = ic.units(session_factory(engine), FakeClock(NOW))
    rng = random.Random(615)
    saved: dict[str, Case] = {}
    now: dict[str, datetime] = {}
    for i in range(80):
        factory = rng.choice(("F01", "F02"))
        received = ic.at("2026-08-01 00:00") + timedelta(seconds=rng.randrange(0, 120 * 86400))
        complaint = ic.facts(f"{factory}-S-{i:03d}", factory, received, rng)
        case = Case.open(
            complaint, policies.for_factory(factory), at=complaint.registered_at, by="system", reason="registered"
        )
        saved[case.number], now[case.number] = case, case.opened_at
    await ic.store_new(make, list(saved.values()))

    def step(case: Case) -> None:
        at = now[case.number] = min(ic.later(now[case.number], rng), NOW - timedelta(hours=1))
        ic.random_step(case, policies.for_factory(case.factory), rng, at)

    try:
        for _ in range(250):
            for case in await ic.change(make, rng.sample(list(saved), 4), step):
                saved[case.number] = case
    finally:
        await engine.dispose()
    return saved


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """One database per backend for the whole module: the tests only read it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('stats') / 'service.db'}"
        yield url, asyncio.run(populate(url))
        return
    server: str = request.getfixturevalue("postgres_server_url")
    name = f"cqm_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server, name)
    try:
        yield url, asyncio.run(populate(url))
    finally:
        drop_database(server, name)


@pytest.fixture
async def world(populated: tuple[str, dict[str, Case]]) -> AsyncIterator[World]:
    url, saved = populated
    settings = service_settings("investigation", url, BrokerNamespace("amqp://unused"))
    app = create_app(settings, clock=FakeClock(NOW))  # no lifespan: reads need no broker
    try:
        yield World(app, saved)
    finally:
        await app.state.runtime.engine.dispose()


async def get(
    world: World, path: str, roles: str = "quality_engineer", factories: str | list[str] = "F01", **params: Any
) -> Any:
    async with asgi_client(world.app, auth(roles, factories)) as client:
        answer = await client.get(f"{BASE}/{path}", params=params)
    return answer


def month(case: Case) -> str:
    return f"{case.opened_at:%Y-%m}"


def mine(world: World, factories: set[str], first: str = "0000-01", last: str = "9999-12") -> list[Case]:
    return [c for c in world.cases.values() if c.factory in factories and first <= month(c) <= last]


async def test_on_time_rates_count_what_the_cases_say_for_the_factories_one_sees(world: World) -> None:
    answer = await get(world, "on-time", factory="F01", **{"from": "2026-08", "to": "2026-12"})
    assert answer.status_code == 200, answer.text
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for case in mine(world, {"F01"}, "2026-08", "2026-12"):
        for d in case.deadlines:
            counts = expected[d.milestone.split(":")[0]]
            if d.met_at is not None:
                counts["on_time" if d.met_at <= d.due_at else "late"] += 1
            elif d.cancelled_at is not None:
                counts["cancelled"] += 1
            elif d.due_at < NOW:
                counts["breached"] += 1
    body = answer.json()
    got = {
        m["milestone"]: Counter({k: m[k] for k in ("on_time", "late", "cancelled", "breached") if m[k]})
        for m in body["milestones"]
    }
    assert got == {k: v for k, v in expected.items() if v}
    first = next(m for m in body["milestones"] if m["milestone"] == "first_response")
    assert first["on_time_rate"] == round(first["on_time"] / (first["on_time"] + first["late"] + first["breached"]), 4)
    assert {m["month"] for m in body["by_month"]} <= {"2026-08", "2026-09", "2026-10", "2026-11", "2026-12"}
    assert sum(m["on_time"] for m in body["by_month"]) == sum(m["on_time"] for m in body["milestones"])

    everything = (await get(world, "on-time", factories="*", **{"from": "2026-01", "to": "2026-12"})).json()
    assert sum(m["on_time"] for m in everything["milestones"]) > sum(m["on_time"] for m in body["milestones"])


async def test_cycle_times_departments_and_accident_classes_match_the_cases(world: World) -> None:
    period = {"from": "2026-08", "to": "2026-12"}
    cases = mine(world, {"F01", "F02"}, "2026-08", "2026-12")
    cycle = (await get(world, "cycle-times", factories=["F01", "F02"], **period)).json()
    done = [c for c in cases if c.closed_at is not None and c.outcome != "withdrawn"]
    assert (cycle["opened"], cycle["closed"]) == (len(cases), len(done))
    assert cycle["withdrawn"] == sum(c.outcome == "withdrawn" for c in cases)
    days = sorted(int((c.closed_at - c.opened_at).total_seconds()) // 86400 for c in done if c.closed_at)
    assert done and cycle["p50_days"] == days[(len(days) + 1) // 2 - 1]
    seconds = sum(int((c.closed_at - c.opened_at).total_seconds()) for c in done if c.closed_at)
    assert cycle["mean_days"] == round(seconds / len(done) / 86400, 2)
    assert {o["outcome"]: o["cases"] for o in cycle["by_outcome"]} == dict(Counter(c.outcome or "open" for c in cases))

    departments = (await get(world, "departments", factories=["F01", "F02"], **period)).json()
    counted: Counter[str | None] = Counter()
    shares: dict[str | None, Decimal] = defaultdict(Decimal)
    for case in cases:
        resp = case.records.responsibility
        for party in resp.parties if resp else ():
            name = party.department or (party.name if party.kind is PartyKind.DEPARTMENT else None)
            shares[name] += party.share / 100
        named = (
            {p.department or (p.name if p.kind is PartyKind.DEPARTMENT else None) for p in resp.parties}
            if resp
            else set()
        )
        counted.update(named)
    assert {d["department"]: d["cases"] for d in departments["departments"]} == dict(counted)
    assert {d["department"]: Decimal(d["share_cases"]) for d in departments["departments"]} == dict(shares)
    assert [d["cases"] for d in departments["departments"]] == sorted(counted.values(), reverse=True)  # Pareto

    classes = (await get(world, "accident-classes", factories=["F01", "F02"], **period)).json()
    by_cause: Counter[str] = Counter()
    losses: dict[str, Decimal] = defaultdict(Decimal)
    for case in cases:
        resp = case.records.responsibility
        if resp is not None:
            by_cause[resp.cause_class.value] += 1
            losses[resp.cause_class.value] += resp.loss_amount.quantize(Decimal("0.01"))
    assert {c["accident_class"]: c["cases"] for c in classes["by_cause"]} == dict(by_cause)
    assert {c["accident_class"]: Decimal(c["loss"]) for c in classes["by_cause"]} == dict(losses)
    assert sum(c["cases"] for c in classes["by_loss"]) == sum(by_cause.values())


async def test_the_overdue_list_is_most_overdue_first_paginated_and_only_of_visible_factories(world: World) -> None:
    expected = sorted(
        (d.due_at, c.number, d.milestone, d.round)
        for c in world.cases.values()
        if c.factory == "F02"
        for d in c.deadlines
        if d.pending and d.due_at < NOW
    )
    assert len(expected) > 12
    pages = [(await get(world, "overdue", factories="F02", limit=5, offset=o)).json() for o in range(0, 15, 5)]
    assert {p["total"] for p in pages} == {len(expected)}
    items = [i for p in pages for i in p["items"]]
    assert [(i["number"], i["milestone"], i["round"]) for i in items] == [e[1:] for e in expected[:15]]
    assert {i["factory"] for i in items} == {"F02"}
    assert all(i["case_state"] == world.cases[i["number"]].state.value for i in items)

    both = (await get(world, "overdue", factories="*", limit=500)).json()
    assert both["total"] > len(expected) and {i["factory"] for i in both["items"]} == {"F01", "F02"}


async def test_a_factory_one_may_not_see_is_not_found_and_roles_without_stats_are_refused(world: World) -> None:
    for path in ("on-time", "cycle-times", "departments", "accident-classes", "overdue"):
        assert (await get(world, path, factories="F01", factory="F02")).status_code == 404, path
        assert (await get(world, path, factories="F01", factory="F01")).status_code == 200, path
        assert (await get(world, path, roles="auditor", factories="*", factory="F02")).status_code == 200, path
        assert (await get(world, path, roles="customer_service")).status_code == 403, path


async def test_months_are_checked(world: World) -> None:
    assert (await get(world, "on-time", **{"from": "2026-13"})).status_code == 422
    backwards = await get(world, "cycle-times", **{"from": "2026-12", "to": "2026-01"})
    assert backwards.status_code == 200 and backwards.json()["opened"] == 0  # an empty period
    assert (await get(world, "overdue", limit=0)).status_code == 422
    default = (await get(world, "departments")).json()
    assert (default["first"], default["last"]) == ("2026-01", "2026-12")  # the twelve months up to now
