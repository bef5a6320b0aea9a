"""The case list `GET /api/v1/investigations` (the console's "My work" 我的待办 and case list) over
HTTP, on SQLite and PostgreSQL.

Random cases are driven through the domain and saved; every page the API answers is then
compared with what `investigation.domain.listing` says the list holds, computed from the cases
themselves (not from any table), for the factories the caller may see: filters, both orders,
keyset pages of every size, overdue by the service's fake clock (DOMAIN.md §3 "Deadlines"), and
callers only ever see their own factories.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI

from cqm_shared.clock import FakeClock
from cqm_shared.db import alembic_config, create_engine, ensure_sqlite_folder, session_factory, upgrade
from cqm_shared.policy import PolicyBook
from investigation.adapters.orm import cases as cases_table
from investigation.config import InvestigationSettings
from investigation.domain import listing
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort
from investigation.domain.model import Case
from investigation.domain.policy import InvestigationPolicy
from investigation.main import create_app
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, auth, migrations_dir, service_settings
from tests.infrastructure import create_database, drop_database
from tests.integration import investigation_cases as ic

NOW = ic.at("2026-12-15 00:00")
BASE = "/api/v1/investigations"
PROBLEM = "application/problem+json"


@dataclass
class World:
    app: FastAPI
    clock: FakeClock
    cases: dict[str, Case]  # as saved last


async def populate(url: str) -> dict[str, Case]:
    """90 cases in F01 and F02 received over seven weeks up to half a day before NOW, 600 random
    steps four cases a unit of work: open, closed, reopened and withdrawn ones, with deadlines
    past due, due soon and met."""
    await asyncio.to_thread(upgrade, migrations_dir("investigation"), url)
    engine = create_engine(url)
    policies = PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)
    make = ic.units(session_factory(engine), FakeClock(NOW))
    rng = random.Random(1202)
    saved: dict[str, Case] = {}
    now: dict[str, datetime] = {}
    for i in range(90):
        factory = rng.choice(("F01", "F02"))
        received = ic.at("2026-10-25 00:00") + timedelta(seconds=rng.randrange(0, 50 * 86400 + 43200))
        complaint = ic.facts(f"{factory}-L-{i:03d}", factory, received, rng)
        case = Case.open(
            complaint, policies.for_factory(factory), at=complaint.registered_at, by="system", reason="registered"
        )
        saved[case.number], now[case.number] = case, case.opened_at
    await ic.store_new(make, list(saved.values()))

    def step(case: Case) -> None:
        at = now[case.number] = min(ic.later(now[case.number], rng), NOW - timedelta(hours=1))
        ic.random_step(case, policies.for_factory(case.factory), rng, at)

    try:
        for _ in range(150):
            for case in await ic.change(make, rng.sample(list(saved), 4), step):
                saved[case.number] = case
    finally:
        await engine.dispose()
    return saved


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """One database per backend for the whole module: the tests only read it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('list') / 'service.db'}"
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
    assert isinstance(settings, InvestigationSettings)
    clock = FakeClock(NOW)
    app = create_app(settings, clock=clock)  # no lifespan: reads need no broker
    try:
        yield World(app, clock, saved)
    finally:
        await app.state.runtime.engine.dispose()


async def get(world: World, roles: str = "quality_engineer", factories: str | list[str] = "F01", **params: Any) -> Any:
    async with asgi_client(world.app, auth(roles, factories)) as client:
        return await client.get(BASE, params=params)


