"""Investigation's cases on SQLite and PostgreSQL: the SQL repository and migration 0003.

The case keeps its own complaint facts in columns and one row per deadline; a stale version is
refused at the database; cases stored before 0003 (public record and deadlines as JSON) are
carried over into the new columns and rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.db import UTCDateTime, alembic_config, create_engine, ensure_sqlite_folder, session_factory, upgrade
from cqm_shared.domain import DomainEvent, StaleVersion
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, InboxEntry
from investigation.adapters.orm import audit_log, case_deadlines, case_history, cases, tables
from investigation.adapters.publishing import to_public
from investigation.adapters.unit_of_work import SqlInvestigationUnitOfWork
from investigation.domain.model import CaseState, ComplaintFacts, DeadlineState, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.service.handlers import case_of, open_case
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
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
)


@dataclass(frozen=True, kw_only=True)
class Triaged(DomainEvent):
    """A stand-in transition (the 8D steps come in a later issue)."""

    action: ClassVar[str] = "triage"


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
        before = case.snapshot()
        case.deadlines = tuple(
            replace(d, state=DeadlineState.MET, met_at=clock.now()) if d.milestone == "first_response" else d
            for d in case.deadlines
        )
        case._transition(
            Triaged(at=clock.now(), actor="user:qe-1", reason="valid"),
            from_state=CaseState.OPENED,
            to_state=CaseState.TRIAGED,
            before=before,
        )
        await first.commit()

    second = make(Actor("user:qe-2"))
    async with second:
        stale = await second.cases.get(FACTS.number)
        assert stale is not None and stale.version == 2
        # As if read before the first editor committed (SQLite's BEGIN IMMEDIATE cannot
        # interleave two writers, so the stale read is set up in the repository's tracking).
        stale.version = 1
        second.cases._loaded[FACTS.number] = (stale, 1)
        stale.record(Triaged(at=clock.now(), reason="second editor"), before=None)
        with pytest.raises(StaleVersion) as refused:
            await second.commit()
    assert (refused.value.expected, refused.value.actual) == (1, 2)

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
    assert reasons == ["registered", "valid"]


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
