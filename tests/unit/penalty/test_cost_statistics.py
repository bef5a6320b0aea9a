"""The cost of poor quality (质量成本) and the rollup it is read from.

DOMAIN.md §6: "cost of poor quality (compensation + penalties)", monthly, quarterly and yearly,
per factory and responsible department. The penalties are the assessments' money lines of
DOMAIN.md §4 (the per-occurrence fines of seed 000 §5, the loss-proportional §4.3.3.2, the
process penalties of §4.3, suppliers' charge-backs of seed 001 §5.3.2); the compensation is the
determination's loss amount (客诉赔偿额). The ledger of seed 000 §4.2.2 counts an assessment in
its month, and a correction after the month closed in the next open one (the reversal); the
rollup must say, for every factory and month, exactly what that ledger says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.domain import NotFound
from cqm_shared.policy import UnknownFactory
from cqm_shared.uow import Actor, MemoryStore
from penalty.adapters import rollups
from penalty.adapters.rollups import LineFacts, PartyFacts, Projection
from penalty.adapters.rule_book import RuleBook
from penalty.domain.terms import Breach
from penalty.service import handlers
from penalty.service.statistics import By, CostReport, Grain, bucket, cost_of_poor_quality, default_first
from tests.unit.penalty.fakes import (
    GM,
    HEAD_OFFICE,
    NOW,
    OPERATIONS,
    T0,
    WORKSHOP,
    MemoryCostStatistics,
    MemoryPenaltyUnitOfWork,
    determine,
    finding,
    party,
    responsibility,
    rollup,
    rule_book,
    stored,
    uows,
)

Make = Callable[..., MemoryPenaltyUnitOfWork]
D = Decimal
F01_CLOSER = Actor("user:hr-f01", frozenset({"F01"}))
F02_CLOSER = Actor("user:hr-f02", frozenset({"F02"}))


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return rule_book()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return uows(store, clock)


# -- the projection and its difference (pure) ---------------------------------------------------


def line(kind: str, amount: str, department: str | None = None, party_name: str | None = None) -> LineFacts:
    return LineFacts(kind, department, party_name, D(amount))


DRAFT = Projection(
    factory="F01",
    status="draft",
    period="2026-11",
    reversal_period=None,
    loss_amount=D("10000.01"),
    parties=(PartyFacts("person", "张三", "assembly", D(70)), PartyFacts("supplier", "ACME", None, D(30))),
    lines=(
        line("fine", "500", "装配车间", "张三"),
        line("charge_back", "3000.00", None, "ACME"),
        line("points", "0", "装配车间", "张三"),
    ),
)


def draft(**changes: Any) -> Projection:
    """A determination's draft of November: loss 10,000.01, assembly 70 % (its person named by the
    department's alias), a supplier 30 %; a fine of assembly, the supplier's charge-back, points."""
    return replace(DRAFT, **changes)


def test_a_draft_counts_compensation_split_by_share_and_its_money_lines_in_its_month() -> None:
    """DOMAIN.md §6 compensation + penalties; seed 001 §5.3.2 the supplier's share is charged back.
    The person's share lands in the directory's name of the department its lines carry."""
    assert rollups.contributions(draft()) == {
        ("F01", "2026-11", "装配车间"): (700001, 50000, 0, 1),  # 70 % of 1,000,001 fen, rounded up
        ("F01", "2026-11", ""): (300000, 0, 300000, 1),
    }


def test_the_split_always_sums_to_the_loss_to_the_fen() -> None:
    shares = {"a": 3333, "b": 3333, "c": 3334}
    for total in (0, 1, 2, 99, 100, 1000001, 123456789):
        parts = rollups.split(total, shares)
        assert sum(parts.values()) == total
        assert total == 0 or all(abs(parts[k] - total * w / 10000) < 1 for k, w in shares.items())
    assert rollups.split(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}  # ties: key order
    assert rollups.split(5, {}) == {"": 5}  # no parties (a breach has no loss anyway)


@pytest.mark.parametrize("status", ["superseded", "void"])
def test_replaced_while_its_month_is_open_it_counts_nowhere(status: str) -> None:
    before, after = draft(), draft(status=status)
    assert rollups.contributions(after) == {}
    assert rollups.difference(rollups.contributions(after), rollups.contributions(before)) == {
        key: tuple(-x for x in values) for key, values in rollups.contributions(before).items()
    }


def test_replaced_after_its_month_closed_it_stays_there_and_is_reversed_in_the_next() -> None:
    """seed 000 §4.2.2 + DOMAIN.md §4: a closed month is immutable; the correction is an adjustment."""
    approved = draft(status="approved")
    superseded = draft(status="superseded", reversal_period="2026-12")
    change = rollups.difference(rollups.contributions(superseded), rollups.contributions(approved))
    assert change == {
        ("F01", "2026-12", "装配车间"): (-700001, -50000, 0, -1),
        ("F01", "2026-12", ""): (-300000, 0, -300000, -1),
    }


def test_an_appeal_decision_moves_only_the_changed_fine() -> None:
    """seed 002 篇二 §四.9: the GM's decision halves the fine; nothing else moves."""
    before = draft(status="appealed")
    after = draft(lines=(line("fine", "250", "装配车间", "张三"), *draft().lines[1:]))
    assert rollups.difference(rollups.contributions(after), rollups.contributions(before)) == {
        ("F01", "2026-11", "装配车间"): (0, -25000, 0, 0)
    }
    approving = rollups.difference(rollups.contributions(draft(status="approved")), rollups.contributions(draft()))
    assert approving == {}  # counted as draft and as approved alike: no upsert at all


