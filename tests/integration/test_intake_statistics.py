"""Intake's complaint statistics (DOMAIN.md §6 统计) on SQLite and PostgreSQL: the rollups kept in
the transaction of every change, and the statistics API answering from them.

Hundreds of complaints are registered through the use cases over 22 months in F01 and F02, with
mixed products (part numbers, models only), defect types (none too), channels and repeats
(DOMAIN.md §2: linked to the first of the chain, never counted again as complaints); then
random corrections change their defect type, product and channel, some are withdrawn, some get
a severity, one to three per unit of work. Afterwards every rollup row must equal a GROUP BY
over the complaint rows, and also the count of the records themselves (each complaint's day
recomputed from its registration time in Asia/Shanghai); every figure the API answers must
equal the figure counted from the rows, for the factories the caller may see only.
Migration 0005 carries complaints stored before it into the columns and the rollups.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintForm, Severity
from cqm_shared.db import UTCDateTime, alembic_config, create_engine, ensure_sqlite_folder, session_factory, upgrade
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor
from intake.adapters.orm import (
    ROLLUPS,
    audit_log,
    complaints,
    tables,
)
from intake.adapters.publishing import to_public
from intake.adapters.unit_of_work import SqlIntakeUnitOfWork
from intake.config import IntakeSettings
from intake.domain.policy import IntakePolicy
from intake.main import create_app
from intake.service.handlers import SOURCE, register_complaint, set_severity
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, auth, migrations_dir, service_settings
from tests.infrastructure import create_database, drop_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
START = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
HEAD_OFFICE = Actor("user:qm", None)
BASE = "/api/v1/stats/complaints"
DEFECTS = ("crack 裂纹", "dent 凹陷", "rust 锈蚀", "size 尺寸超差", None)
CHANNELS = ("portal", "phone", "email", "wechat", "system")
COMPANIES = ("华东建工", "Acme Precast", "北方路桥")

Make = Callable[..., SqlIntakeUnitOfWork]


def units(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Make:
    def make(actor: Actor = HEAD_OFFICE) -> SqlIntakeUnitOfWork:
        return SqlIntakeUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            clock=clock,
            actor=actor,
            source=SOURCE,
            translate=to_public,
        )

    return make


def random_form(rng: random.Random) -> dict[str, Any]:
    part = rng.choice(("PC-1", "PC-2", "PC-3", "PC-4", None))
    product: dict[str, Any] = {"order_number": rng.choice(("SO-1", "SO-2", "SO-3"))}
    if part is None:
        product["model"] = rng.choice(("M-7", "M-8"))
    else:
        product["part_number"] = part
    data: dict[str, Any] = {
        "factory": rng.choice(("F01", "F02")),
        "channel": rng.choice(CHANNELS),
        "customer": {"company": rng.choice(COMPANIES), "contact_name": "王", "phone": "13800000000"},
        "product": product,
        "phenomenon": "裂纹 crack",
    }
    defect = rng.choice(DEFECTS)
    if defect is not None:
        data["defect_type"] = defect
    return data


async def populate(url: str) -> None:
    """420 complaints (a quarter of them sent again soon after: repeats), then 150 changes."""
    await asyncio.to_thread(upgrade, migrations_dir("intake"), url)
    engine = create_engine(url)
    policies = PolicyBook(POLICY_DIR, "intake", IntakePolicy)
    clock = FakeClock(START)
    make = units(session_factory(engine), clock)
    rng = random.Random(20261201)
    moments = sorted(START + timedelta(seconds=rng.randrange(0, 660 * 86400)) for _ in range(420))
    # on both sides of midnight in Shanghai at the end of a month (16:00 UTC)
    moments += [datetime(2026, 3, 31, 15, 59, tzinfo=UTC), datetime(2026, 3, 31, 16, 1, tzinfo=UTC)]
    sent: list[tuple[datetime, dict[str, Any]]] = []
    numbers: list[str] = []
    try:
        for at in sorted(moments):
            recent = [data for when, data in sent if at - when < timedelta(days=20)]
            data = rng.choice(recent) if recent and rng.random() < 0.25 else random_form(rng)
            sent.append((at, data))
            clock.set(at)
            registration = await register_complaint(make(), policies, ComplaintForm.model_validate(data), source="/t")
            numbers.append(registration.complaint.number)
        clock.set(NOW - timedelta(hours=1))
        withdrawn: set[str] = set()
        for _ in range(150):
            batch = [n for n in rng.sample(numbers, rng.choice((1, 1, 2, 3))) if n not in withdrawn]
            if rng.random() < 0.1 and batch:
                await set_severity(make(), batch[0], rng.choice(list(Severity)), actor=None, why="triaged")
                continue
            async with make() as uow:
                for number in batch:
                    complaint = await uow.complaints.get(number)
                    assert complaint is not None
                    step = rng.random()
                    if step < 0.2:
                        complaint.withdraw(reason="duplicate call", actor=uow.actor.id, at=clock.now())
                        withdrawn.add(number)
                        continue
                    record = complaint.details
                    changes: dict[str, Any] = {
                        "defect_type": rng.choice([d for d in DEFECTS if d != record.defect_type])
                    }
                    if step < 0.6:
                        product = record.product.model_dump(mode="json", exclude_none=True)
                        if product.pop("part_number", None) is None:
                            product["part_number"] = rng.choice(("PC-1", "PC-9"))
                        elif "model" not in product:
                            product["model"] = "M-9"
                        changes["product"] = product
                    if step < 0.4:
                        changes["channel"] = rng.choice([c for c in CHANNELS if c != record.channel.value])
                    complaint.amend(changes, reason="corrected", actor=uow.actor.id, at=clock.now())
                    if step > 0.95:
                        complaint.withdraw(reason="then withdrawn", actor=uow.actor.id, at=clock.now())
                        withdrawn.add(number)
                await uow.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the whole module: the tests only read it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('intake-stats') / 'service.db'}"
        asyncio.run(populate(url))
        yield url
        return
    server: str = request.getfixturevalue("postgres_server_url")
    name = f"cqm_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server, name)
    try:
        asyncio.run(populate(url))
        yield url
    finally:
        drop_database(server, name)


@dataclass(frozen=True)
class Fact:
    """What a complaint counts as, read from its stored record (not from any derived column)."""

    number: str
    factory: str
    day: int
    product: str
    defect_type: str
    channel: str
    kind: str  # complaint, repeat, withdrawn


@dataclass
class World:
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    facts: list[Fact]


def fact(number: str, factory: str, registered_at: datetime, record: dict[str, Any]) -> Fact:
    local = registered_at.astimezone(SHANGHAI)
    product = record["product"]
    kind = "repeat" if record.get("repeat_of") else "withdrawn" if record["status"] == "withdrawn" else "complaint"
    return Fact(
        number=number,
        factory=factory,
        day=local.year * 10000 + local.month * 100 + local.day,
        product=product.get("part_number") or product.get("model") or "",
        defect_type=record.get("defect_type") or "",
        channel=record["channel"],
        kind=kind,
    )


@pytest.fixture
async def world(populated: str) -> AsyncIterator[World]:
    settings = service_settings("intake", populated, BrokerNamespace("amqp://unused"))
    assert isinstance(settings, IntakeSettings)
    app = create_app(settings, clock=FakeClock(NOW))  # no lifespan: reads need no broker
    sessions: async_sessionmaker[AsyncSession] = app.state.runtime.sessions
    c = complaints
    async with sessions() as session:
        rows = (await session.execute(sa.select(c.c.number, c.c.factory, c.c.registered_at, c.c.record))).all()
    try:
        yield World(app, sessions, [fact(*row) for row in rows])
    finally:
        await app.state.runtime.engine.dispose()


# -- the rollups against the rows -----------------------------------------------------------------

Figures = dict[str, dict[tuple[Any, ...], tuple[int, ...]]]

COUNTERS = (
    "SUM(CASE WHEN repeat_of IS NULL AND status <> 'withdrawn' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN repeat_of IS NOT NULL THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN repeat_of IS NULL AND status = 'withdrawn' THEN 1 ELSE 0 END)"
)


def raw_query(table: str) -> str:
    """The rows a rollup table should hold, as a GROUP BY over the complaint rows."""
    period = {
        "stats_complaint_days": "registered_day",
        "stats_complaint_months": "registered_day / 100",
        "stats_complaint_years": "registered_day / 10000",
    }[table]
    defect = "COALESCE(defect_type, '')"
    parts = [
        ("channel", "''", "channel"),
        ("defect_type", "''", defect),
        ("product", "''", "product_key"),
        ("product_channel", "product_key", "channel"),
        ("product_defect_type", "product_key", defect),
    ]
    selects = []
    for dimension, product, key in parts:
        groups = ", ".join(x for x in (product, period, "factory", key) if x != "''")  # PostgreSQL: no constants
        selects.append(
            f"SELECT '{dimension}', {product}, {period}, factory, {key}, {COUNTERS} FROM complaints GROUP BY {groups}"
        )
    return " UNION ALL ".join(selects)


def _split(rows: Any) -> dict[tuple[Any, ...], tuple[int, ...]]:
    out = {tuple(r[:5]): tuple(int(v) for v in r[5:]) for r in rows}
    return {k: v for k, v in out.items() if any(v)}  # a row counted down to zero is no row


async def rollup_figures(sessions: async_sessionmaker[AsyncSession]) -> Figures:
    async with sessions() as session:
        return {t.name: _split((await session.execute(sa.select(t))).all()) for t in ROLLUPS}


async def raw_figures(sessions: async_sessionmaker[AsyncSession]) -> Figures:
    async with sessions() as session:
        return {t.name: _split((await session.execute(sa.text(raw_query(t.name)))).all()) for t in ROLLUPS}


def counted_from_records(facts: list[Fact]) -> Figures:
    """The rollup rows counted from the records themselves."""
    out: Figures = {t.name: {} for t in ROLLUPS}
    for f in facts:
        one = {"complaint": (1, 0, 0), "repeat": (0, 1, 0), "withdrawn": (0, 0, 1)}[f.kind]
        for table, period in (
            ("stats_complaint_days", f.day),
            ("stats_complaint_months", f.day // 100),
            ("stats_complaint_years", f.day // 10000),
        ):
            for key in (
                ("channel", "", period, f.factory, f.channel),
                ("defect_type", "", period, f.factory, f.defect_type),
                ("product", "", period, f.factory, f.product),
                ("product_channel", f.product, period, f.factory, f.channel),
                ("product_defect_type", f.product, period, f.factory, f.defect_type),
            ):
                known = out[table].get(key, (0, 0, 0))
                out[table][key] = tuple(a + b for a, b in zip(known, one, strict=True))
    return out


async def test_every_rollup_row_equals_a_group_by_over_the_complaint_rows(world: World) -> None:
    rolled = await rollup_figures(world.sessions)
    assert rolled == await raw_figures(world.sessions)
    assert rolled == counted_from_records(world.facts)
    kinds = Counter(f.kind for f in world.facts)
    assert kinds["repeat"] > 40 and kinds["withdrawn"] > 10 and kinds["complaint"] > 200, kinds
    assert len({f.day // 100 for f in world.facts}) >= 20 and {f.factory for f in world.facts} == {"F01", "F02"}
    assert {f.defect_type for f in world.facts} == {"", *(d for d in DEFECTS if d)}
    assert {"M-7", "M-8", "PC-9"} <= {f.product for f in world.facts}
    # both sides of midnight in Shanghai on 31 March: counted in March and in April
    async with world.sessions() as session:
        days = (
            await session.execute(
                sa.select(complaints.c.registered_at, complaints.c.registered_day).where(
                    complaints.c.registered_at.between(
                        datetime(2026, 3, 31, 15, 58, tzinfo=UTC), datetime(2026, 3, 31, 16, 2, tzinfo=UTC)
                    )
                )
            )
        ).all()
    assert sorted(day for _, day in days) == [20260331, 20260401]


# -- the API against the rows -------------------------------------------------------------------------


def label(day: int, grain: str) -> str:
    year, month = day // 10000, day // 100 % 100
    return {"month": f"{year:04d}-{month:02d}", "quarter": f"{year:04d}-Q{(month - 1) // 3 + 1}"}.get(
        grain, f"{year:04d}"
    )


def select(facts: list[Fact], factories: set[str], first: str, last: str, product: str | None = None) -> list[Fact]:
    low, high = int(first.replace("-", "")), int(last.replace("-", ""))
    return [
        f
        for f in facts
        if f.factory in factories and low <= f.day <= high and (product is None or f.product == product)
    ]


def expected_series(facts: list[Fact], grain: str, by: str | None) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for f in facts:
        key = "" if by is None else str(getattr(f, by))
        out[(label(f.day, grain), key, f.kind)] += 1
    return out


def answered_series(body: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for point in body["series"]:
        for kind, field in (("complaint", "complaints"), ("repeat", "repeats"), ("withdrawn", "withdrawn")):
            if point[field]:
                out[(point["period"], point["key"], kind)] += point[field]
    return out


async def get(world: World, path: str, factories: str | list[str] = "*", **params: Any) -> Any:
    async with asgi_client(world.app, auth("quality_manager", factories)) as client:
        return await client.get(f"{BASE}{path}", params=params)


# whole years; whole months and days at both ends; a year, a month and days at both ends; two days
PERIODS = [
    ("2025-01-01", "2026-12-31"),
    ("2025-03-15", "2026-08-20"),
    ("2024-12-10", "2026-02-20"),
    ("2026-03-31", "2026-04-01"),
]


@pytest.mark.parametrize(("first", "last"), PERIODS)
async def test_trends_by_every_dimension_and_grain_equal_the_rows(world: World, first: str, last: str) -> None:
    for grain in ("month", "quarter", "year"):
        for by in (None, "factory", "product", "defect_type", "channel"):
            params = {"grain": grain, "from": first, "to": last, **({"by": by} if by else {})}
            answer = await get(world, "/trend", **params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            expected = expected_series(select(world.facts, {"F01", "F02"}, first, last), grain, by)
            assert answered_series(body) == expected, (grain, by)
            assert [(p["period"], p["key"]) for p in body["series"]] == sorted(
                (p["period"], p["key"]) for p in body["series"]
            )
            assert (body["first"], body["last"], body["grain"], body["by"]) == (first, last, grain, by)
    assert sum(expected.values()) > 0


async def test_a_product_and_a_factory_narrow_the_trend_and_others_factories_stay_unseen(world: World) -> None:
    first, last = "2025-02-10", "2026-09-30"
    for product in ("PC-1", "M-7", "PC-9", "no such product"):
        for by in (None, "factory", "product", "defect_type", "channel"):
            params = {"grain": "quarter", "from": first, "to": last, "product": product, **({"by": by} if by else {})}
            body = (await get(world, "/trend", factories="F01", **params)).json()
            expected = expected_series(select(world.facts, {"F01"}, first, last, product), "quarter", by)
            assert answered_series(body) == expected, (product, by)
    assert expected_series(select(world.facts, {"F01"}, first, last, "PC-9"), "year", None)

    f02 = select(world.facts, {"F02"}, first, last)
    everything = await get(world, "/trend", factory="F02", **{"from": first, "to": last, "by": "channel"})
    assert answered_series(everything.json()) == expected_series(f02, "month", "channel") and f02
    hidden = await get(world, "/trend", factories="F01", factory="F02", **{"from": first, "to": last})
    assert hidden.status_code == 200 and hidden.json()["series"] == []  # as if F02 had nothing
    mine = (await get(world, "/trend", factories="F01", by="factory", **{"from": first, "to": last})).json()
    assert {p["key"] for p in mine["series"]} == {"F01"}


def expected_pareto(facts: list[Fact]) -> list[tuple[str, int]]:
    counted = Counter(f.defect_type for f in facts if f.kind == "complaint")
    return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))


async def test_the_pareto_ranks_defect_types_with_shares_that_add_up(world: World) -> None:
    for factories, params, product in (
        ({"F01", "F02"}, {}, None),
        ({"F01"}, {"factory": "F01"}, None),
        ({"F01", "F02"}, {"product": "PC-1"}, "PC-1"),
    ):
        first, last = "2025-03-15", "2026-08-20"
        answer = await get(world, "/pareto", **{"from": first, "to": last, **params})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ranked = expected_pareto(select(world.facts, factories, first, last, product))
        total = sum(n for _, n in ranked)
        assert body["total"] == total > 0
        assert [(d["defect_type"], d["complaints"]) for d in body["defect_types"]] == ranked
        running = 0
        for line, (_, n) in zip(body["defect_types"], ranked, strict=True):
            running += n
            assert Decimal(line["share"]) == (Decimal(n * 100) / total).quantize(Decimal("0.1"))
            assert Decimal(line["cumulative"]) == (Decimal(running * 100) / total).quantize(Decimal("0.1"))
            assert isinstance(line["share"], str) and "." in line["share"]  # Decimal as text, one decimal
        assert body["defect_types"][-1]["cumulative"] == "100.0"
        assert "" in {d["defect_type"] for d in body["defect_types"]}  # 未分类 counted too


async def test_repeats_per_period_and_the_most_repeated_products_equal_the_rows(world: World) -> None:
    first, last = "2025-01-01", "2026-10-31"
    body = (await get(world, "/repeats", grain="quarter", top=3, **{"from": first, "to": last})).json()
    facts = select(world.facts, {"F01", "F02"}, first, last)
    by_quarter: dict[str, Counter[str]] = {}
    for f in facts:
        by_quarter.setdefault(label(f.day, "quarter"), Counter())[f.kind] += 1
    assert [(p["period"], p["complaints"], p["repeats"]) for p in body["periods"]] == [
        (q, c["complaint"], c["repeat"]) for q, c in sorted(by_quarter.items())
    ]
    for p in body["periods"]:
        whole = p["complaints"] + p["repeats"]
        assert Decimal(p["repeat_rate"]) == (Decimal(p["repeats"] * 100) / whole).quantize(Decimal("0.1"))
    kinds = Counter(f.kind for f in facts)
    assert (body["complaints"], body["repeats"]) == (kinds["complaint"], kinds["repeat"])
    repeated = Counter(f.product for f in facts if f.kind == "repeat")
    assert [(p["product"], p["repeats"]) for p in body["top_products"]] == sorted(
        repeated.items(), key=lambda kv: (-kv[1], kv[0])
    )[:3]
    top = body["top_products"][0]
    assert top["complaints"] == sum(1 for f in facts if f.product == top["product"] and f.kind == "complaint")


async def test_the_counts_by_month_and_channel_read_the_rollups_and_agree_with_the_raw_counts(world: World) -> None:
    f01 = [f for f in world.facts if f.factory == "F01"]
    kinds = Counter(f.kind for f in f01)
    by_month = Counter(label(f.day, "month") for f in f01 if f.kind == "complaint")
    by_channel = Counter(f.channel for f in f01 if f.kind == "complaint")
    rolled = (await get(world, "", factory="F01")).json()  # answered from the rollups
    raw = (await get(world, "", factory="F01", **{"from": "2000-01-01T00:00:00Z"})).json()  # from the rows
    for body in (rolled, raw):
        assert (body["complaints"], body["repeats"], body["withdrawn"]) == (
            kinds["complaint"],
            kinds["repeat"],
            kinds["withdrawn"],
        )
        assert body["by_month"] == dict(sorted(by_month.items()))
        assert body["by_channel"] == dict(sorted(by_channel.items()))
    mine = (await get(world, "", factories="F01")).json()
    assert mine == rolled


async def test_the_default_period_is_the_twelve_months_up_to_now(world: World) -> None:
    body = (await get(world, "/trend")).json()
    assert (body["first"], body["last"], body["grain"]) == ("2025-12-01", "2026-11-30", "month")
    expected = expected_series(select(world.facts, {"F01", "F02"}, "2025-12-01", "2026-11-30"), "month", None)
    assert answered_series(body) == expected
    backwards = (await get(world, "/pareto", **{"from": "2026-05-01", "to": "2026-04-30"})).json()
    assert (backwards["total"], backwards["defect_types"]) == (0, [])


@pytest.mark.parametrize(
    "params",
    [
        {"grain": "week"},
        {"by": "customer"},
        {"from": "2026-13-01"},
        {"from": "2026-02-30"},
        {"from": "2026-11-21T00:00:00Z"},
        {"to": "20261121"},
        {"product": ""},
        {"product": "x" * 201},
        {"factory": "F99"},
        {"factory": "f01"},
        {"top": "0"},
        {"unknown": "1"},
    ],
)
async def test_bad_parameters_answer_422_problems(world: World, params: dict[str, str]) -> None:
    path = "/repeats" if "top" in params else "/trend"
    answer = await get(world, path, **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


# -- migration 0005 -------------------------------------------------------------------------------


async def test_migration_0005_counts_the_complaints_stored_before_it_and_goes_back(database_url: str) -> None:
    folder = migrations_dir("intake")
    ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0004")
    old = sa.table(
        "complaints",
        *(sa.column(n, sa.String) for n in ("number", "factory", "period", "status", "channel", "customer_company")),
        *(sa.column(n, sa.String) for n in ("part_number", "source", "repeat_of")),
        sa.column("serial", sa.Integer),
        sa.column("batch_return", sa.Boolean),
        *(sa.column(n, UTCDateTime) for n in ("received_at", "registered_at")),
        sa.column("record", sa.JSON),
    )
    late = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 1 November in Shanghai

    def row(serial: int, part: str | None, status: str = "registered", repeat_of: str | None = None) -> dict[str, Any]:
        number = f"F01-2611-{serial:04d}"
        product = {"part_number": part} if part else {"model": "M-7"}
        return {
            "number": number,
            "factory": "F01",
            "period": "2611",
            "serial": serial,
            "status": status,
            "channel": "phone",
            "customer_company": "A",
            "part_number": part,
            "source": "/t",
            "repeat_of": repeat_of,
            "batch_return": False,
            "received_at": late,
            "registered_at": late,
            "record": {"product": product, "channel": "phone", "status": status},
        }

    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old),
            [
                row(1, "PC-1"),
                row(2, "PC-1", repeat_of="F01-2611-0001"),
                row(3, None, status="withdrawn"),
            ],
        )
    await engine.dispose()

    await asyncio.to_thread(upgrade, folder, database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            c = complaints
            columns = (
                await session.execute(
                    sa.select(c.c.number, c.c.registered_day, c.c.product_key, c.c.defect_type).order_by(c.c.number)
                )
            ).all()
        assert [tuple(r) for r in columns] == [
            ("F01-2611-0001", 20261101, "PC-1", None),
            ("F01-2611-0002", 20261101, "PC-1", None),
            ("F01-2611-0003", 20261101, "M-7", None),
        ]
        figures = await rollup_figures(sessions)
        assert figures == await raw_figures(sessions)
        months = figures["stats_complaint_months"]
        assert months[("channel", "", 202611, "F01", "phone")] == (1, 1, 1)
        assert months[("product_channel", "PC-1", 202611, "F01", "phone")] == (1, 1, 0)
        assert months[("product", "", 202611, "F01", "M-7")] == (0, 0, 1)
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0004")
    await asyncio.to_thread(upgrade, folder, database_url)  # and forward again
    engine = create_engine(database_url)
    try:
        assert (await rollup_figures(session_factory(engine)))["stats_complaint_days"]
    finally:
        await engine.dispose()


def test_the_query_of_the_rows_names_every_dimension_of_the_rollups() -> None:
    """The GROUP BY above is written out by hand, not from rollups.py: keep it honest."""
    from intake.adapters import rollups

    assert all(f"'{d}'" in raw_query("stats_complaint_days") for d in rollups.DIMENSIONS)
