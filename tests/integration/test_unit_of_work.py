"""The SQL unit of work on SQLite and PostgreSQL (penalty's, as a representative).

One transaction holds the aggregate, its audit row, its outbox events and the inbox claim;
leaving without commit writes nothing; a stale version is refused at the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.db import create_engine, session_factory, upgrade
from cqm_shared.domain import DomainEvent, StaleVersion
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry
from penalty.adapters.orm import assessment_parties, assessments, audit_log, tables
from penalty.adapters.publishing import to_public
from penalty.adapters.rule_book import RuleBook
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.domain.terms import AccidentClass, Computation, Determination, Finding, Party
from penalty.service.handlers import assess_determination
from tests.helpers import migrations_dir
from tests.unit.fakes import T0


@dataclass(frozen=True, kw_only=True)
class Drafted(DomainEvent):
    action: ClassVar[str] = "draft"


DETERMINATION = Determination(
    number="F01-2611-0001",
    factory="F01",
    determined_at=T0,
    accident_class=AccidentClass.MANAGEMENT_GENERAL,
    loss_amount=Decimal("25000.00"),
    parties=(
        Party(kind="role", name="线检QC line QC", share=Decimal("70")),
        Party(kind="role", name="工序责任人 process owner", share=Decimal("30")),
    ),
    findings=(Finding("4.3.3.2"),),
)
RULES = RuleBook(Path(__file__).resolve().parents[2] / "deploy" / "policies")


async def open_assessment(uow: SqlPenaltyUnitOfWork, assessment_id: str, d: Determination, *, why: str) -> None:
    await assess_determination(uow, RULES, assessment_id, d, why=why)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, migrations_dir("penalty"), database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1))


def units(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Callable[..., SqlPenaltyUnitOfWork]:
    woken: list[int] = []

    def make(inbox: InboxEntry | None = None) -> SqlPenaltyUnitOfWork:
        return SqlPenaltyUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            after_commit=lambda: woken.append(1),
            clock=clock,
            actor=Actor("system:/services/investigation"),
            source="/services/penalty",
            translate=to_public,
            inbox=inbox,
        )

    return make


async def count(sessions: async_sessionmaker[AsyncSession], table: sa.Table) -> int:
    async with sessions() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_commit_writes_aggregate_parties_audit_and_inbox_in_one_transaction(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    make = units(sessions, clock)
    entry = InboxEntry("evt-1", "penalty.responsibility", "investigation.responsibility_determined")
    await open_assessment(make(entry), "evt-1", DETERMINATION, why="determined")
    async with sessions() as session:
        row = (await session.execute(sa.select(assessments))).one()
        audit = (await session.execute(sa.select(audit_log))).one()
        inbox = (await session.execute(sa.select(tables.inbox))).one()
    assert (row.status, row.version, row.loss_amount, row.received_at) == (
        "draft",
        1,
        Decimal("25000.00"),
        clock.now(),
    )
    assert await count(sessions, assessment_parties) == 2
    assert (audit.action, audit.entity_id, audit.actor, audit.at, audit.reason) == (
        "assess",
        "F01-2611-0001",
        "system:/services/investigation",
        clock.now(),
        "determined",
    )
    assert (inbox.event_id, inbox.consumer, inbox.processed_at) == ("evt-1", "penalty.responsibility", clock.now())


async def test_the_same_inbox_entry_twice_is_refused_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    make = units(sessions, clock)
    entry = InboxEntry("evt-1", "penalty.responsibility", "investigation.responsibility_determined")
    await open_assessment(make(entry), "evt-1", DETERMINATION, why="first")
    with pytest.raises(AlreadyProcessed):
        await open_assessment(make(entry), "evt-2", DETERMINATION, why="redelivered under another id")
    assert await count(sessions, assessments) == 1
    assert await count(sessions, audit_log) == 1


async def test_a_duplicate_that_slipped_past_the_check_fails_at_the_primary_key(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Two deliveries checked the inbox before either committed: the database refuses the second claim."""
    make = units(sessions, clock)
    entry = InboxEntry("evt-1", "penalty.responsibility", "investigation.responsibility_determined")
    await open_assessment(make(entry), "evt-1", DETERMINATION, why="first")
    racing = make(entry)

    async def not_yet_claimed(_: InboxEntry) -> bool:
        return False  # what the second delivery saw before the first committed

    racing._claimed = not_yet_claimed  # type: ignore[method-assign]
    with pytest.raises(IntegrityError):
        await open_assessment(racing, "evt-2", DETERMINATION, why="redelivered under another id")
    assert await count(sessions, assessments) == 1
    assert await count(sessions, audit_log) == 1


async def test_leaving_without_commit_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    make = units(sessions, clock)
    with pytest.raises(RuntimeError):
        async with make() as uow:
            draft = Assessment.assess(
                "evt-9",
                Computation("2026.1", ()),
                determination=DETERMINATION,
                period="2026-11",
                adjustment=False,
                deadlines=(),
                policy_digest="test",
                at=clock.now(),
                reason="x",
            )
            uow.assessments.add(draft)
            await uow.assessments.flush()  # written inside the transaction ...
            raise RuntimeError("... then the use case fails")
    assert await count(sessions, assessments) == 0
    assert await count(sessions, audit_log) == 0


async def test_a_stale_version_is_refused_at_the_database(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    make = units(sessions, clock)
    await open_assessment(make(), "evt-1", DETERMINATION, why="open")
    first, second = make(), make()
    async with first:
        a = await first.assessments.get("evt-1")
        assert a is not None
        a.status = AssessmentStatus.DRAFT
        a.record(Drafted(at=clock.now(), reason="first editor"), before=None)
        await first.commit()
    async with second:
        b = await second.assessments.get("evt-1")
        assert b is not None and b.version == 2
        # As if read before the first editor committed (SQLite's BEGIN IMMEDIATE cannot
        # interleave two writers, so the stale read is set up in the repository's tracking).
        b.version = 1
        second.assessments._loaded["evt-1"] = (b, 1)
        b.record(Drafted(at=clock.now(), reason="second editor"), before=None)
        with pytest.raises(StaleVersion) as stale:
            await second.commit()
        assert (stale.value.expected, stale.value.actual) == (1, 2)  # names the version found, not "deleted"
    async with sessions() as session:
        reasons = (await session.execute(sa.select(audit_log.c.reason).order_by(audit_log.c.id))).scalars().all()
    assert reasons == ["open", "first editor"]