async def walk(world: World, limit: int, factories: str | list[str] = "F01", **params: Any) -> list[dict[str, Any]]:
    """Every page, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(200):
        answer = await get(world, factories=factories, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == limit  # a page with a next one is full
    raise AssertionError("the pages never ended")


def expected(world: World, f: CaseFilter, sort: CaseSort, now: datetime = NOW) -> list[CaseLine]:
    return listing.page(world.cases.values(), f, sort=sort, after=None, limit=10**6, now=now)


def shown(line: CaseLine) -> dict[str, Any]:
    """A line as the API must show it."""
    d = line.next_deadline
    return {
        "number": line.number,
        "factory": line.factory,
        "state": line.state,
        "severity": line.severity,
        "responsible_department": line.responsible_department,
        "departments": list(line.departments),
        "opened_at": line.opened_at,
        "next_deadline": {
            "milestone": d.milestone,
            "round": d.round,
            "due_at": d.due_at,
            "state": "pending",
            "overdue": line.overdue,
        }
        if d
        else None,
        "pending_deadlines": line.pending_deadlines,
        "overdue_deadlines": line.overdue_deadlines,
    }


def read(item: dict[str, Any]) -> dict[str, Any]:
    """An item with its times parsed (both databases answer the same instants)."""
    out = {**item, "opened_at": datetime.fromisoformat(item["opened_at"])}
    if item["next_deadline"]:
        out["next_deadline"] = {
            **item["next_deadline"],
            "due_at": datetime.fromisoformat(item["next_deadline"]["due_at"]),
        }
    return out


F01 = frozenset({"F01"})
SOON = NOW + timedelta(days=3)
# (query parameters, the filter they mean for an F01 caller)
FILTERS: list[tuple[dict[str, Any], CaseFilter]] = [
    ({}, CaseFilter(F01)),
    ({"state": ["open"]}, CaseFilter(F01, states=listing.states_named(["open"]))),
    ({"state": ["closed", "withdrawn"]}, CaseFilter(F01, states=frozenset({"closed", "withdrawn"}))),
    ({"state": ["triaged", "actions_open"]}, CaseFilter(F01, states=frozenset({"triaged", "actions_open"}))),
    ({"overdue": "true"}, CaseFilter(F01, overdue=True)),
    ({"overdue": "false", "state": ["open"]}, CaseFilter(F01, states=listing.states_named(["open"]), overdue=False)),
    ({"due_before": SOON.isoformat()}, CaseFilter(F01, due_before=SOON)),
    ({"overdue": "false", "due_before": SOON.isoformat()}, CaseFilter(F01, overdue=False, due_before=SOON)),
    ({"department": "QC"}, CaseFilter(F01, department="QC")),
    (
        {"department": "PC workshop 1", "state": ["open"]},
        CaseFilter(F01, listing.states_named(["open"]), "PC workshop 1"),
    ),
    ({"number_prefix": "F01-L-01"}, CaseFilter(F01, number_prefix="F01-L-01")),
]


@pytest.mark.parametrize("sort", list(CaseSort))
async def test_every_filter_pages_through_what_the_cases_say_in_both_orders(world: World, sort: CaseSort) -> None:
    """Pages of 7 and of 50, walked by cursor, hold exactly the listed lines, in order."""
    for params, f in FILTERS:
        want = [shown(line) for line in expected(world, f, sort)]
        assert want, params  # every filter keeps some cases (and not all: see below)
        for limit in (7, 50):
            got = [read(i) for i in await walk(world, limit, sort=sort.value, **params)]
            assert got == want, (params, limit)
    everything = expected(world, CaseFilter(F01), sort)
    assert len(everything) > 30
    assert any(line.next_deadline is None for line in everything)  # closed or withdrawn, nothing pending
    assert any(line.overdue for line in everything) and any(
        line.next_deadline and not line.overdue for line in everything
    )
    assert len(expected(world, CaseFilter(F01, department="QC"), sort)) > 2


async def test_the_due_order_puts_the_next_deadline_first_and_the_cases_without_one_last(world: World) -> None:
    items = await walk(world, 200)
    dues = [i["next_deadline"]["due_at"] for i in items if i["next_deadline"]]
    assert [datetime.fromisoformat(d) for d in dues] == sorted(datetime.fromisoformat(d) for d in dues)
    tail = items[len(dues) :]
    assert tail and all(i["next_deadline"] is None for i in tail)
    assert [i["opened_at"] for i in tail] == sorted((i["opened_at"] for i in tail), reverse=True)
    first = items[0]
    assert first["next_deadline"]["overdue"] and first["overdue_deadlines"] >= 1


async def test_overdue_is_judged_by_the_service_clock(world: World) -> None:
    """DOMAIN.md §3 "Deadlines": a pending deadline past due is overdue, by the injected clock."""
    before = {i["number"] for i in await walk(world, 50, overdue="true")}
    world.clock.set(NOW + timedelta(days=20))
    after = await walk(world, 50, overdue="true")
    assert before < {i["number"] for i in after}
    assert [read(i) for i in after] == [
        shown(line) for line in expected(world, CaseFilter(F01, overdue=True), CaseSort.DUE, NOW + timedelta(days=20))
    ]


async def test_a_factory_user_never_sees_another_factory(world: World) -> None:
    """Only the caller's factories; a factory they may not see answers 404, as if it did not exist."""
    mine = await walk(world, 200)
    assert mine and {i["factory"] for i in mine} == {"F01"}
    hidden = await get(world, factory="F02")
    assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM
    assert (await get(world, factory="F01")).status_code == 200
    f02 = await walk(world, 200, factories="F02", factory="F02", state=["open"])
    assert f02 and {i["factory"] for i in f02} == {"F02"}
    both = await walk(world, 200, factories="*")
    assert {i["factory"] for i in both} == {"F01", "F02"} and len(both) == len(world.cases)
    assert [i["number"] for i in await walk(world, 200, factories=["F01", "F02"], factory="F02")] == [
        line.number for line in expected(world, CaseFilter(frozenset({"F02"})), CaseSort.DUE)
    ]


