"""Notification's SQL repository on SQLite and PostgreSQL: dispatches stored per recipient,
read back grouped, filtered by recipient and by the caller's factories in SQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.db import create_engine, session_factory, upgrade
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry
from notification.adapters.orm import audit_log, tables
from notification.adapters.publishing import to_public
from notification.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification.domain.model import Cause, ComplaintSummary
from notification.domain.policy import NotificationPolicy
from notification.service.handlers import dispatches_of, notify_registered
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
from tests.unit.fakes import T0

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, migrations_dir("notification"), database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


def units(sessions: async_sessionmaker[AsyncSession]) -> Callable[..., SqlNotificationUnitOfWork]:
    def make(actor: Actor, inbox: InboxEntry | None = None) -> SqlNotificationUnitOfWork:
        return SqlNotificationUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            clock=FakeClock(T0),
            actor=actor,
            source="/services/notification",
            translate=to_public,
            inbox=inbox,
        )

    return make


def complaint(number: str, factory: str = "F01") -> ComplaintSummary:
    return ComplaintSummary(number, factory, "华东建工", "PC-100", "露筋 exposed rebar", batch_return=True)


async def test_dispatches_are_read_back_whole_and_filtered_in_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    make = units(sessions)
    intake = Actor("system:/services/intake")
    entry = InboxEntry("evt-1", "notification.complaints", "complaint.registered")
    await notify_registered(
        make(intake, entry), Cause("evt-1", "complaint.registered"), complaint("F01-2611-0001"), POLICIES, why="t"
    )
    with pytest.raises(AlreadyProcessed):
        await notify_registered(
            make(intake, entry), Cause("evt-1", "complaint.registered"), complaint("F01-2611-0001"), POLICIES, why="t"
        )
    await notify_registered(
        make(intake), Cause("evt-2", "complaint.registered"), complaint("F02-2611-0001", "F02"), POLICIES, why="t"
    )

    head_office = Actor("user:ho", None)
    [dispatch] = await dispatches_of(make(head_office), "F01-2611-0001")
    assert sorted(n.recipient for n in dispatch.notifications) == [
        "role:quality_engineer",
        "role:quality_manager",
        "role:rd_after_sales",
    ]
    assert [n.urgent for n in dispatch.notifications if n.recipient == "role:quality_manager"] == [True]

    [mine] = await dispatches_of(make(head_office), "F01-2611-0001", "role:quality_manager")
    assert [(n.recipient, n.urgent) for n in mine.notifications] == [("role:quality_manager", True)]
    assert await dispatches_of(make(head_office), "F01-2611-0001", "role:nobody") == []
    assert await dispatches_of(make(Actor("user:f01", frozenset({"F01"}))), "F02-2611-0001") == []