def test_money_is_rounded_to_the_fen_as_the_money_columns_store_it() -> None:
    assert [rollups.fen(D(x)) for x in ("0.005", "-0.005", "12.344", "12.345", "1")] == [1, -1, 1234, 1235, 100]


# -- the use cases keep it equal to the ledger -------------------------------------------------


Sums = tuple[Decimal, Decimal, Decimal, Decimal, tuple[tuple[str, Decimal], ...]]


async def ledger_figures(make: Make, book: RuleBook, factory: str, period: str) -> Sums:
    t = (await handlers.ledger(make(HEAD_OFFICE), book, factory, period)).totals
    departments = tuple(sorted((d, x.fines) for d, x in t.departments.items() if x.fines))
    return (t.compensation, t.fines, t.charge_backs, t.cost_of_poor_quality, departments)


def rollup_figures(store: MemoryStore, factory: str, period: str) -> Sums:
    rows = {d: v for (f, p, d), v in rollup(store).items() if (f, p) == (factory, period)}
    compensation, fines, charge_backs = (sum(v[i] for v in rows.values()) for i in range(3))
    departments = tuple(sorted((d, D(v[1]).scaleb(-2)) for d, v in rows.items() if d and v[1]))
    total = D(compensation + fines + charge_backs).scaleb(-2)
    return (D(compensation).scaleb(-2), D(fines).scaleb(-2), D(charge_backs).scaleb(-2), total, departments)


async def assert_rollup_is_the_ledger(make: Make, book: RuleBook, store: MemoryStore) -> None:
    """For every factory and month anything counts in: the rollup's sums are the ledger's totals,
    and the rollup is the sum of every stored assessment's contributions (a GROUP BY)."""
    months = {(a.factory, p) for a in stored(store).values() for p in (a.period, a.reversal_period) if p}
    months |= {(f, p) for f, p, _ in rollup(store)}
    for factory, period in sorted(months):
        assert rollup_figures(store, factory, period) == await ledger_figures(make, book, factory, period), (
            factory,
            period,
        )
    recount: rollups.Deltas = {}
    for a in stored(store).values():
        rollups.accumulate(recount, rollups.contributions(rollups.projection(a)).items())
    assert rollup(store) == {k: v for k, v in recount.items() if any(v)}


async def approve(make: Make, book: RuleBook, assessment_id: str, by: Actor = OPERATIONS) -> None:
    await handlers.approve(
        make(by), book, assessment_id, roles=("production_operations",), reason="签准", expected_version=None
    )


