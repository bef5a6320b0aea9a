"""Penalty's assessments and ledger periods on SQLite and PostgreSQL: the SQL repositories,
the public events of their changes, and migration 0004.

An assessment (a determination's or an SLA breach's) reads back equal to what was saved after
every step of its workflow, its decimals exact, its times aware UTC, its enums enums; a stale
version is refused at the database; a ledger reads what counts in its month and what is
reversed there; a period is read locked, so a close waits for whoever holds it. Assessments
stored before the rule engine become drafts without lines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import PenaltyAssessment, PenaltyPeriodClosed
from cqm_shared.db import (
    Money,
    Percent,
    UTCDateTime,
    alembic_config,
    create_engine,
    ensure_sqlite_folder,
    session_factory,
    upgrade,
)
from cqm_shared.domain import InvalidTransition, StaleVersion
from cqm_shared.uow import Actor, InboxEntry
from penalty.adapters.orm import assessment_lines, assessments, audit_log, ledger_periods, tables
from penalty.adapters.publishing import to_public
from penalty.adapters.rule_book import RuleBook
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.domain.ledger import (
    CycleMilestone,
    LedgerEntry,
    LedgerPeriod,
    PeriodState,
    cycle_deadlines,
    ledger_totals,
)
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.domain.policy import CycleStep, MonthlyCycle
from penalty.domain.terms import (
    AccidentClass,
    Breach,
    Computation,
    Degree,
    Determination,
    Finding,
    LineItem,
    LineKind,
    Party,
    Payee,
    PayeeKind,
    ProductStage,
)
from penalty.service import handlers
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
from tests.polling import wait_for

T0 = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")
CYCLE = MonthlyCycle(
    summary=CycleStep(day=15, source="seed 000 §4.2.2 (15日)"),
    workshop_proposal=CycleStep(day=18, source="seed 000 §4.2.2 (18日)"),
    approval=CycleStep(day=20, source="seed 000 §4.2.2 (20日)"),
)
SYSTEM = Actor("system:/services/investigation")
ASSEMBLY = "装配车间"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, migrations_dir("penalty"), database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


def units(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Callable[..., SqlPenaltyUnitOfWork]:
    def make(actor: Actor = SYSTEM, inbox: InboxEntry | None = None) -> SqlPenaltyUnitOfWork:
        return SqlPenaltyUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            clock=clock,
            actor=actor,
            source="/services/penalty",
            translate=to_public,
            inbox=inbox,
        )

    return make


# -- building assessments -----------------------------------------------------------------------


def determination(number: str = "F01-2611-0001", *, sequence: int = 1, factory: str = "F01") -> Determination:
    return Determination(
        number=number,
        factory=factory,
        determined_at=datetime(2026, 11, 20, 6, 15, 30, 123456, tzinfo=UTC),
        accident_class=AccidentClass.MANAGEMENT_GENERAL,
        loss_amount=Decimal("12000.50"),
        parties=(
            Party(kind="department", name=ASSEMBLY, share=Decimal("66.67")),
            Party(kind="person", name="张三", share=Decimal("13.33"), department=ASSEMBLY, role="operator"),
            Party(kind="supplier", name="华东钢构", share=Decimal("20")),
        ),
        findings=(
            Finding(code="5.2.3.2", occurrences=2),
            Finding(code="5.2.3.7", pieces=3, party=ASSEMBLY, degree=Degree.SERIOUS),
            Finding(code="5.2.3.1", product_stage=ProductStage.PROTOTYPE),
        ),
        sequence=sequence,
        order_number="SO-2026-118",
    )


HEAD = Payee(PayeeKind.PERSON, "u-asm-head", "张主任 / Zhang (assembly head)")
LINES = (
    LineItem(
        rule_code="5.2.3.2",
        kind=LineKind.FINE,
        role="department_head",
        payee=HEAD,
        department=ASSEMBLY,
        party=ASSEMBLY,
        basis="2 time(s) × 10",
        amount=Decimal("20.00"),
    ),
    LineItem(
        rule_code="5.2.3.2",
        kind=LineKind.FINE,
        role="responsible_person",
        payee=Payee(PayeeKind.PERSON, "张三", "张三"),
        department=ASSEMBLY,
        party="张三",
        basis="2 time(s) × 50",
        amount=Decimal("100.00"),
    ),
    LineItem(
        rule_code="4.3.1.6",
        kind=LineKind.POINTS,
        role="department_head",
        payee=HEAD,
        department=ASSEMBLY,
        party=None,
        basis="1 time(s) × 2 points × 33.33 %",
        points=Decimal("0.6666"),
        points_ledger="performance",
    ),
    LineItem(
        rule_code="4.3.3.2",
        kind=LineKind.FINE,
        role="director",
        payee=Payee(PayeeKind.ROLE, "director", f"director of {ASSEMBLY}"),
        department=ASSEMBLY,
        party=ASSEMBLY,
        basis="12000.5 × 0.005 × 66.67 % (illustrative coefficient)",
        amount=Decimal("40.00"),
        illustrative=True,
    ),
    LineItem(
        rule_code="charge_back",
        kind=LineKind.CHARGE_BACK,
        role="supplier",
        payee=Payee(PayeeKind.SUPPLIER, "华东钢构", "华东钢构"),
        department=None,
        party="华东钢构",
        basis="12000.5 × 20 %",
        amount=Decimal("2400.10"),
    ),
    LineItem(
        rule_code="5.2.3.1",
        kind=LineKind.EXEMPT,
        role="-",
        payee=Payee(PayeeKind.ROLE, "-", "-"),
        department=None,
        party=None,
        basis="exempt: prototype",
        note="样机、开发的新产品除外",
    ),
    LineItem(
        rule_code="002-2.6",
        kind=LineKind.COMMISSION_CANCELLED,
        role="salesperson",
        payee=Payee(PayeeKind.PERSON, "u-sales-1", "销售 陈 / Chen"),
        department="销售部",
        party="张三",
        basis="commission on order SO-2026-118 cancelled",
        note="取消该笔业务的提成 (已发放的予以扣回)",
    ),
)
COMPUTATION = Computation("2026.1", LINES, ("5.9.9: not in rule table 2026.1; no line computed",))


def assessed(
    assessment_id: str = "evt-1",
    d: Determination | None = None,
    *,
    breach: Breach | None = None,
    period: str = "2026-11",
    at: datetime = T0,
    lines: tuple[LineItem, ...] = LINES,
) -> Assessment:
    if breach is None and d is None:
        d = determination()
    return Assessment.assess(
        assessment_id,
        replace(COMPUTATION, lines=lines),
        determination=d,
        breach=breach,
        period=period,
        adjustment=False,
        deadlines=cycle_deadlines(period, CYCLE, ZONE),
        policy_digest="0123456789ab",
        at=at,
        reason="responsibility determined",
    )


async def save(make: Callable[..., SqlPenaltyUnitOfWork], *found: Assessment) -> None:
    uow = make()
    async with uow:
        for a in found:
            uow.assessments.add(a)
        await uow.commit()


async def load(make: Callable[..., SqlPenaltyUnitOfWork], assessment_id: str) -> Assessment:
    uow = make()
    async with uow:
        found = await uow.assessments.get(assessment_id)
    assert found is not None
    return found


async def published(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str | None, dict[str, Any]]]:
    async with sessions() as session:
        bodies = (await session.execute(sa.select(tables.outbox.c.body).order_by(tables.outbox.c.created_at))).scalars()
        events = [json.loads(body) for body in bodies]
    return [(e["type"], e.get("subject"), e["data"]) for e in events]


def assert_exact(a: Assessment) -> None:
    """What equality does not show: the types and zones read back."""
    assert isinstance(a.status, AssessmentStatus)
    assert isinstance(a.lines, tuple) and isinstance(a.warnings, tuple) and isinstance(a.deadlines, tuple)
    times = [a.received_at, a.approved_at, *(d.due_at for d in a.deadlines), *(d.met_at for d in a.deadlines)]
    times += [d.cancelled_at for d in a.deadlines]
    if a.determination is not None:
        times.append(a.determination.determined_at)
        assert isinstance(a.determination.accident_class, AccidentClass)
        assert isinstance(a.determination.parties, tuple) and isinstance(a.determination.findings, tuple)
    if a.breach is not None:
        times += [a.breach.due_at, a.breach.breached_at]
    if a.appeal is not None:
        times.append(a.appeal.at)
        assert isinstance(a.appeal.lines, tuple)
    if a.decision is not None:
        times.append(a.decision.at)
        assert all(isinstance(k, int) and isinstance(v, Decimal) for k, v in a.decision.amounts.items())
    assert all(t.tzinfo is UTC for t in times if t is not None)
    assert all(isinstance(d.milestone, CycleMilestone) for d in a.deadlines)
    for x in a.lines:
        assert isinstance(x.kind, LineKind) and isinstance(x.payee.kind, PayeeKind)
        assert type(x.amount) is Decimal and type(x.points) is Decimal


# -- assessments -------------------------------------------------------------------------------


async def test_an_assessment_reads_back_exactly_as_saved_through_its_whole_workflow(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    a = assessed()
    await save(make, a)

    stored = await load(make, "evt-1")
    assert stored == a
    assert_exact(stored)
    assert str(stored.lines[2].points) == "0.6666"  # exact, whatever the scale
    assert [str(p.share) for p in stored.determination.parties] == ["66.67", "13.33", "20"]  # type: ignore[union-attr]
    assert stored.deadlines[0].state == "met" and stored.deadlines[0].met_at == T0
    assert stored.policy_version == "2026.1#0123456789ab" and stored.version == 1
    async with sessions() as session:
        row = (await session.execute(sa.select(assessments))).one()
        assert (row.basis, row.sequence, row.milestone, row.appeal, row.decision) == (
            "determination",
            1,
            None,
            None,
            None,
        )
        null = await session.execute(sa.select(sa.func.count()).where(assessments.c.appeal.is_(None)))
        assert null.scalar_one() == 1  # SQL NULL, not JSON null
        assert len((await session.execute(sa.select(assessment_lines))).all()) == len(LINES)

    # 申诉 → the GM's decision (two lines changed) → approval: each step reads back as it was left.
    clock.advance(timedelta(days=1))
    uow = make(Actor("user:asm-head"))
    async with uow:
        appealing = await uow.assessments.get("evt-1")
        assert appealing is not None
        appealing.file_appeal(by="user:asm-head", lines=(1, 0), at=clock.now(), reason="已整改 corrected at once")
        await uow.commit()
    assert await load(make, "evt-1") == appealing
    assert appealing.appeal is not None and appealing.appeal.lines == (0, 1)

    clock.advance(timedelta(days=1))
    uow = make(Actor("user:gm"))
    async with uow:
        deciding = await uow.assessments.get("evt-1")
        assert deciding is not None
        amounts = {0: Decimal("10.00"), 1: Decimal("0.00")}
        deciding.decide_appeal(by="user:gm", upheld=True, amounts=amounts, at=clock.now(), reason="减半 halved")
        await uow.commit()
    decided = await load(make, "evt-1")
    assert decided == deciding
    assert_exact(decided)
    assert [(x.amount, x.original_amount) for x in decided.lines[:2]] == [
        (Decimal("10.00"), Decimal("20.00")),
        (Decimal("0.00"), Decimal("100.00")),
    ]
    assert decided.decision is not None and decided.decision.amounts == amounts

    clock.advance(timedelta(days=1))
    uow = make(Actor("user:ops"))
    async with uow:
        approving = await uow.assessments.get("evt-1")
        assert approving is not None
        approving.approve(by="user:ops", at=clock.now(), reason="签准")
        await uow.commit()
    approved = await load(make, "evt-1")
    assert approved == approving
    assert_exact(approved)
    assert (approved.status, approved.version, approved.approved_by, approved.approved_at) == (
        AssessmentStatus.APPROVED,
        4,
        "user:ops",
        clock.now(),
    )
    assert [d.state for d in approved.deadlines] == ["met", "met", "met"]

    events = await published(sessions)
    assert [(t, s, d["status"], d["version"]) for t, s, d in events] == [
        ("penalty.assessed", "F01-2611-0001", "draft", 1),
        ("penalty.appealed", "F01-2611-0001", "appealed", 2),
        ("penalty.assessed", "F01-2611-0001", "draft", 3),
        ("penalty.finalized", "F01-2611-0001", "approved", 4),
    ]
    final = PenaltyAssessment.model_validate(events[-1][2])
    assert (final.basis, final.determination, final.milestone, final.period) == ("determination", 1, None, "2026-11")
    assert (final.total, final.charge_backs, final.illustrative) == (Decimal("50.00"), Decimal("2400.10"), True)
    assert [line.position for line in final.lines] == list(range(len(LINES)))
    assert final.lines[1].original_amount == Decimal("100.00") and final.lines[3].unresolved
    assert final.appeal is not None and (final.appeal.lines, final.appeal.decided_by, final.appeal.upheld) == (
        [0, 1],
        "user:gm",
        True,
    )
    assert (final.actor, final.reason, final.approved_by) == ("user:ops", "签准", "user:ops")
    assert [(d.milestone, d.state, d.round) for d in final.deadlines] == [
        ("monthly_summary", "met", 1),
        ("workshop_proposal", "met", 1),
        ("production_approval", "met", 1),
    ]
    async with sessions() as session:
        actions = (await session.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))).scalars().all()
    assert actions == ["assess", "appeal", "decide_appeal", "approve"]


async def test_a_breach_assessment_has_no_determination_and_reads_back_whole(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    make = units(sessions, FakeClock(T0))
    due = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    breach = Breach("F01-2611-0002", "F01", "workshop_training", 2, due, due + timedelta(minutes=1), ASSEMBLY)
    anonymous = replace(breach, number="F01-2611-0003", department=None)
    training = (LINES[0], LINES[2])
    await save(make, assessed("b-1", breach=breach, lines=training), assessed("b-2", breach=anonymous, lines=()))

    first, second = await load(make, "b-1"), await load(make, "b-2")
    assert first == assessed("b-1", breach=breach, lines=training) and first.breach == breach
    assert first.determination is None and first.sequence == 0
    assert second.breach == anonymous and second.lines == ()
    assert_exact(first)
    [event] = [d for _, subject, d in await published(sessions) if subject == "F01-2611-0002"]
    data = PenaltyAssessment.model_validate(event)
    assert (data.basis, data.determination, data.milestone, data.total) == (
        "breach",
        None,
        "workshop_training",
        Decimal("20.00"),
    )


async def test_a_stale_version_is_refused_and_nothing_of_it_is_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    await save(make, assessed())
    first = make(Actor("user:ops"))
    async with first:
        a = await first.assessments.get("evt-1")
        assert a is not None
        a.approve(by="user:ops", at=clock.now(), reason="签准")
        await first.commit()

    second = make(Actor("user:gm"))
    async with second:
        stale = await second.assessments.get("evt-1")
        assert stale is not None and stale.version == 2
        # As if read before the first editor committed (SQLite's BEGIN IMMEDIATE cannot
        # interleave two writers, so the stale read is set up in the repository's tracking).
        stale.status, stale.version = AssessmentStatus.DRAFT, 1
        second.assessments._loaded["evt-1"] = (stale, 1)
        stale.void(reversal_period=None, at=clock.now(), reason="cleared")
        with pytest.raises(StaleVersion) as refused:
            await second.commit()
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    stored = await load(make, "evt-1")
    assert (stored.status, stored.version) == (AssessmentStatus.APPROVED, 2)
    assert [t for t, _, _ in await published(sessions)] == ["penalty.assessed", "penalty.finalized"]


async def test_two_writers_of_one_assessment_on_postgresql_the_second_is_refused(postgres_url: str) -> None:
    """PostgreSQL only: SQLite serialises writers, so there is no interleaving to refuse there."""
    await asyncio.to_thread(upgrade, migrations_dir("penalty"), postgres_url)
    engine = create_engine(postgres_url)
    try:
        await _two_writers(session_factory(engine))
    finally:
        await engine.dispose()


async def _two_writers(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    await save(make, assessed())
    first, second = make(Actor("user:ops")), make(Actor("user:asm-head"))
    async with first, second:
        a = await first.assessments.get("evt-1")
        b = await second.assessments.get("evt-1")
        assert a is not None and b is not None
        a.approve(by="user:ops", at=clock.now(), reason="签准")
        await first.commit()
        b.file_appeal(by="user:asm-head", lines=(), at=clock.now(), reason="too late")
        with pytest.raises(StaleVersion) as refused:
            await second.commit()
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert (await load(make, "evt-1")).status is AssessmentStatus.APPROVED


def as_stored(a: Assessment, status: AssessmentStatus, reversal: str | None = None) -> Assessment:
    """`a` in `status` as if through its workflow (version 1: a fresh insert)."""
    a.pull_changes()
    a.status, a.reversal_period = status, reversal
    return a


async def test_a_ledger_reads_what_counts_in_its_month_and_what_is_reversed_there(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    make = units(sessions, FakeClock(T0))
    s = AssessmentStatus
    cases: dict[str, tuple[str, str, AssessmentStatus, str | None]] = {
        # id: (factory, period, status, reversal period)
        "draft": ("F01", "2026-11", s.DRAFT, None),
        "appealed": ("F01", "2026-11", s.APPEALED, None),
        "approved": ("F01", "2026-11", s.APPROVED, None),
        "superseded-open": ("F01", "2026-11", s.SUPERSEDED, None),  # replaced while its month was open
        "void-open": ("F01", "2026-11", s.VOID, None),
        "superseded-closed": ("F01", "2026-11", s.SUPERSEDED, "2026-12"),  # counted here, reversed in December
        "void-closed": ("F01", "2026-10", s.VOID, "2026-11"),  # October's, reversed here
        "other-month": ("F01", "2026-12", s.DRAFT, None),
        "other-factory": ("F02", "2026-11", s.APPROVED, None),
    }
    found = [
        as_stored(
            assessed(
                key,
                determination(f"{factory}-2611-{i:04d}", factory=factory),
                period=period,
                at=T0 + timedelta(minutes=i),
            ),
            status,
            reversal,
        )
        for i, (key, (factory, period, status, reversal)) in enumerate(cases.items())
    ]
    await save(make, *found)

    uow = make()
    async with uow:
        november = [a.id for a in await uow.assessments.in_ledger("F01", "2026-11")]
        december = [a.id for a in await uow.assessments.in_ledger("F01", "2026-12")]
        october = [a.id for a in await uow.assessments.in_ledger("F01", "2026-10")]
        f02 = [a.id for a in await uow.assessments.in_ledger("F02", "2026-11")]
    assert november == ["draft", "appealed", "approved", "superseded-closed", "void-closed"]
    assert december == ["superseded-closed", "other-month"]
    assert october == ["void-closed"]
    assert f02 == ["other-factory"]


async def test_assessments_are_found_by_case_complaint_and_search_within_the_callers_factories(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    make = units(sessions, FakeClock(T0))
    first = assessed("d-1", determination("F01-2611-0001"), at=T0)
    second = as_stored(
        assessed("d-2", determination("F01-2611-0001", sequence=2), at=T0 + timedelta(hours=1)),
        AssessmentStatus.APPROVED,
    )
    other = assessed("d-3", determination("F01-2611-0002"), period="2026-12", at=T0 + timedelta(hours=2))
    f02 = assessed("d-4", determination("F02-2611-0001", factory="F02"), at=T0 + timedelta(hours=3))
    await save(make, first, second, other, f02)

    uow = make()
    async with uow:
        assert [a.id for a in await uow.assessments.of_case("F01-2611-0001")] == ["d-1", "d-2"]
        assert [a.id for a in await uow.assessments.for_complaint("F01-2611-0001", frozenset({"F01"}))] == [
            "d-1",
            "d-2",
        ]
        assert await uow.assessments.for_complaint("F01-2611-0001", frozenset({"F02"})) == []
        search = uow.assessments.search
        assert [a.id for a in await search(None)] == ["d-4", "d-3", "d-2", "d-1"]  # newest first
        assert [a.id for a in await search(frozenset({"F01"}))] == ["d-3", "d-2", "d-1"]
        assert [a.id for a in await search(frozenset({"F01"}), factory="F02")] == []
        assert [a.id for a in await search(None, factory="F01", period="2026-11")] == ["d-2", "d-1"]
        assert [a.id for a in await search(None, status=AssessmentStatus.APPROVED)] == ["d-2"]
        assert [a.id for a in await search(None, limit=2, offset=1)] == ["d-3", "d-2"]
        # One object per assessment within a unit of work, whichever query found it.
        assert (await uow.assessments.get("d-2")) is (await uow.assessments.of_case("F01-2611-0001"))[1]


# -- ledger periods ----------------------------------------------------------------------------


def entries() -> list[LedgerEntry]:
    return [LedgerEntry("evt-1", "F01-2611-0001", "approved", line) for line in LINES]


async def test_a_period_is_created_open_closed_for_good_and_published(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    uow = make()
    async with uow:
        assert await uow.periods.get("F01", "2026-11") is None
        uow.periods.add(LedgerPeriod(factory="F01", period="2026-11"))
        uow.periods.add(LedgerPeriod(factory="F01", period="2026-12"))
        uow.periods.add(LedgerPeriod(factory="F02", period="2026-10"))
        # What this unit of work added is what it reads (not a second insert).
        added = await uow.periods.get("F01", "2026-11")
        assert added is not None and added.state is PeriodState.OPEN
        await uow.commit()

    uow = make(Actor("user:ops"))
    async with uow:
        assert await uow.periods.closed_periods("F01") == []
        for factory, period in (("F01", "2026-11"), ("F01", "2026-12"), ("F02", "2026-10")):
            found = await uow.periods.get(factory, period)
            assert found is not None and found.version == 0
            found.close(ledger_totals(entries(), Decimal("12000.50"), 0), by="user:ops", at=clock.now(), reason="月结")
        await uow.commit()

    uow = make()
    async with uow:
        closed = await uow.periods.get("F01", "2026-11")
        assert await uow.periods.closed_periods("F01") == ["2026-11", "2026-12"]
        assert (await uow.periods.closed_periods("F01"))[-1] == "2026-12"
        assert await uow.periods.closed_periods("F03") == []
    assert closed is not None
    assert (closed.state, closed.closed_at, closed.closed_by, closed.version) == (
        PeriodState.CLOSED,
        clock.now(),
        "user:ops",
        1,
    )
    assert closed.closed_at is not None and closed.closed_at.tzinfo is UTC
    assert closed.totals == {
        "compensation": "12000.50",
        "fines": "160.00",
        "charge_backs": "2400.10",
        "cost_of_poor_quality": "14560.60",
        "performance_points": "0.6666",
        "management_points": "0",
        "unresolved_lines": 1,
    }
    events = await published(sessions)
    assert [(t, s) for t, s, _ in events] == [("penalty.period_closed", None)] * 3
    data = PenaltyPeriodClosed.model_validate(events[0][2])
    assert (data.factory, data.period, data.closed_at, data.fines, data.cost_of_poor_quality) == (
        "F01",
        "2026-11",
        clock.now(),
        Decimal("160.00"),
        Decimal("14560.60"),
    )
    assert {name: (t.fines, t.performance_points, t.lines) for name, t in data.departments.items()} == {
        ASSEMBLY: (Decimal("160.00"), Decimal("0.6666"), 4),
    }
    assert data.unresolved_lines == 1


async def test_a_stale_period_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    uow = make()
    async with uow:
        uow.periods.add(LedgerPeriod(factory="F01", period="2026-11"))
        await uow.commit()
    uow = make()
    async with uow:
        stale = await uow.periods.get("F01", "2026-11")
        assert stale is not None
        uow.periods._loaded[stale.identity] = (stale, 5)  # as if read at another version
        stale.close(ledger_totals([], Decimal(0), 0), by="user:ops", at=clock.now(), reason="月结")
        with pytest.raises(StaleVersion) as refused:
            await uow.commit()
    assert (refused.value.expected, refused.value.actual) == (5, 0)


async def test_a_period_read_is_locked_until_the_reader_commits(postgres_url: str) -> None:
    """PostgreSQL: SELECT … FOR UPDATE – a close waits for the assessment landing in the period,
    and then sees it. (SQLite serialises writers: a second writer cannot even begin.)"""
    await asyncio.to_thread(upgrade, migrations_dir("penalty"), postgres_url)
    engine = create_engine(postgres_url)
    try:
        await _close_waits_for_the_holder(session_factory(engine))
    finally:
        await engine.dispose()


async def _close_waits_for_the_holder(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    uow = make()
    async with uow:
        uow.periods.add(LedgerPeriod(factory="F01", period="2026-11"))
        await uow.commit()

    async def lock_waiters() -> int:
        async with sessions() as session:
            sql = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return int((await session.execute(sa.text(sql))).scalar_one())

    holder = make()
    async with holder:
        assert await holder.periods.get("F01", "2026-11") is not None

        async def close() -> LedgerPeriod | None:
            closer = make(Actor("user:ops"))
            async with closer:
                found = await closer.periods.get("F01", "2026-11")
                assert found is not None
                totals = ledger_totals([], Decimal(0), len(await closer.assessments.in_ledger("F01", "2026-11")))
                found.close(totals, by="user:ops", at=clock.now(), reason="月结")
                await closer.commit()
            return found

        closing = asyncio.create_task(close())
        await wait_for(lock_waiters, what="the close waiting on the period's row lock")
        assert not closing.done()  # blocked by the holder, not finished
        holder.assessments.add(assessed())
        await holder.commit()
    with pytest.raises(InvalidTransition, match="not approved yet"):  # it saw the draft that landed
        await closing


# -- the use cases on the real database ----------------------------------------------------------


def f01_determination(sequence: int, at: datetime, *, loss: str = "3000.00") -> Determination:
    return Determination(
        number="F01-2611-0007",
        factory="F01",
        determined_at=at,
        accident_class=AccidentClass.TECHNICAL_GENERAL,
        loss_amount=Decimal(loss),
        parties=(
            Party(kind="department", name="assembly", share=Decimal("70")),
            Party(kind="supplier", name="华东钢构", share=Decimal("30")),
        ),
        findings=(Finding(code="5.2.3.2", occurrences=2),),
        sequence=sequence,
    )


async def test_determinations_supersede_and_a_closed_month_is_reversed_in_the_next(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rules = RuleBook(POLICY_DIR)
    clock = FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    make = units(sessions, clock)
    november = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    await handlers.assess_determination(make(), rules, "evt-1", f01_determination(1, november), why="determined")
    clock.advance(timedelta(minutes=5))
    await handlers.assess_determination(make(), rules, "evt-2", f01_determination(2, november), why="re-determined")
    first, second = await load(make, "evt-1"), await load(make, "evt-2")
    assert (first.status, first.superseded_by, first.reversal_period) == (AssessmentStatus.SUPERSEDED, "evt-2", None)
    assert (second.status, second.period, second.adjustment) == (AssessmentStatus.DRAFT, "2026-11", False)
    assert second.lines and {x.kind for x in second.lines} >= {LineKind.FINE, LineKind.CHARGE_BACK}
    assert_exact(second)

    clock.advance(timedelta(minutes=5))
    ops = make(Actor("user:ops"))
    await handlers.approve(ops, rules, "evt-2", roles=["production_operations"], reason="签准", expected_version=1)
    clock.set(datetime(2026, 12, 16, 2, 0, tzinfo=UTC))
    book = await handlers.close_period(make(Actor("user:ops")), rules, "F01", "2026-11", reason="月结")
    assert book.closed and [a.id for a in book.assessments] == ["evt-2"]

    clock.advance(timedelta(minutes=5))
    # A third determination of November's case after November closed: December, as an adjustment,
    # and November's approved assessment is reversed in December.
    await handlers.assess_determination(
        make(), rules, "evt-3", f01_determination(3, november, loss="1000.00"), why="ruled"
    )
    second, third = await load(make, "evt-2"), await load(make, "evt-3")
    assert (second.status, second.reversal_period) == (AssessmentStatus.SUPERSEDED, "2026-12")
    assert (third.period, third.adjustment) == ("2026-12", True)
    uow = make()
    async with uow:
        assert [a.id for a in await uow.assessments.in_ledger("F01", "2026-11")] == ["evt-2"]
        assert [a.id for a in await uow.assessments.in_ledger("F01", "2026-12")] == ["evt-2", "evt-3"]
        assert await uow.periods.closed_periods("F01") == ["2026-11"]
        december = await uow.periods.get("F01", "2026-12")
        assert december is not None and december.state is PeriodState.OPEN
    types = [t for t, _, _ in await published(sessions)]
    assert types == [
        "penalty.assessed",
        "penalty.assessed",
        "penalty.finalized",
        "penalty.period_closed",
        "penalty.assessed",
    ]


# -- migration 0004 ------------------------------------------------------------------------------


async def test_migration_0004_makes_stored_assessments_drafts_without_lines_and_goes_back(
    database_url: str,
) -> None:
    folder = migrations_dir("penalty")
    ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0003")
    determined = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Shanghai: December
    received = determined + timedelta(minutes=3)
    old = sa.table(
        "assessments",
        *(sa.column(n, sa.String) for n in ("id", "number", "factory", "status", "accident_class")),
        sa.column("loss_amount", Money),
        sa.column("determined_at", UTCDateTime),
        sa.column("received_at", UTCDateTime),
        sa.column("rule_codes", sa.JSON),
        sa.column("version", sa.Integer),
    )
    parties = sa.table(
        "assessment_parties",
        sa.column("assessment_id", sa.String),
        sa.column("position", sa.Integer),
        *(sa.column(n, sa.String) for n in ("kind", "name", "department", "role")),
        sa.column("share", Percent),
    )
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old).values(
                id="evt-old",
                number="F01-2611-0042",
                factory="F01",
                status="awaiting_rules",
                accident_class="technical_general",
                loss_amount=Decimal("1200.50"),
                determined_at=determined,
                received_at=received,
                rule_codes=["5.2.3.2", "5.2.6", "5.2.3.2"],
                version=1,
            )
        )
        await conn.execute(
            sa.insert(parties),
            [
                {
                    "assessment_id": "evt-old",
                    "position": 0,
                    "kind": "department",
                    "name": ASSEMBLY,
                    "share": Decimal(60),
                },
                {"assessment_id": "evt-old", "position": 1, "kind": "person", "name": "张三", "share": Decimal(40)},
            ],
        )
    await engine.dispose()

    await asyncio.to_thread(upgrade, folder, database_url)
    engine = create_engine(database_url)
    try:
        make = units(session_factory(engine), FakeClock(T0))
        a = await load(make, "evt-old")
        uow = make()
        async with uow:
            ledger = [x.id for x in await uow.assessments.in_ledger("F01", "2026-12")]
    finally:
        await engine.dispose()
    assert (a.status, a.lines, a.period, a.adjustment, a.policy_version, a.version) == (
        AssessmentStatus.DRAFT,
        (),
        "2026-12",
        False,
        "none",
        1,
    )
    assert a.warnings == ("assessed before the rule engine: no lines computed",)
    assert (a.deadlines, a.appeal, a.decision, a.breach, a.received_at) == ((), None, None, None, received)
    assert a.determination == Determination(
        number="F01-2611-0042",
        factory="F01",
        determined_at=determined,
        accident_class=AccidentClass.TECHNICAL_GENERAL,
        loss_amount=Decimal("1200.50"),
        parties=(
            Party(kind="department", name=ASSEMBLY, share=Decimal(60)),
            Party(kind="person", name="张三", share=Decimal(40)),
        ),
        findings=(Finding(code="5.2.3.2"), Finding(code="5.2.6")),
        sequence=1,
    )
    assert ledger == ["evt-old"]  # a pending draft of December's ledger

    await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0003")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            status, codes = (await conn.execute(sa.select(old.c.status, old.c.rule_codes))).one()
    finally:
        await engine.dispose()
    assert (status, codes) == ("awaiting_rules", ["5.2.3.2", "5.2.6"])
    await asyncio.to_thread(upgrade, folder, database_url)  # and forward again
    engine = create_engine(database_url)
    try:
        a = await load(units(session_factory(engine), FakeClock(T0)), "evt-old")
        assert (a.status, a.period) == (AssessmentStatus.DRAFT, "2026-12")
        async with engine.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(ledger_periods))).scalar_one() == 0
    finally:
        await engine.dispose()
