"""Investigation's cases on SQLite and PostgreSQL: the SQL repository, its projections and
rollups, and migrations 0003 and 0004.

The case keeps its complaint facts in columns, its records as JSON, one row per deadline and
round, and reads back equal to what was saved after every step of the state machine; a stale
version is refused at the database; the projections (parties, actions, columns) follow the
case, and every rollup figure equals the same figure counted by a GROUP BY over the rows, after
hundreds of random walks. Cases stored before 0003 and 0004 are carried over.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.db import UTCDateTime, alembic_config, create_engine, ensure_sqlite_folder, session_factory, upgrade
from cqm_shared.domain import StaleVersion
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, InboxEntry
from investigation.adapters.orm import (
    audit_log,
    case_actions,
    case_deadlines,
    case_history,
    case_parties,
    cases,
    tables,
)
from investigation.adapters.publishing import to_public
from investigation.adapters.unit_of_work import SqlInvestigationUnitOfWork
from investigation.domain.model import Case, CaseState, ComplaintFacts, DeadlineState, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import (
    AccidentCause,
    ActionKind,
    Category,
    Dispute,
    DisputeKind,
    FollowUp,
    LossClass,
    Party,
    PartyKind,
    QcFacts,
    Records,
    Reply,
    ReplyKind,
    Ruling,
    Severity,
    SpecialKind,
    Standardisation,
    Training,
)
from investigation.service.handlers import case_of, open_case
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
from tests.integration import investigation_cases as ic
from tests.unit.fakes import T0

RECEIVED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
REGISTERED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
INTAKE = Actor("system:/services/intake")
FACTS = ComplaintFacts(
    number="F01-2611-0001",
    factory="F01",
    registered_at=REGISTERED,
    received_at=RECEIVED,
    region=Region.DOMESTIC,
    province=Province.OUT,
    phenomenon="叠合板边角破损 chipped edges",
    customer_company="华东建工集团",
    part_number="PC-100",
    product_model="YB-PC",
    request_kind="report_8d",
    batch_return=True,
    quantity_defective=12,
)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, migrations_dir("investigation"), database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
def policies() -> PolicyBook[InvestigationPolicy]:
    return PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)


def units(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Callable[..., SqlInvestigationUnitOfWork]:
    def make(actor: Actor = INTAKE, inbox: InboxEntry | None = None) -> SqlInvestigationUnitOfWork:
        return SqlInvestigationUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            clock=clock,
            actor=actor,
            source="/services/investigation",
            translate=to_public,
            inbox=inbox,
        )

    return make


async def rows(sessions: async_sessionmaker[AsyncSession], table: sa.Table, *order: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(sa.select(table).order_by(*order))).all())


async def test_a_case_is_stored_in_columns_and_deadline_rows_and_read_back_whole(
    sessions: async_sessionmaker[AsyncSession], policies: PolicyBook[InvestigationPolicy]
) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    await open_case(
        make(inbox=InboxEntry("evt-1", "investigation.complaints", "complaint.registered")),
        FACTS,
        policies,
        why="registered",
    )

    [row] = await rows(sessions, cases)
    assert (row.state, row.version, row.opened_at, row.market_region, row.market_province) == (
        "opened",
        1,
        T0,
        "domestic",
        "out",
    )
    assert (row.customer_company, row.part_number, row.request_kind, row.batch_return) == (
        "华东建工集团",
        "PC-100",
        "report_8d",
        True,
    )
    deadlines = await rows(sessions, case_deadlines, case_deadlines.c.due_at)
    assert {(d.milestone, d.state) for d in deadlines} >= {("close", "pending"), ("preliminary_report", "pending")}
    assert all(d.due_at.tzinfo is not None and d.source.startswith("seed ") for d in deadlines)
    [history] = await rows(sessions, case_history)
    assert (history.action, history.actor, history.to_state, history.reason) == (
        "open",
        "system:/services/intake",
        "opened",
        "registered",
    )
    assert [e.event_type for e in await rows(sessions, tables.outbox)] == ["investigation.opened"]

    case = await case_of(make(Actor("user:ho")), FACTS.number)
    assert case.complaint == FACTS
    assert [d.milestone for d in case.deadlines] == [d.milestone for d in deadlines]
    close = case.deadline("close")
    assert close is not None and close.due_at == REGISTERED + timedelta(days=15)
    assert (case.version, case.opened_at, len(case.history)) == (1, T0, 1)


async def test_a_change_writes_state_deadlines_and_history_and_a_stale_one_is_refused(
    sessions: async_sessionmaker[AsyncSession], policies: PolicyBook[InvestigationPolicy]
) -> None:
    clock = FakeClock(T0)
    make = units(sessions, clock)
    await open_case(make(), FACTS, policies, why="registered")
    clock.advance(timedelta(hours=2))
    first = make(Actor("user:qe-1"))
    async with first:
        case = await first.cases.get(FACTS.number)
        assert case is not None
        case.triage(ic.triage(clock.now(), random.Random(1), valid=True, special=None), policies.for_factory("F01"))
        await first.commit()
    figures = await ic.rollup_figures(sessions)

    second = make(Actor("user:qe-2"))
    async with second:
        stale = await second.cases.get(FACTS.number)
        assert stale is not None and stale.version == 2
        # As if read before the first editor committed (SQLite's BEGIN IMMEDIATE cannot
        # interleave two writers, so the stale read is set up in the repository's tracking).
        stale.version = 1
        second.cases._loaded[FACTS.number] = (stale, 1)
        stale.withdraw(at=clock.now(), by="user:qe-2", reason="second editor")
        with pytest.raises(StaleVersion) as refused:
            await second.commit()
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert await ic.rollup_figures(sessions) == figures  # the refused change counted nothing

    case = await case_of(make(Actor("user:ho")), FACTS.number)
    assert (case.state, case.version, case.updated_at) == (CaseState.TRIAGED, 2, clock.now())
    met = case.deadline("first_response")
    assert met is not None and (met.state, met.met_at) == (DeadlineState.MET, clock.now())
    assert [(t.action, t.from_state, t.to_state, t.actor) for t in case.history] == [
        ("open", None, CaseState.OPENED, "system:/services/intake"),
        ("triage", CaseState.OPENED, CaseState.TRIAGED, "user:qe-1"),
    ]
    async with sessions() as session:
        reasons = (await session.execute(sa.select(audit_log.c.reason).order_by(audit_log.c.id))).scalars().all()
    assert reasons == ["registered", "确认成立"]


OLD_COMPLAINT = {
    "number": "F01-2611-0009",
    "status": "registered",
    "factory": "F01",
    "channel": "phone",
    "received_at": "2026-11-20T10:00:00+08:00",
    "registered_at": "2026-11-20T06:00:00Z",
    "customer": {"company": "A 公司", "contact_name": "B", "phone": "13800000000"},
    "product": {"part_number": "P-1", "model": None, "lot_numbers": []},
    "phenomenon": "crack",
    "customer_request": {"kind": "report_8d", "deadline": None, "note": None},
    "market": {"region": "foreign", "province": None},
    "batch_return": False,
}
OLD_DEADLINES = [
    {"milestone": "first_response", "due_at": "2026-11-21T06:00:00Z", "source": "seed 001 §1.2.1"},
    {"milestone": "close", "due_at": "2026-12-05T06:00:00Z", "source": "seed 000 §4.2.1 (外省15日)"},
]


async def test_migration_0003_carries_cases_stored_as_json_over(database_url: str) -> None:
    folder = migrations_dir("investigation")
    ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0002")
    old_cases = sa.table(
        "cases",
        sa.column("number", sa.String),
        sa.column("factory", sa.String),
        sa.column("state", sa.String),
        sa.column("opened_at", UTCDateTime),
        sa.column("updated_at", UTCDateTime),
        sa.column("complaint", sa.JSON),
        sa.column("deadlines", sa.JSON),
    )
    old_history = sa.table(
        "case_history",
        sa.column("number", sa.String),
        sa.column("at", UTCDateTime),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("from_state", sa.String),
        sa.column("to_state", sa.String),
        sa.column("reason", sa.Text),
    )
    opened = datetime(2026, 11, 20, 6, 1, tzinfo=UTC)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old_cases).values(
                number="F01-2611-0009",
                factory="F01",
                state="opened",
                opened_at=opened,
                updated_at=opened,
                complaint=OLD_COMPLAINT,
                deadlines=OLD_DEADLINES,
            )
        )
        await conn.execute(
            sa.insert(old_history).values(
                number="F01-2611-0009",
                at=opened,
                actor="system",
                action="open",
                to_state="opened",
                reason="complaint registered",
            )
        )
    await engine.dispose()

    await asyncio.to_thread(upgrade, folder, database_url)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            columns = set((await conn.execute(sa.select(cases).limit(0))).keys())
            legacy = await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("cases")})
        assert "complaint" not in legacy and "deadlines" not in legacy and columns <= legacy
        case = await case_of(units(session_factory(engine), FakeClock(T0))(Actor("user:ho")), "F01-2611-0009")
    finally:
        await engine.dispose()
    assert (case.state, case.version, case.opened_at) == (CaseState.OPENED, 1, opened)
    assert case.complaint == ComplaintFacts(
        number="F01-2611-0009",
        factory="F01",
        registered_at=datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
        received_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
        region=Region.FOREIGN,
        province=None,
        phenomenon="crack",
        customer_company="A 公司",
        part_number="P-1",
        product_model=None,
        request_kind="report_8d",
        batch_return=False,
    )
    assert [(d.milestone, d.due_at, d.state, d.source) for d in case.deadlines] == [
        ("first_response", datetime(2026, 11, 21, 6, 0, tzinfo=UTC), DeadlineState.PENDING, "seed 001 §1.2.1"),
        ("close", datetime(2026, 12, 5, 6, 0, tzinfo=UTC), DeadlineState.PENDING, "seed 000 §4.2.1 (外省15日)"),
    ]
    assert [(t.action, t.actor, t.reason) for t in case.history] == [("open", "system", "complaint registered")]


# -- the whole case, step by step ------------------------------------------------------------------

PARTY_QC = Party(PartyKind.PERSON, "王 Wang", Decimal(70), department="QC", role="line_qc")
PARTY_WORKSHOP = Party(PartyKind.PERSON, "李 Li", Decimal(30), department="PC workshop 1", role="process_owner")
RULED = (
    Party(PartyKind.PERSON, "王 Wang", Decimal("50.00"), department="QC", role="line_qc"),
    Party(PartyKind.ROLE, "shipping QC on duty", Decimal(50), department="shipping", role="shipping_qc"),
)
RND = Party(PartyKind.DEPARTMENT, "R&D", Decimal(100))


def story(policy: InvestigationPolicy) -> list[tuple[str, Callable[[Case], None]]]:
    """Every step of DOMAIN.md §3 once, a ruling that replaces the determination, then a second
    round after the customer did not accept (seed 002 (九) 9). Each step is one save."""
    rng = random.Random(7)
    t = ic.at

    def determine(at: str, parties: tuple[Party, ...], measured: bool, loss: str, **kw: Any) -> Callable[[Case], None]:
        resp = replace(
            ic.determination(t(at), rng, parties),
            qc_facts=QcFacts(measured=measured),
            loss_amount=Decimal(loss),
            loss_class=LossClass.SERIOUS,
            cause_class=AccidentCause.MANAGEMENT_GENERAL,
            **kw,
        )
        return lambda c: c.determine(resp, policy)

    triage = ic.triage(
        t("2026-11-20 07:00"),
        rng,
        valid=True,
        category=Category.QUALITY,
        severity=Severity.MAJOR,
        our_fault=True,
        special=SpecialKind.HAZARDOUS_SUBSTANCE,
        difficult=False,
        responsible_department="PC workshop 1",
        arrive_by=t("2026-11-20 18:00"),
    )
    return [
        ("triage", lambda c: c.triage(triage, policy)),
        ("on site", lambda c: c.record_onsite("arrived", policy, at=t("2026-11-20 17:00"), by=ic.QE)),
        ("containment", lambda c: c.contain(ic.containment(t("2026-11-20 20:00")))),
        ("preliminary reply", lambda c: c.reply(Reply(ReplyKind.PRELIMINARY, "初步报告", t("2026-11-20 21:00"), "cs"))),
        ("root cause", lambda c: c.analyse(ic.root_cause(t("2026-11-21 08:00")))),
        (
            "responsibility",
            determine("2026-11-21 10:00", (PARTY_QC, PARTY_WORKSHOP), True, "12000.50", override_reason=None),
        ),
        (
            "dispute",
            lambda c: c.dispute(
                Dispute(DisputeKind.OBJECTION, "QC", "measured wrongly", t("2026-11-21 11:00"), "user:head", 0), policy
            ),
        ),
        (
            "ruling",
            lambda c: c.rule(
                Ruling(upheld=True, at=t("2026-11-21 15:00"), by="user:ops", reason="shipping QC shares"),
                policy,
                new_parties=RULED,
            ),
        ),
        (
            "actions",
            lambda c: c.add_actions(
                [
                    ic.action(t("2026-11-21 16:00"), ActionKind.TEMPORARY, 1),
                    ic.action(t("2026-11-21 16:00"), ActionKind.PERMANENT, 3),
                ]
            ),
        ),
        ("verify A1", lambda c: c.verify("A1", ic.lots(t("2026-11-22 08:00"), 3, "L"), policy)),
        ("verify A2, a bad lot", lambda c: c.verify("A2", ic.lots(t("2026-11-25 08:00"), 1, "M", [0]), policy)),
        ("verify A2", lambda c: c.verify("A2", ic.lots(t("2026-11-25 12:00"), 3, "N"), policy)),
        (
            "standardisation",
            lambda c: c.standardise(Standardisation(("WI-PC-012", "CP-PC-003"), t("2026-11-25 15:00"), ic.QE)),
        ),
        ("training", lambda c: c.record_training(Training(t("2026-11-25 16:00"), "workshop_head", 12, "边角保护"))),
        ("final reply", lambda c: c.reply(Reply(ReplyKind.FINAL, "8D", t("2026-11-25 17:00"), "cs", channel="email"))),
        ("follow-up", lambda c: c.follow_up(FollowUp(True, True, t("2026-11-26 10:00"), "cs"))),
        ("close", lambda c: c.close(at=t("2026-11-26 12:00"), by=ic.QE, reason="three clean lots")),
        ("not accepted", lambda c: c.follow_up(FollowUp(False, False, t("2026-11-28 09:00"), "cs", "still chipping"))),
        (
            "reopen",
            lambda c: c.reopen(policy, at=t("2026-11-28 10:00"), by="cs", reason="the customer does not accept"),
        ),
        ("containment 2", lambda c: c.contain(ic.containment(t("2026-11-28 14:00")))),
        ("root cause 2", lambda c: c.analyse(ic.root_cause(t("2026-11-29 09:00")))),
        ("responsibility 2", determine("2026-11-29 10:00", (RND,), False, "45000")),
        ("actions 2", lambda c: c.add_actions([ic.action(t("2026-11-29 11:00"), ActionKind.PERMANENT, 3)])),
        ("verify A3", lambda c: c.verify("A3", ic.lots(t("2026-11-30 08:00"), 3, "P"), policy)),
        ("final reply 2", lambda c: c.reply(Reply(ReplyKind.FINAL, "8D rev. 2", t("2026-11-30 12:00"), "cs"))),
        ("close 2", lambda c: c.close(at=t("2026-12-01 09:00"), by=ic.QE, reason="accepted")),
    ]


async def test_a_case_through_every_step_and_a_second_round_reads_back_exactly_as_saved(
    sessions: async_sessionmaker[AsyncSession], policies: PolicyBook[InvestigationPolicy]
) -> None:
    policy = policies.for_factory("F01")
    make = ic.units(sessions, FakeClock(T0))
    opened_at = ic.at("2026-11-20 06:01")
    twin = Case.open(FACTS, policy, at=opened_at, by=INTAKE.id, reason="complaint.registered")
    await ic.store_new(make, [twin])
    twin.pull_changes()
    assert await ic.load(make, FACTS.number) == twin
    for name, step in story(policy):
        step(twin)  # the same step on a case never stored: what the database must give back
        twin.pull_changes()
        await ic.change(make, [FACTS.number], step)
        assert await ic.load(make, FACTS.number) == twin, name
        assert await ic.rollup_figures(sessions) == await ic.raw_figures(sessions), name
        if name == "ruling":  # the superseded determination's departments are counted down
            departments = (await ic.rollup_figures(sessions))["stats_departments"]
            assert departments == {("F01", 202611, "QC"): (1, 5000), ("F01", 202611, "shipping"): (1, 5000)}

    case = await ic.load(make, FACTS.number)
    assert (case.state, case.round, case.outcome, case.closed_at) == (
        CaseState.CLOSED,
        2,
        "resolved",
        ic.at("2026-12-01 09:00"),
    )
    resp = case.records.responsibility
    assert resp is not None and (resp.sequence, resp.parties, resp.loss_amount) == (3, (RND,), Decimal("45000"))
    assert all(t.tzinfo is UTC for t in (resp.at, case.records.actions[0].lots[0].at))  # aware UTC, not a copy zone
    assert isinstance(resp.loss_amount, Decimal) and isinstance(resp.parties[0].share, Decimal)
    assert sorted((d.milestone, d.round) for d in case.deadlines if d.milestone in ("close", "customer_reply")) == [
        ("close", 1),
        ("close", 2),
        ("customer_reply", 1),
        ("customer_reply", 2),
    ]
    late = case.deadline("customer_reply", 2)
    assert late is not None and late.met_at is not None and late.met_at > late.due_at

    async with sessions() as session:
        row = (await session.execute(sa.select(cases))).one()
        parties = (await session.execute(sa.select(case_parties))).all()
        actions = (await session.execute(sa.select(case_actions).order_by(case_actions.c.id))).all()
        deadline_rows = (await session.execute(sa.select(case_deadlines))).all()
    assert (row.round, row.outcome, row.opened_month, row.quantity_defective) == (2, "resolved", 202611, 12)
    assert (row.severity, row.category, row.valid, row.responsible_department) == (
        "major",
        "quality",
        True,
        "PC workshop 1",
    )
    assert (row.cause_class, row.loss_class, row.loss_amount) == ("management_general", "major", Decimal("45000.00"))
    assert [(p.kind, p.name, p.sequence, p.department, p.share) for p in parties] == [
        ("department", "R&D", 3, None, Decimal(100))
    ]
    assert [(a.id, a.kind, a.round, a.verified_at) for a in actions] == [
        ("A1", "temporary", 1, ic.at("2026-11-22 10:00")),
        ("A2", "permanent", 1, ic.at("2026-11-25 14:00")),
        ("A3", "permanent", 2, ic.at("2026-11-30 10:00")),
    ]
    assert {(d.factory, d.opened_month) for d in deadline_rows} == {("F01", 202611)}

    figures = await ic.rollup_figures(sessions)
    cycle = int((ic.at("2026-12-01 09:00") - opened_at).total_seconds())
    assert figures["stats_cases"] == {("F01", 202611, "resolved"): (1, cycle)}
    assert figures["stats_cycle_days"] == {("F01", 202611, 11): (1,)}
    assert figures["stats_departments"] == {("F01", 202611, "R&D"): (1, 10000)}
    assert figures["stats_accidents"] == {
        ("F01", 202611, "cause", "management_general"): (1, 4_500_000),
        ("F01", 202611, "loss", "major"): (1, 4_500_000),  # ≥ 30,000 (seed 000 §5.2 B)
    }
    milestones = figures["stats_deadlines"]
    assert milestones[("F01", 202611, "customer_reply")] == (1, 1, 0)  # round 1 on time, round 2 late
    assert milestones[("F01", 202611, "action")] == (2, 1, 0)  # A2's first lot came after its due date


async def test_the_pending_deadline_indexes_are_partial(database_url: str) -> None:
    await asyncio.to_thread(upgrade, migrations_dir("investigation"), database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                found = await conn.execute(
                    sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'case_deadlines'")
                )
            else:
                found = await conn.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'case_deadlines'")
                )
            definitions = {name: sql or "" for name, sql in found.all()}
    finally:
        await engine.dispose()
    for name in ("ix_case_deadlines_pending_due", "ix_case_deadlines_pending_factory"):
        assert "WHERE" in definitions[name].upper() and "pending" in definitions[name], definitions


# -- rollups against the rows --------------------------------------------------------------------


async def test_every_rollup_figure_equals_a_group_by_over_the_rows_after_random_walks(
    sessions: async_sessionmaker[AsyncSession], policies: PolicyBook[InvestigationPolicy]
) -> None:
    """300 cases in two factories over five months, random steps saved one to three cases per
    unit of work: reopenings, rulings that replace or clear a determination, withdrawals."""
    rng = random.Random(20261128)
    make = ic.units(sessions, FakeClock(T0))
    now: dict[str, datetime] = {}
    new = []
    for i in range(300):
        factory = rng.choice(("F01", "F02"))
        received = ic.at("2026-07-01 00:00") + timedelta(seconds=rng.randrange(0, 150 * 86400))
        complaint = ic.facts(f"{factory}-R-{i:04d}", factory, received, rng)
        opened_at = complaint.registered_at + timedelta(minutes=1)
        new.append(Case.open(complaint, policies.for_factory(factory), at=opened_at, by=INTAKE.id, reason="registered"))
        now[complaint.number] = opened_at
    for start in range(0, len(new), 50):
        await ic.store_new(make, new[start : start + 50])

    taken: Counter[str] = Counter()
    numbers = list(now)
    for _ in range(900):
        batch = rng.sample(numbers, rng.choice((1, 1, 2, 3)))

        def step(case: Case) -> None:
            for _ in range(rng.choice((1, 1, 2))):
                at = now[case.number] = ic.later(now[case.number], rng)
                taken[ic.random_step(case, policies.for_factory(case.factory), rng, at) or "refused"] += 1

        await ic.change(make, batch, step)

    assert taken["close"] > 20 and taken["reopen"] > 3 and taken["ruling"] > 5 and taken["withdraw"] > 0, taken
    rolled, raw = await ic.rollup_figures(sessions), await ic.raw_figures(sessions)
    assert rolled == raw
    assert all(rolled.values()), "every rollup has rows"
    months = {key[1] for key in rolled["stats_cases"]}
    assert len(months) >= 5 and {key[0] for key in rolled["stats_cases"]} == {"F01", "F02"}
    # …and no figure comes from nowhere: the raw side counts every case once.
    assert sum(v[0] for v in raw["stats_cases"].values()) == 300


# -- migration 0004 -----------------------------------------------------------------------------


async def test_migration_0004_gives_stored_cases_rounds_months_and_rollups_and_goes_back(database_url: str) -> None:
    folder = migrations_dir("investigation")
    ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0003")
    opened = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)  # 2026-11-01 in Shanghai: counted in UTC's October
    old_cases = sa.table(
        "cases",
        *(sa.column(n, sa.String) for n in ("number", "factory", "state", "market_region", "customer_company")),
        *(sa.column(n, UTCDateTime) for n in ("opened_at", "updated_at", "registered_at", "received_at")),
        sa.column("phenomenon", sa.Text),
        sa.column("version", sa.Integer),
    )
    old_deadlines = sa.table(
        "case_deadlines",
        *(sa.column(n, sa.String) for n in ("number", "milestone", "state", "source")),
        *(sa.column(n, UTCDateTime) for n in ("due_at", "met_at")),
    )
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old_cases).values(
                number="F02-2610-0001",
                factory="F02",
                state="triaged",
                market_region="domestic",
                customer_company="A 公司",
                opened_at=opened,
                updated_at=opened,
                registered_at=opened,
                received_at=opened,
                phenomenon="crack",
                version=2,
            )
        )
        await conn.execute(
            sa.insert(old_deadlines),
            [
                {
                    "number": "F02-2610-0001",
                    "milestone": "first_response",
                    "state": "met",
                    "source": "seed 001 §1.2.1",
                    "due_at": opened + timedelta(hours=24),
                    "met_at": opened + timedelta(hours=2),
                },
                {
                    "number": "F02-2610-0001",
                    "milestone": "close",
                    "state": "pending",
                    "source": "seed 000 §4.2.1",
                    "due_at": opened + timedelta(days=5),
                    "met_at": None,
                },
            ],
        )
    await engine.dispose()

    await asyncio.to_thread(upgrade, folder, database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        case = await ic.load(ic.units(sessions, FakeClock(T0)), "F02-2610-0001")
        assert (case.round, case.closed_at, case.outcome, case.records, case.version) == (1, None, None, Records(), 2)
        assert [(d.milestone, d.round, d.state) for d in case.deadlines] == [
            ("first_response", 1, DeadlineState.MET),
            ("close", 1, DeadlineState.PENDING),
        ]
        figures = await ic.rollup_figures(sessions)
        assert figures["stats_cases"] == {("F02", 202610, ""): (1, 0)}
        assert figures["stats_deadlines"] == {("F02", 202610, "first_response"): (1, 0, 0)}
        assert figures == await ic.raw_figures(sessions)
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0003")
    await asyncio.to_thread(upgrade, folder, database_url)  # and forward again
    engine = create_engine(database_url)
    try:
        case = await ic.load(ic.units(session_factory(engine), FakeClock(T0)), "F02-2610-0001")
        assert [(d.milestone, d.round) for d in case.deadlines] == [("first_response", 1), ("close", 1)]
    finally:
        await engine.dispose()