async def scenario(make: Make, book: RuleBook, store: MemoryStore, clock: FakeClock) -> None:
    """Two factories through November and December, the rollup checked against the ledger after
    every step: assess, appeal, decide, approve, breach, close, supersede and void after the close,
    supersede while open."""
    check = assert_rollup_is_the_ledger
    # F01-1: 张三 of assembly (named by its alias) 70 %, a supplier 30 %; seed 000 §5.2.6 and the
    # loss-proportional §4.3.3.2 on 10,000.
    await determine(
        make,
        book,
        "evt-1",
        responsibility(
            party("person", "张三", 70, department="assembly"),
            party("supplier", "ACME", 30),
            findings=[finding("5.2.6", party="张三")],
            loss="10000",
            number="F01-2611-0001",
        ),
    )
    await check(make, book, store)
    # F01-2: machining 60 %, assembly 40 %, seed 000 §5.2.3.2 for both; appealed, halved, approved.
    await determine(
        make,
        book,
        "evt-2",
        responsibility(
            party("department", "机加车间", 60),
            party("department", "装配车间", 40),
            findings=[finding("5.2.3.2")],
            loss="333.33",
            number="F01-2611-0002",
        ),
    )
    await check(make, book, store)
    await handlers.appeal(make(WORKSHOP), "evt-2", lines=(0,), reason="on leave", expected_version=None)
    await check(make, book, store)
    await handlers.decide_appeal(
        make(GM),
        book,
        "evt-2",
        roles=("general_manager",),
        upheld=True,
        amounts={0: D("5.00")},
        reason="halved",
        expected_version=None,
    )
    await check(make, book, store)
    # a process penalty (seed 000 §4.3.1.6: training not held, head of the workshop 20)
    training = Breach("F01-2611-0002", "F01", "workshop_training", 1, T0 - timedelta(hours=1), T0, "机加车间")
    breach_id = await handlers.assess_breach(make(), book, training, why="training late")
    assert breach_id is not None
    await check(make, book, store)
    for assessment_id in ("evt-1", "evt-2", breach_id):
        await approve(make, book, assessment_id)
    await check(make, book, store)
    # F02: a determination superseded while November is open counts nowhere
    await determine(
        make,
        book,
        "evt-3",
        responsibility(
            party("department", "装配车间", 100),
            findings=[finding("5.2.4")],
            loss="800",
            factory="F02",
            number="F02-2611-0001",
        ),
    )
    await determine(
        make,
        book,
        "evt-4",
        responsibility(
            party("department", "装配车间", 50),
            party("person", "李四", 50, department="机加车间"),
            findings=[finding("5.2.6", party="李四")],
            loss="1200.50",
            sequence=2,
            factory="F02",
            number="F02-2611-0001",
        ),
    )
    await check(make, book, store)
    await handlers.close_period(make(F01_CLOSER), book, "F01", "2026-11", reason="month end")
    # December: F01-1 redetermined (November closed: reversed in December, recounted there),
    # F01-2 cleared by the ruling (reversed in December)
    clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    await determine(
        make,
        book,
        "evt-5",
        responsibility(
            party("person", "张三", 50, department="装配车间"),
            party("supplier", "ACME", 50),
            findings=[finding("5.2.3.6", party="张三")],
            loss="6000",
            sequence=2,
            number="F01-2611-0001",
        ),
    )
    await check(make, book, store)
    await handlers.void_case(make(), book, "F01-2611-0002", "F01", why="market cause accepted")
    await check(make, book, store)
    await approve(make, book, "evt-4", Actor("user:ops-f02", frozenset({"F02"})))
    await handlers.close_period(make(F02_CLOSER), book, "F02", "2026-11", reason="month end")
    await check(make, book, store)


async def test_every_change_keeps_the_rollup_equal_to_the_ledger(
    make: Make, book: RuleBook, store: MemoryStore, clock: FakeClock
) -> None:
    await scenario(make, book, store, clock)
    statuses = {k: (a.status.value, a.period, a.reversal_period) for k, a in stored(store).items()}
    assert {k: v for k, v in statuses.items() if k.startswith("evt")} == {
        "evt-1": ("superseded", "2026-11", "2026-12"),
        "evt-2": ("void", "2026-11", "2026-12"),
        "evt-3": ("superseded", "2026-11", None),
        "evt-4": ("approved", "2026-11", None),
        "evt-5": ("draft", "2026-12", None),
    }
    december = rollup_figures(store, "F01", "2026-12")
    assert december[0] == D("6000.00") - D("10000.00") - D("333.33")  # compensation net of the reversals


async def report(
    store: MemoryStore,
    book: RuleBook,
    *,
    visible: frozenset[str] | None = None,
    factory: str | None = None,
    grain: Grain = Grain.MONTH,
    by: By = By.PERIOD,
    first: str | None = "2026-01",
    last: str | None = "2026-12",
) -> CostReport:
    return await cost_of_poor_quality(
        MemoryCostStatistics(store),
        book,
        visible=visible,
        factory=factory,
        grain=grain,
        by=by,
        first=first,
        last=last,
        now=datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 1 January 2027, 01:00 in Shanghai
    )