async def test_roles_without_investigations_read_are_refused_and_bad_parameters_are_422(world: World) -> None:
    assert (await get(world, roles="finance")).status_code == 403
    assert (await get(world, roles="department_head")).status_code == 200
    assert (await get(world, roles="customer_service")).status_code == 200
    for bad in (
        {"limit": 0},
        {"limit": 201},
        {"state": "nonsense"},
        {"sort": "number"},
        {"overdue": "maybe"},
        {"due_before": "12345"},  # a number is not a time (pydantic would read seconds since 1970)
        {"due_before": "2026-12-01T00:00:00"},  # no offset
        {"cursor": "x~1~F01"},
        {"cursor": "d~1~F01 drop"},
        {"factory": "f01"},
        {"number_prefix": "F01%"},
        {"department": ""},
        {"factory": ["F01", "F02"]},  # a single value given twice: never silently the last one
        {"limit": ["5", "6"]},
    ):
        answer = await get(world, **bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == PROBLEM


# -- the next due time column and its migration ------------------------------------------------------


async def test_migration_0006_fills_each_cases_next_due_time_and_goes_back(database_url: str) -> None:
    """The column the list sorts by is filled from the pending deadlines, and kept on every save."""
    await asyncio.to_thread(upgrade, migrations_dir("investigation"), database_url)
    engine = create_engine(database_url)
    policies = PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)
    make = ic.units(session_factory(engine), FakeClock(NOW))
    rng = random.Random(6)
    new = [
        Case.open(
            ic.facts(f"F01-M-{i}", "F01", NOW - timedelta(days=i)),
            policies.for_factory("F01"),
            at=NOW,
            by="s",
            reason="r",
        )
        for i in range(6)
    ]
    try:
        await ic.store_new(make, new)
        await ic.change(make, [c.number for c in new[:3]], lambda c: c.withdraw(at=NOW, by="s", reason="withdrawn"))
        await ic.change(make, [new[3].number], lambda c: c.triage(ic.triage(NOW, rng), policies.for_factory("F01")))
        want = {c.number: listing.next_deadline(await ic.load(make, c.number)) for c in new}
        assert sum(d is None for d in want.values()) == 3

        async def stored() -> dict[str, datetime | None]:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.select(cases_table.c.number, cases_table.c.next_due_at))
                return {number: due for number, due in rows}

        kept = {n: d.due_at if d else None for n, d in want.items()}
        assert await stored() == kept  # kept by the repository
        folder = migrations_dir("investigation")
        ensure_sqlite_folder(database_url)
        await engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0005")
        await asyncio.to_thread(upgrade, folder, database_url)
        assert await stored() == kept  # filled by the migration
    finally:
        await engine.dispose()
