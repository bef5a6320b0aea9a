"""The monthly ledger (月度考核台账) and its periods.

seed 000 §4.2.2: the month's complaints are summarised, proposed, approved; HR publishes, finance
deducts. A closed period is immutable: a later correction lands in the next open period as an
adjustment (the old lines reversed, the new ones counted). Supplier charge-backs leave the
internal ledger; lines addressed to a role are counted for HR to resolve.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.domain import InvalidTransition, NotFound
from cqm_shared.policy import UnknownFactory
from cqm_shared.uow import Actor, MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain.ledger import (
    CycleMilestone,
    LedgerEntry,
    LedgerPeriod,
    PeriodState,
    cycle_deadlines,
    ledger_totals,
    next_period,
    parse_period,
    period_of,
)
from penalty.domain.model import AssessmentStatus
from penalty.domain.policy import CycleStep, MonthlyCycle
from penalty.domain.terms import LineItem, LineKind, Payee, PayeeKind
from penalty.service import handlers
from tests.unit.penalty.fakes import (
    HEAD_OFFICE,
    NOW,
    NUMBER,
    OPERATIONS,
    MemoryPenaltyUnitOfWork,
    determine,
    finding,
    party,
    periods,
    responsibility,
    rule_book,
    stored,
    uows,
)

Make = Callable[..., MemoryPenaltyUnitOfWork]
D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSER = Actor("user:hr-f01", frozenset({"F01"}))


# -- periods and the monthly cycle (pure) ------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "period"),
    [
        (datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "2026-11"),  # 23:59 in Shanghai
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "2026-12"),  # midnight in Shanghai
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "2027-01"),
    ],
)
def test_the_period_is_the_factorys_local_month(moment: datetime, period: str) -> None:
    assert period_of(moment, SHANGHAI) == period


def test_periods_follow_each_other_across_the_year() -> None:
    assert [next_period(p) for p in ("2026-11", "2026-12", "2027-01")] == ["2026-12", "2027-01", "2027-02"]
    assert parse_period("2026-7") == "2026-07"
    with pytest.raises(ValueError, match="is not yyyy-mm"):
        parse_period("2026-13")


def test_the_cycle_runs_to_the_end_of_the_15th_18th_and_20th_of_the_following_month() -> None:
    """seed 000 §4.2.2: 每月15日之前汇总上月客诉 · 车间于18日之前报处罚 · 20日之前报生产运营部部长签准."""
    cycle = MonthlyCycle(
        summary=CycleStep(day=15, source="§4.2.2 a"),
        workshop_proposal=CycleStep(day=18, source="§4.2.2 b"),
        approval=CycleStep(day=20, source="§4.2.2 c"),
    )
    deadlines = cycle_deadlines("2026-12", cycle, SHANGHAI)
    assert [(d.milestone, d.due_at, d.state) for d in deadlines] == [
        (CycleMilestone.SUMMARY, datetime(2027, 1, 15, 16, tzinfo=UTC), "pending"),
        (CycleMilestone.WORKSHOP_PROPOSAL, datetime(2027, 1, 18, 16, tzinfo=UTC), "pending"),
        (CycleMilestone.APPROVAL, datetime(2027, 1, 20, 16, tzinfo=UTC), "pending"),
    ]
    met = deadlines[0].met(NOW)
    assert (met.state, met.met_at, met.cancelled(NOW)) == ("met", NOW, met)  # met stays met


def _line(
    kind: LineKind, amount: str = "0", *, payee: Payee, department: str | None = "装配车间", **kw: str
) -> LineItem:
    return LineItem(
        rule_code="x",
        kind=kind,
        role="r",
        payee=payee,
        department=department,
        party=None,
        basis="b",
        amount=D(amount),
        points=D(kw.get("points", "0")),
        points_ledger=kw.get("ledger"),
    )


def test_totals_keep_money_points_and_charge_backs_apart() -> None:
    """DOMAIN.md §4: performance and management points are never money; charge-backs leave the
    internal ledger; cost of poor quality = compensation + fines + charge-backs."""
    head = Payee(PayeeKind.PERSON, "u-asm-head", "张主任")
    role = Payee(PayeeKind.ROLE, "director", "director of 涂装车间")
    entries = [
        LedgerEntry("a", NUMBER, "approved", _line(LineKind.FINE, "100", payee=head)),
        LedgerEntry("a", NUMBER, "approved", _line(LineKind.FINE, "200", payee=role, department="涂装车间")),
        LedgerEntry("a", NUMBER, "approved", _line(LineKind.POINTS, payee=head, points="2", ledger="performance")),
        LedgerEntry("a", NUMBER, "approved", _line(LineKind.POINTS, payee=head, points="2", ledger="management")),
        LedgerEntry(
            "a", NUMBER, "approved", _line(LineKind.CHARGE_BACK, "3000", payee=Payee(PayeeKind.SUPPLIER, "S", "S"))
        ),
        LedgerEntry("a", NUMBER, "approved", _line(LineKind.EXEMPT, payee=Payee(PayeeKind.ROLE, "-", "-"))),
    ]
    t = ledger_totals(entries, compensation=D(10000), pending=0)
    assert (t.fines, t.performance_points, t.management_points, t.charge_backs) == (D(300), D(2), D(2), D(3000))
    assert t.cost_of_poor_quality == D(13300)
    assert dict(t.suppliers) == {"S": D(3000)}
    assert t.unresolved == 1
    assert {k: v.fines for k, v in t.people.items()} == {("u-asm-head", "张主任"): D(100)}
    assert t.by_department() == {
        "涂装车间": {"fines": "200", "performance_points": "0", "management_points": "0", "lines": 1},
        "装配车间": {"fines": "100", "performance_points": "2", "management_points": "2", "lines": 3},
    }


def test_a_closed_period_closes_once_and_never_with_pending_assessments() -> None:
    period = LedgerPeriod(factory="F01", period="2026-11")
    with pytest.raises(InvalidTransition, match=r"1 assessment\(s\) are not approved yet"):
        period.close(ledger_totals([], D(0), pending=1), by="u", at=NOW, reason="month end")
    period.close(ledger_totals([], D(0), pending=0), by="u", at=NOW, reason="month end")
    assert (period.state, period.identity, period.version) == (PeriodState.CLOSED, "F01/2026-11", 1)
    with pytest.raises(InvalidTransition, match="closed already"):
        period.close(ledger_totals([], D(0), pending=0), by="u", at=NOW, reason="again")


# -- the ledger through the use cases ---------------------------------------------------------


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


ZHANG = party("person", "张三", 100, department="装配车间")


async def approve(make: Make, book: RuleBook, assessment_id: str) -> None:
    await handlers.approve(
        make(OPERATIONS), book, assessment_id, roles=("production_operations",), reason="签准", expected_version=None
    )


async def close(make: Make, book: RuleBook, period: str = "2026-11") -> handlers.Ledger:
    return await handlers.close_period(make(CLOSER), book, "F01", period, reason="month end")


async def test_the_ledger_totals_a_month_per_department_person_and_supplier(make: Make, book: RuleBook) -> None:
    """seed 000 §5.2.6 (900) + §4.3.3.2.3 on 70 % of 10,000 (illustrative) + a supplier's 30 % charged back."""
    await determine(
        make,
        book,
        "evt-1",
        responsibility(
            party("person", "张三", 70, department="装配车间"),
            party("supplier", "ACME", 30),
            findings=[finding("5.2.6", party="张三")],
            loss="10000",
        ),
    )
    ledger = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    t = ledger.totals
    # 4.3.3.2, technical general: workshop 0.03, head 0.01, director 0.005 of 7,000 = 210 + 70 + 35
    assert (t.compensation, t.fines, t.charge_backs, t.cost_of_poor_quality) == (
        D(10000),
        D(900 + 315),
        D(3000),
        D(14215),
    )
    assert (t.pending, t.unresolved) == (1, 0)
    assert t.by_department()["装配车间"]["fines"] == "1215.00"
    assert t.people[("u-asm-head", "张主任 / Zhang (assembly head)")].fines == D(170)
    assert t.people[("u-prod-vp", "赵副总 / Zhao (production VP)")].fines == D(235)
    assert ledger.illustrative_rules == ["4.3.3.2"]  # the ledger says it runs on illustrative values
    assert not ledger.closed