async def test_the_report_is_the_ledgers_cost_per_month_quarter_and_year(
    make: Make, book: RuleBook, store: MemoryStore, clock: FakeClock
) -> None:
    """DOMAIN.md §6: total = compensation + penalties, monthly, quarterly and yearly."""
    await scenario(make, book, store, clock)
    months = await report(store, book)
    ledgers = {
        (f, p): (await handlers.ledger(make(HEAD_OFFICE), book, f, p)).totals
        for f in ("F01", "F02")
        for p in ("2026-11", "2026-12")
    }
    assert [r.period for r in months.rows] == ["2026-11", "2026-12"]
    for r in months.rows:
        t = [ledgers[(f, r.period)] for f in ("F01", "F02")]
        assert r.compensation == sum((x.compensation for x in t), D(0))
        assert r.fines == sum((x.fines for x in t), D(0))
        assert r.charge_backs == sum((x.charge_backs for x in t), D(0))
        assert r.penalties == r.fines + r.charge_backs
        assert r.total == r.compensation + r.penalties == sum((x.cost_of_poor_quality for x in t), D(0))
        assert str(r.total) == f"{r.total:.2f}" and r.department is None  # two places, as money is shown
    assert months.totals.total == sum((r.total for r in months.rows), D(0))

    quarter = await report(store, book, grain=Grain.QUARTER)
    year = await report(store, book, grain=Grain.YEAR)
    assert [(r.period, r.total) for r in quarter.rows] == [("2026-Q4", months.totals.total)]
    assert [(r.period, r.total) for r in year.rows] == [("2026", months.totals.total)]
    assert quarter.totals == year.totals == months.totals

    by_department = await report(store, book, by=By.DEPARTMENT, factory="F01", visible=frozenset({"F01"}))
    november = {r.department: r for r in by_department.rows if r.period == "2026-11"}
    book_november = ledgers[("F01", "2026-11")]
    assert {d: r.fines for d, r in november.items() if d and r.fines} == {
        d: x.fines for d, x in book_november.departments.items() if x.fines
    }
    assert november[None].charge_backs == D("3000.00") and november[None].compensation == D("3000.00")
    assert sum((r.total for r in november.values()), D(0)) == book_november.cost_of_poor_quality
    # 60 % / 40 % of 333.33: 199.998 and 133.332 in fen, the odd fen to the larger remainder
    assert november["机加车间"].compensation == D("200.00") and november["装配车间"].compensation == D("7133.33")
    assert [r.period for r in by_department.rows] == sorted(r.period for r in by_department.rows)


async def test_a_factory_sees_only_its_own_figures(
    make: Make, book: RuleBook, store: MemoryStore, clock: FakeClock
) -> None:
    await scenario(make, book, store, clock)
    everything = await report(store, book)
    f01 = await report(store, book, visible=frozenset({"F01"}))
    named = await report(store, book, visible=frozenset({"F01"}), factory="F01")
    f02 = await report(store, book, factory="F02")
    assert f01.totals == named.totals and f01.totals != everything.totals
    assert f01.totals.total + f02.totals.total == everything.totals.total
    with pytest.raises(NotFound):  # as if F02 did not exist
        await report(store, book, visible=frozenset({"F01"}), factory="F02")
    with pytest.raises(UnknownFactory):  # the API answers 404 too
        await report(store, book, factory="F09")


async def test_the_range_defaults_to_the_last_12_months_4_quarters_or_5_years(
    make: Make, book: RuleBook, store: MemoryStore, clock: FakeClock
) -> None:
    await scenario(make, book, store, clock)
    months = await report(store, book, first=None, last=None)
    assert (months.first, months.last) == ("2026-02", "2027-01")  # the factories' month is January already
    assert [r.period for r in months.rows] == ["2026-11", "2026-12"]
    quarters = await report(store, book, grain=Grain.QUARTER, first=None, last="2026-11")
    years = await report(store, book, grain=Grain.YEAR, first=None, last="2026-11")
    assert (quarters.first, years.first) == ("2026-01", "2022-01")
    assert [r.period for r in years.rows] == ["2026"]
    later = await report(store, book, first="2026-12", last="2026-11")
    assert later.rows == [] and later.totals.total == D("0.00")  # `from` after `to`: no figures
    only_december = await report(store, book, first="2026-12")
    assert [r.period for r in only_december.rows] == ["2026-12"]


@pytest.mark.parametrize(
    ("period", "grain", "label"),
    [
        ("2026-01", Grain.QUARTER, "2026-Q1"),
        ("2026-03", Grain.QUARTER, "2026-Q1"),
        ("2026-04", Grain.QUARTER, "2026-Q2"),
        ("2026-12", Grain.QUARTER, "2026-Q4"),
        ("2026-12", Grain.YEAR, "2026"),
        ("2026-12", Grain.MONTH, "2026-12"),
    ],
)
def test_months_fall_in_their_quarter_and_year(period: str, grain: Grain, label: str) -> None:
    assert bucket(period, grain) == label


def test_default_ranges_start_at_whole_quarters_and_years() -> None:
    assert default_first("2026-01", Grain.MONTH) == "2025-02"
    assert default_first("2026-05", Grain.QUARTER) == "2025-07"
    assert default_first("2026-05", Grain.YEAR) == "2022-01"
