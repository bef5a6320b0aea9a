"""Intake's complaint statistics without a database (DOMAIN.md §6 统计).

What a complaint counts in the rollups and how a change moves the counts (the difference of its
projections), which rows and periods answer a question, and the use cases (trend, Pareto,
repeats) through the in-memory unit of work, whose complaints keep the rollups by the same code.
Repeats are linked and not counted again as complaints (DOMAIN.md §2 "link, don't double count").
The integration tests compare the SQL rollups with GROUP BYs over real rows.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintForm
from cqm_shared.domain import StaleVersion
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, MemoryStore
from intake.adapters import rollups
from intake.adapters.publishing import to_public
from intake.domain.model import Complaint, registration_day
from intake.domain.policy import IntakePolicy
from intake.service import statistics as stats
from intake.service.handlers import SOURCE, amend_complaint, complaint_of, register_complaint, withdraw_complaint
from intake.service.statistics import By, Grain, Scope
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.intake.fakes import FailingCommitUnitOfWork, MemoryIntakeUnitOfWork, MemoryStatistics

POLICIES = PolicyBook(POLICY_DIR, "intake", IntakePolicy)
HEAD_OFFICE = Actor("user:ho", None)
EVER = Scope(None, date(2000, 1, 1), date(2099, 12, 31))


def form(
    factory_code: str = "F01",
    *,
    part: str | None = "PC-1",
    model: str | None = None,
    defect: str | None = None,
    channel: str = "portal",
    company: str = "Acme",
    order: str | None = None,
) -> ComplaintForm:
    product: dict[str, Any] = {"part_number": part, "model": model, "order_number": order}
    data: dict[str, Any] = {
        "factory": factory_code,
        "channel": channel,
        "customer": {"company": company, "contact_name": "Zhang", "email": "zhang@example.com"},
        "product": {k: v for k, v in product.items() if v is not None},
        "phenomenon": "裂纹 crack",
    }
    if defect is not None:
        data["defect_type"] = defect
    return ComplaintForm.model_validate(data)


def projection(**changes: Any) -> rollups.Projection:
    values: dict[str, Any] = {
        "factory": "F01",
        "day": 20261121,
        "product": "PC-1",
        "defect_type": "crack 裂纹",
        "channel": "portal",
        "counted_as": rollups.COMPLAINT,
    }
    values.update(changes)
    return rollups.Projection(**values)


# -- the contract ------------------------------------------------------------------------------------


def test_the_defect_type_is_optional_stripped_and_at_most_100_characters() -> None:
    assert form().defect_type is None  # every existing sender still works
    assert form(defect="  crack 裂纹 ").defect_type == "crack 裂纹"
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(ValueError, match="defect_type"):
            form(defect=bad)


# -- what a complaint counts -----------------------------------------------------------------------


def test_a_complaint_counts_once_in_five_dimensions_of_its_day_month_and_year() -> None:
    counted = rollups.contributions(projection())
    one = (1, 0, 0)
    rows = [
        ("channel", "", "portal"),
        ("defect_type", "", "crack 裂纹"),
        ("product", "", "PC-1"),
        ("product_channel", "PC-1", "portal"),
        ("product_defect_type", "PC-1", "crack 裂纹"),
    ]
    assert counted == {
        (table, (dimension, product, period, "F01", key)): one
        for table, period in (
            ("stats_complaint_days", 20261121),
            ("stats_complaint_months", 202611),
            ("stats_complaint_years", 2026),
        )
        for dimension, product, key in rows
    }


def test_a_repeat_counts_as_a_repeat_even_withdrawn_and_a_withdrawn_complaint_apart() -> None:
    """DOMAIN.md §2: a repeat is linked to the first complaint and not counted again; the same
    rule as the raw counts (`tally`)."""
    assert rollups.counted_as("registered", None) == rollups.COMPLAINT
    assert rollups.counted_as("withdrawn", None) == rollups.WITHDRAWN
    assert rollups.counted_as("registered", "F01-2611-0001") == rollups.REPEAT
    assert rollups.counted_as("withdrawn", "F01-2611-0001") == rollups.REPEAT
    assert set(rollups.contributions(projection(counted_as=rollups.REPEAT)).values()) == {(0, 1, 0)}
    assert set(rollups.contributions(projection(counted_as=rollups.WITHDRAWN)).values()) == {(0, 0, 1)}


def test_a_product_is_its_part_number_else_its_model_and_no_defect_type_counts_as_empty() -> None:
    assert rollups.product_key("PC-1", "M-7") == "PC-1"
    assert rollups.product_key(None, "M-7") == "M-7"
    assert rollups.product_key(None, None) == ""
    unclassified = rollups.contributions(projection(defect_type=""))
    assert ("stats_complaint_months", ("defect_type", "", 202611, "F01", "")) in unclassified


def test_a_new_defect_type_moves_only_the_defect_type_counts() -> None:
    before = rollups.contributions(projection())
    change = rollups.difference(rollups.contributions(projection(defect_type="dent 凹陷")), before)
    assert change == {
        (table, (dimension, product, period, "F01", defect)): (sign, 0, 0)
        for table, period in (
            ("stats_complaint_days", 20261121),
            ("stats_complaint_months", 202611),
            ("stats_complaint_years", 2026),
        )
        for dimension, product in (("defect_type", ""), ("product_defect_type", "PC-1"))
        for defect, sign in (("crack 裂纹", -1), ("dent 凹陷", 1))
    }
    assert rollups.difference(before, before) == {}


def test_a_withdrawal_moves_every_count_from_complaints_to_withdrawn() -> None:
    before = rollups.contributions(projection())
    change = rollups.difference(rollups.contributions(projection(counted_as=rollups.WITHDRAWN)), before)
    assert change.keys() == before.keys() and set(change.values()) == {(-1, 0, 1)}
    accumulated: rollups.Deltas = {}
    rollups.accumulate(accumulated, before.items())
    rollups.accumulate(accumulated, change.items())
    assert set(accumulated.values()) == {(0, 0, 1)}


def test_the_day_is_the_factorys_calendar_day_of_registration() -> None:
    policy = POLICIES.for_factory("F01")  # Asia/Shanghai
    assert registration_day(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), policy) == 20261130
    assert registration_day(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), policy) == 20261201
    with pytest.raises(ValueError, match="timezone-aware"):
        registration_day(datetime(2026, 11, 30, 16, 0), policy)


# -- which rows answer ----------------------------------------------------------------------------


def test_whole_years_months_and_the_days_of_partly_covered_months_are_read_from_their_tables() -> None:
    spans = rollups.spans
    S = rollups.Spans
    assert spans(date(2026, 1, 1), date(2026, 12, 31)) == S(None, ((202601, 202612),), ())
    assert spans(date(2026, 1, 1), date(2026, 12, 31), years=True) == S((2026, 2026), (), ())
    assert spans(date(2026, 3, 15), date(2026, 11, 20)) == S(
        None, ((202604, 202610),), ((20260315, 20260331), (20261101, 20261120))
    )
    assert spans(date(2026, 3, 15), date(2026, 11, 20), years=True) == spans(date(2026, 3, 15), date(2026, 11, 20))
    assert spans(date(2024, 12, 10), date(2027, 2, 20), years=True) == S(
        (2025, 2026), ((202701, 202701),), ((20241210, 20241231), (20270201, 20270220))
    )
    assert spans(date(2024, 11, 1), date(2027, 3, 31), years=True) == S(
        (2025, 2026), ((202411, 202412), (202701, 202703)), ()
    )
    assert spans(date(2026, 3, 15), date(2026, 4, 20)) == S(None, (), ((20260315, 20260331), (20260401, 20260420)))
    assert spans(date(2026, 2, 1), date(2026, 2, 28)) == S(None, ((202602, 202602),), ())
    assert spans(date(2028, 2, 1), date(2028, 2, 28)) == S(None, (), ((20280201, 20280228),))  # leap year
    assert spans(date(2026, 12, 2), date(2027, 1, 31)) == S(None, ((202701, 202701),), ((20261202, 20261231),))
    assert spans(date(2026, 5, 2), date(2026, 5, 2), years=True) == S(None, (), ((20260502, 20260502),))
    assert spans(date(2026, 5, 2), date(2026, 5, 1)) == S(None, (), ())  # from after to: nothing
    assert spans(date.min, date.max) == S(None, ((101, 999912),), ())
    assert spans(date.min, date.max, years=True) == S((1, 9999), (), ())


def test_every_question_reads_one_dimension_with_a_fixed_product() -> None:
    assert rollups.dimension_for(None, None) == ("channel", "", None)
    assert rollups.dimension_for(By.FACTORY, None) == ("channel", "", "factory")
    assert rollups.dimension_for(By.CHANNEL, None) == ("channel", "", "key")
    assert rollups.dimension_for(By.DEFECT_TYPE, None) == ("defect_type", "", "key")
    assert rollups.dimension_for(By.PRODUCT, None) == ("product", "", "key")
    assert rollups.dimension_for(None, "PC-1") == ("product_channel", "PC-1", None)
    assert rollups.dimension_for(By.FACTORY, "PC-1") == ("product_channel", "PC-1", "factory")
    assert rollups.dimension_for(By.CHANNEL, "PC-1") == ("product_channel", "PC-1", "key")
    assert rollups.dimension_for(By.PRODUCT, "PC-1") == ("product_channel", "PC-1", "product")
    assert rollups.dimension_for(By.DEFECT_TYPE, "PC-1") == ("product_defect_type", "PC-1", "key")


def test_periods_are_named_by_month_quarter_and_year() -> None:
    assert [stats.period_label(stats.period_of(202611, g), g) for g in Grain] == ["2026-11", "2026-Q4", "2026"]
    assert [stats.period_label(stats.period_of(m, Grain.QUARTER), Grain.QUARTER) for m in (202601, 202603, 202604)] == [
        "2026-Q1",
        "2026-Q1",
        "2026-Q2",
    ]
    assert stats.period_of(202611, None) == 0 and stats.period_label(0, None) == ""


def test_the_default_period_is_the_twelve_months_up_to_this_one() -> None:
    today = date(2026, 11, 21)
    assert stats.default_period(today, None, None) == (date(2025, 12, 1), date(2026, 11, 30))
    assert stats.default_period(today, None, date(2026, 2, 10)) == (date(2025, 3, 1), date(2026, 2, 10))
    assert stats.default_period(today, date(2020, 1, 1), None) == (date(2020, 1, 1), date(2026, 11, 30))
    assert stats.default_period(today, None, date(1, 3, 1)) == (date.min, date(1, 3, 1))


def test_shares_are_percent_with_one_decimal_rounded_half_up() -> None:
    assert stats.percent(1, 3) == Decimal("33.3") and stats.percent(2, 3) == Decimal("66.7")
    assert stats.percent(1, 8) == Decimal("12.5") and stats.percent(1, 16) == Decimal("6.3")  # 6.25 -> 6.3
    assert str(stats.percent(3, 3)) == "100.0" and stats.percent(0, 0) is None
    assert stats.repeat_rate(complaints=9, repeats=1) == Decimal("10.0")


# -- the use cases through the in-memory unit of work ------------------------------------------------

Make = Any


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryIntakeUnitOfWork, store, clock, translate=to_public, source=SOURCE)


async def register(make: Make, f: ComplaintForm) -> str:
    return (await register_complaint(make(HEAD_OFFICE), POLICIES, f, source=SOURCE)).complaint.number


def recount(store: MemoryStore) -> dict[str, dict[Any, tuple[int, ...]]]:
    """The rollup rows counted afresh from the complaints as stored (not from any change)."""
    out: dict[str, dict[Any, tuple[int, ...]]] = {rollups.DAYS: {}, rollups.MONTHS: {}, rollups.YEARS: {}}
    complaint: Complaint
    for complaint in store.table("complaints").values():
        for (table, key), delta in rollups.contributions(rollups.projection(complaint)).items():
            known = out[table].get(key, (0, 0, 0))
            out[table][key] = tuple(a + b for a, b in zip(known, delta, strict=True))
    return out


def kept(store: MemoryStore) -> dict[str, dict[Any, tuple[int, ...]]]:
    return {
        t: {k: v for k, v in store.table(t).items() if any(v)} for t in (rollups.DAYS, rollups.MONTHS, rollups.YEARS)
    }


async def test_the_rollups_follow_registrations_repeats_corrections_and_withdrawals(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 10, 20, 8, 0, tzinfo=UTC))  # received_at may not be in the future when amended
    first = await register(make, form(defect="crack 裂纹", order="SO-1"))
    clock.advance(timedelta(days=2))
    repeat = await register(make, form(defect="crack 裂纹", order="SO-1"))  # same customer, order, part
    other = await register(make, form("F02", part=None, model="M-7", channel="phone"))
    assert (await complaint_of(make(HEAD_OFFICE), repeat)).details.repeat_of == first
    assert kept(store) == recount(store)
    monthly: dict[Any, tuple[int, ...]] = dict(store.table(rollups.MONTHS))
    assert monthly[("product_channel", "PC-1", 202610, "F01", "portal")] == (1, 1, 0)  # linked, not counted twice
    assert monthly[("product", "", 202610, "F02", "M-7")] == (1, 0, 0)
    assert monthly[("defect_type", "", 202610, "F02", "")] == (1, 0, 0)  # not classified

    await amend_complaint(
        make(HEAD_OFFICE),
        other,
        {"defect_type": "dent 凹陷", "product": {"part_number": "PC-9"}, "channel": "email"},
        reason="classified",
    )
    await withdraw_complaint(make(HEAD_OFFICE), first, reason="duplicate call")
    assert kept(store) == recount(store)
    assert monthly != store.table(rollups.MONTHS)
    months = kept(store)[rollups.MONTHS]
    assert ("product", "", 202610, "F02", "M-7") not in months
    assert months[("product_defect_type", "PC-9", 202610, "F02", "dent 凹陷")] == (1, 0, 0)
    assert months[("product_channel", "PC-1", 202610, "F01", "portal")] == (0, 1, 1)


async def test_a_change_that_is_not_committed_counts_nothing(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    number = await register(make, form(defect="crack 裂纹"))
    before = kept(store)
    failing = factory(FailingCommitUnitOfWork, store, clock, translate=to_public, source=SOURCE)
    with pytest.raises(ConnectionError):
        await amend_complaint(failing(HEAD_OFFICE), number, {"defect_type": "dent 凹陷"}, reason="r")
    with pytest.raises(ConnectionError):
        await register_complaint(failing(HEAD_OFFICE), POLICIES, form(), source=SOURCE)
    with pytest.raises(StaleVersion):
        await withdraw_complaint(make(HEAD_OFFICE), number, reason="r", expected_version=7)
    assert kept(store) == before


async def world(make: Make, clock: FakeClock, seed: int = 6) -> list[Complaint]:
    """120 complaints from 2025-01 to 2026-10 in F01 and F02, some repeats, amended, withdrawn."""
    rng = random.Random(seed)
    numbers = []
    for _ in range(120):
        clock.set(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 660 * 24 * 60)))
        f = form(
            rng.choice(("F01", "F02")),
            part=rng.choice(("PC-1", "PC-2", None)),
            model="M-7",
            defect=rng.choice(("crack 裂纹", "dent 凹陷", "rust 锈蚀", None)),
            channel=rng.choice(("portal", "phone", "email")),
            company=rng.choice(("Acme", "华东建工")),
            order=rng.choice(("SO-1", "SO-2")),
        )
        numbers.append(await register(make, f))
    for number in rng.sample(numbers, 30):
        now = (await complaint_of(make(HEAD_OFFICE), number)).details.defect_type
        new = rng.choice([d for d in ("crack 裂纹", "scratch 划伤", None) if d != now])
        await amend_complaint(make(HEAD_OFFICE), number, {"defect_type": new}, reason="r")
    for number in rng.sample(numbers, 12):
        await withdraw_complaint(make(HEAD_OFFICE), number, reason="r")
    return [await complaint_of(make(HEAD_OFFICE), n) for n in numbers]


def kinds(complaints: list[Complaint]) -> Counter[str]:
    return Counter(rollups.projection(c).counted_as for c in complaints)


def flatten(series: list[stats.TrendPoint]) -> Counter[tuple[str, str, str]]:
    """(period, key, what it counts as) -> n, of the points answered."""
    return Counter(
        {
            (point["period"], point["key"], kind): n
            for point in series
            for kind, n in (
                (rollups.COMPLAINT, point["complaints"]),
                (rollups.REPEAT, point["repeats"]),
                (rollups.WITHDRAWN, point["withdrawn"]),
            )
            if n
        }
    )


async def test_trend_pareto_and_repeats_agree_with_the_complaints(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    complaints = await world(make, clock)
    assert kept(store) == recount(store)
    statistics = MemoryStatistics(store)
    every = kinds(complaints)
    assert every[rollups.REPEAT] > 5 and every[rollups.WITHDRAWN] > 5 and every[rollups.COMPLAINT] > 50

    quarterly = await stats.trend(statistics, EVER, Grain.QUARTER, By.DEFECT_TYPE)
    expected: Counter[tuple[str, str, str]] = Counter()
    for c in complaints:
        p = rollups.projection(c)
        quarter = f"{p.day // 10000}-Q{(p.day // 100 % 100 - 1) // 3 + 1}"
        expected[(quarter, p.defect_type, p.counted_as)] += 1
    assert flatten(quarterly.series) == expected
    order = [(p["period"], p["key"]) for p in quarterly.series]
    assert order == sorted(order)

    f01 = Scope(frozenset({"F01"}), date(2025, 3, 15), date(2026, 2, 10))
    yearly = await stats.trend(statistics, f01, Grain.YEAR, By.CHANNEL)
    expected.clear()
    for c in complaints:
        p = rollups.projection(c)
        if p.factory == "F01" and 20250315 <= p.day <= 20260210:
            expected[(str(p.day // 10000), p.channel, p.counted_as)] += 1
    assert flatten(yearly.series) == expected
    assert {p["period"] for p in yearly.series} == {"2025", "2026"}

    pareto = await stats.pareto(statistics, EVER)
    defects = Counter(
        rollups.projection(c).defect_type for c in complaints if rollups.projection(c).counted_as == rollups.COMPLAINT
    )
    assert pareto.total == sum(defects.values()) == every[rollups.COMPLAINT]
    assert [(d.defect_type, d.complaints) for d in pareto.defect_types] == sorted(
        defects.items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert str(pareto.defect_types[-1].cumulative) == "100.0"
    top = pareto.defect_types[0]
    assert top.share == (Decimal(top.complaints * 100) / pareto.total).quantize(Decimal("0.1"))

    one_product = await stats.pareto(statistics, Scope(None, EVER.first, EVER.last, "M-7"))
    models = [c for c in complaints if rollups.projection(c).product == "M-7"]
    assert one_product.total == kinds(models)[rollups.COMPLAINT] > 0

    repeated = await stats.repeats(statistics, EVER, Grain.YEAR, top=2)
    assert (repeated.complaints, repeated.repeats) == (every[rollups.COMPLAINT], every[rollups.REPEAT])
    assert repeated.repeat_rate == stats.percent(
        every[rollups.REPEAT], every[rollups.COMPLAINT] + every[rollups.REPEAT]
    )
    by_product = Counter(rollups.projection(c).product for c in complaints if c.details.repeat_of)
    assert [(p.product, p.repeats) for p in repeated.top_products] == sorted(
        by_product.items(), key=lambda kv: (-kv[1], kv[0])
    )[:2]
    assert sum(p.repeats for p in repeated.periods) == every[rollups.REPEAT]


async def test_a_factory_one_may_not_see_counts_nothing_and_an_empty_period_answers_empty(
    make: Make, clock: FakeClock, store: MemoryStore
) -> None:
    await world(make, clock)
    statistics = MemoryStatistics(store)
    nobody = Scope(frozenset(), EVER.first, EVER.last)
    assert (await stats.trend(statistics, nobody, Grain.MONTH, None)).series == []
    assert (await stats.pareto(statistics, nobody)).total == 0
    backwards = Scope(None, date(2026, 5, 1), date(2026, 4, 30))
    report = await stats.repeats(statistics, backwards, Grain.MONTH, top=10)
    assert (report.complaints, report.repeats, report.repeat_rate, report.periods) == (0, 0, None, [])
    overview = await stats.overview(statistics, frozenset({"F02"}))
    assert set(overview) == {"complaints", "repeats", "withdrawn", "by_month", "by_channel"}
    f02 = [c for c in store.table("complaints").values() if c.factory == "F02"]
    assert overview["complaints"] == kinds(f02)[rollups.COMPLAINT]