async def test_unresolved_lines_are_counted_for_hr(make: Make, book: RuleBook) -> None:
    """organisation: a department the directory lacks – its head and director are roles for HR."""
    await determine(
        make, book, "evt-1", responsibility(party("department", "涂装车间", 100), findings=[finding("5.2.6")])
    )
    ledger = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    assert ledger.totals.unresolved == 3 and ledger.totals.fines == D(900)


async def test_a_month_with_pending_assessments_cannot_be_closed(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    await determine(make, book, "evt-1", responsibility(ZHANG, findings=[finding("5.2.6")]))
    with pytest.raises(InvalidTransition, match="not approved yet"):
        await close(make, book)
    assert periods(store)["F01/2026-11"].state is PeriodState.OPEN


async def test_closing_the_month_freezes_its_totals(make: Make, store: MemoryStore, book: RuleBook) -> None:
    await determine(make, book, "evt-1", responsibility(ZHANG, findings=[finding("5.2.6")]))
    await approve(make, book, "evt-1")
    ledger = await close(make, book)

    state = periods(store)["F01/2026-11"]
    assert ledger.closed and (state.state, state.closed_by) == (PeriodState.CLOSED, CLOSER.id)
    assert state.totals == {
        "compensation": "0",
        "fines": "900.00",
        "charge_backs": "0",
        "cost_of_poor_quality": "900.00",
        "performance_points": "0",
        "management_points": "0",
        "unresolved_lines": 0,
    }
    row = store.audit[-1]
    assert (row.action, row.entity, row.entity_id, row.reason) == (
        "close_period",
        "ledger_period",
        "F01/2026-11",
        "month end",
    )
    with pytest.raises(InvalidTransition, match="closed already"):
        await close(make, book)


async def test_a_closed_period_refuses_changes_and_a_new_determination_lands_in_the_next_as_an_adjustment(
    make: Make, store: MemoryStore, clock: FakeClock, book: RuleBook
) -> None:
    """seed 000 §4.2.2 + DOMAIN.md §4: November is closed; a ruling in December changes
    November's determination – November stays as closed, December reverses and recounts."""
    await determine(make, book, "evt-1", responsibility(ZHANG, findings=[finding("5.2.6")]))
    await approve(make, book, "evt-1")
    await close(make, book)
    frozen = dict(periods(store)["F01/2026-11"].totals)

    clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    # determination 2, still dated November (responsibility was determined then): lands in December
    await determine(
        make,
        book,
        "evt-2",
        responsibility(party("department", "机加车间", 100), findings=[finding("5.2.4")], sequence=2),
    )
    old, new = stored(store)["evt-1"], stored(store)["evt-2"]
    assert (new.period, new.adjustment, new.status) == ("2026-12", True, AssessmentStatus.DRAFT)
    assert (old.status, old.period, old.reversal_period) == (AssessmentStatus.SUPERSEDED, "2026-11", "2026-12")

    november = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    assert november.closed and november.totals.fines == D(900)  # as it was closed
    assert periods(store)["F01/2026-11"].totals == frozen

    december = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-12")
    assert december.totals.fines == D(-900 + 50)
    reversals = [e for e in december.entries if e.assessment_id == "evt-1"]
    assert all(e.adjustment and e.line.note == "adjustment" for e in reversals)
    assert sorted(e.line.amount for e in reversals) == [D(-500), D(-200), D(-100), D(-100)]
    assert all(e.line.basis.startswith("reversal: ") for e in reversals)
    assert december.totals.by_department()["机加车间"]["fines"] == "50.00"


async def test_a_late_determination_dated_in_a_closed_month_lands_in_the_next_open_one(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    await close(make, book, "2026-11")  # nothing in it
    await close(make, book, "2026-12")
    await determine(make, book, "evt-1", responsibility(ZHANG, findings=[finding("5.2.3.2")]))
    a = stored(store)["evt-1"]
    assert (a.period, a.adjustment) == ("2027-01", True)
    assert {d.milestone: d.due_at for d in a.deadlines}[CycleMilestone.APPROVAL] == datetime(
        2027, 2, 20, 16, tzinfo=UTC
    )


async def test_voiding_an_approved_assessment_of_a_closed_month_reverses_it_in_the_open_one(
    make: Make, store: MemoryStore, clock: FakeClock, book: RuleBook
) -> None:
    """seed 000 §4.3.3.2.3 确因市场原因 (ruled after the month closed): December gives the 900 back."""
    await determine(make, book, "evt-1", responsibility(ZHANG, findings=[finding("5.2.6")]))
    await approve(make, book, "evt-1")
    await close(make, book)
    clock.advance(timedelta(days=12))  # 3 December
    await handlers.void_case(make(), book, NUMBER, "F01", why="market cause accepted")

    a = stored(store)["evt-1"]
    assert (a.status, a.reversal_period) == (AssessmentStatus.VOID, "2026-12")
    december = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-12")
    assert december.totals.fines == D(-900) and december.totals.pending == 0
    assert "F01/2026-12" in periods(store)


async def test_the_ledger_of_an_unknown_factory_or_an_invisible_one_is_refused(make: Make, book: RuleBook) -> None:
    with pytest.raises(UnknownFactory):
        await handlers.ledger(make(HEAD_OFFICE), book, "F09", "2026-11")
    with pytest.raises(NotFound):
        await handlers.close_period(make(Actor("user:f02", frozenset({"F02"}))), book, "F01", "2026-11", reason="x")
