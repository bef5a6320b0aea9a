"""Notification's delivery log in SQL, on SQLite and PostgreSQL (tables by the real migrations).

Dispatches are stored a row per recipient and channel and read back grouped, filtered by
recipient and by the caller's factories in SQL; in-app notices are staged as
`notification.delivered` in the outbox of the same transaction. An e-mail waits in the log,
is claimed by the delivery worker, retried and then delivered, each outcome recorded on its
row (DOMAIN.md §5 "Every delivery is logged and retried"); a chat robot's budget per minute is
counted in the database, so replicas share it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.db import create_engine, session_factory, upgrade
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, system_actor
from notification.adapters.orm import audit_log, notifications, tables
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification.bootstrap import NotificationService, bootstrap
from notification.config import NotificationSettings
from notification.domain.deliveries import Channel, DeliveryStatus
from notification.domain.model import CaseOpened, Cause, ComplaintSummary
from notification.domain.policy import NotificationPolicy
from notification.service.handlers import Notifying, dispatches_of, notify_opened, notify_registered
from notification.service.ports import SendFailed
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
from tests.unit.fakes import T0
from tests.unit.notification.fakes import FakeSender, FakeSenders

NOTIFYING = Notifying(PolicyBook(POLICY_DIR, "notification", NotificationPolicy), JinjaRenderer())
SYSTEM = system_actor("/services/notification")
HEAD_OFFICE = Actor("user:ho", None)
MINUTE = timedelta(minutes=1)

# F01's people and channels, added to a copy of deploy/policies: a quality engineer who wants
# e-mail, and the QA group's robot told of every opened case.
F01_NOTIFICATION: dict[str, Any] = {
    "people": [
        {
            "id": "u-qe",
            "name": "Engineer Lee",
            "roles": ["quality_engineer"],
            "locale": "en",
            "email": "qe@example.com",
            "channels": ["email"],
        }
    ],
    "email": {"host": "smtp.example.com", "sender": "cqm@example.com"},
    "robots": {"qa": {"kind": "wecom", "url": "https://robot.example.com/send?key=k", "rate_per_minute": 20}},
    "routes": {"investigation.opened": [{"to": ["quality_engineer"], "channels": ["robot:qa"]}]},
}


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


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = (await session.execute(sa.select(tables.outbox.c.body).order_by(tables.outbox.c.created_at))).all()
    return [json.loads(body) for (body,) in rows]


async def test_dispatches_are_read_back_whole_and_filtered_in_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    make = units(sessions)
    intake = Actor("system:/services/intake")
    entry = InboxEntry("evt-1", "notification.complaints", "complaint.registered")
    registered = Cause("evt-1", "complaint.registered")
    await notify_registered(make(intake, entry), registered, complaint("F01-2611-0001"), NOTIFYING, why="t")
    with pytest.raises(AlreadyProcessed):
        await notify_registered(make(intake, entry), registered, complaint("F01-2611-0001"), NOTIFYING, why="t")
    await notify_registered(
        make(intake), Cause("evt-2", "complaint.registered"), complaint("F02-2611-0001", "F02"), NOTIFYING, why="t"
    )

    [dispatch] = await dispatches_of(make(HEAD_OFFICE), "F01-2611-0001")
    assert (dispatch.event_id, dispatch.event_type, dispatch.factory, dispatch.created_at) == (
        "evt-1",
        "complaint.registered",
        "F01",
        T0,
    )
    assert sorted(d.recipient for d in dispatch.deliveries) == [
        "role:quality_engineer",
        "role:quality_manager",
        "role:rd_after_sales",
    ]
    assert [d.urgent for d in dispatch.deliveries if d.recipient == "role:quality_manager"] == [True]
    assert {(d.channel, d.status, d.locale, d.attempts, d.delivered_at) for d in dispatch.deliveries} == {
        (Channel.IN_APP, DeliveryStatus.DELIVERED, "both", 1, T0)
    }
    assert all("新客诉" in d.subject or "批量退货" in d.subject for d in dispatch.deliveries)

    [mine] = await dispatches_of(make(HEAD_OFFICE), "F01-2611-0001", "role:quality_manager")
    assert [(d.recipient, d.urgent) for d in mine.deliveries] == [("role:quality_manager", True)]
    assert await dispatches_of(make(HEAD_OFFICE), "F01-2611-0001", "role:nobody") == []
    assert await dispatches_of(make(Actor("user:f01", frozenset({"F01"}))), "F02-2611-0001") == []

    # every in-app notice, once, as notification.delivered in the same transaction
    events = await outbox(sessions)
    assert {e["type"] for e in events} == {"notification.delivered"}
    f01 = [e for e in events if e["subject"] == "F01-2611-0001"]
    assert sorted(e["data"]["id"] for e in f01) == sorted(d.id for d in dispatch.deliveries)
    assert len(events) == 6  # three per registration


# -- through the composition root, on a copy of the policies with F01's people and robot ---------


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    f01 = yaml.safe_load((target / "F01.yaml").read_text(encoding="utf-8"))
    f01["notification"] = F01_NOTIFICATION
    (target / "F01.yaml").write_text(yaml.safe_dump(f01, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(migrations_dir("notification"), database_url)
    yield database_url


@pytest.fixture
def email() -> FakeSender:
    return FakeSender()


@pytest.fixture
def robot() -> FakeSender:
    return FakeSender()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def service(
    migrated: str, policy_dir: Path, clock: FakeClock, email: FakeSender, robot: FakeSender
) -> AsyncIterator[NotificationService]:
    settings = NotificationSettings(
        environment="test", database_url=migrated, policy_dir=policy_dir, workers=False, queue_prefix="t."
    )
    built = bootstrap(settings, clock=clock, senders=FakeSenders({"email": email, "wecom/qa": robot}))
    yield built
    await built.runtime.engine.dispose()


async def row(service: NotificationService, delivery_id: str) -> Any:
    async with service.runtime.sessions() as session:
        return (await session.execute(sa.select(notifications).where(notifications.c.id == delivery_id))).one()


async def test_an_email_waits_in_the_log_is_retried_and_delivered_each_outcome_on_its_row(
    service: NotificationService, clock: FakeClock, email: FakeSender
) -> None:
    email.failures = [SendFailed("421 4.7.0 try again later")]
    await notify_registered(
        service.units_of_work(SYSTEM, None),
        Cause("evt-1", "complaint.registered"),
        complaint("F01-2611-0001"),
        service.notifying,
        why="t",
    )
    [dispatch] = await dispatches_of(service.units_of_work(HEAD_OFFICE, None), "F01-2611-0001", "u-qe")
    mail = next(d for d in dispatch.deliveries if d.channel is Channel.EMAIL)
    assert (mail.status, mail.target, mail.locale, mail.digest, mail.attempts, mail.next_attempt_at, mail.version) == (
        DeliveryStatus.PENDING,
        "qe@example.com",
        "en",
        False,
        0,
        T0,
        1,
    )
    assert mail.subject.startswith("New complaint F01-2611-0001") and "新客诉" not in mail.subject

    assert await service.delivery_worker.drain() == 1
    failed = await row(service, mail.id)
    assert (failed.status, failed.attempts, failed.last_error, failed.next_attempt_at, failed.version) == (
        "pending",
        1,
        "421 4.7.0 try again later",
        T0 + timedelta(seconds=30),
        2,
    )
    assert (failed.claimed_by, failed.lease_until) == (None, None)  # the claim is over: it waits for its time

    clock.set(T0 + timedelta(seconds=29))
    assert await service.delivery_worker.drain() == 0
    clock.set(T0 + timedelta(seconds=30))
    assert await service.delivery_worker.drain() == 1
    done = await row(service, mail.id)
    assert (done.status, done.attempts, done.last_error, done.delivered_at, done.next_attempt_at, done.version) == (
        "delivered",
        2,
        None,
        T0 + timedelta(seconds=30),
        None,
        3,
    )
    assert [m.id for batch in email.sent for m in batch] == [mail.id]

    events = [e for e in await outbox(service.runtime.sessions) if e["data"]["channel"] == "email"]
    assert [(e["type"], e["data"]["id"], e["data"]["attempts"]) for e in events] == [
        ("notification.delivered", mail.id, 2)
    ]
    # the log answers for it: delivered on the second attempt
    [logged] = await dispatches_of(service.units_of_work(HEAD_OFFICE, None), "F01-2611-0001", "u-qe")
    assert {(d.channel, d.status, d.attempts) for d in logged.deliveries} == {
        (Channel.IN_APP, DeliveryStatus.DELIVERED, 1),
        (Channel.EMAIL, DeliveryStatus.DELIVERED, 2),
    }


async def test_a_robots_budget_is_counted_in_the_database_and_nothing_over_it_is_dropped(
    service: NotificationService, clock: FakeClock, robot: FakeSender
) -> None:
    """25 opened cases to the QA group at 20 posts a minute: 20 now, 5 in the next minute."""
    for n in range(1, 26):
        case = CaseOpened(f"F01-2611-{n:04d}", "F01", ())
        await notify_opened(
            service.units_of_work(SYSTEM, None),
            Cause(f"opened-{n}", "investigation.opened"),
            case,
            service.notifying,
            why="t",
        )

    assert await service.delivery_worker.drain() == 25
    assert len(robot.sent) == 20
    async with service.runtime.sessions() as session:
        statuses = (
            await session.execute(
                sa.select(notifications.c.status, notifications.c.next_attempt_at, notifications.c.attempts).where(
                    notifications.c.channel == "wecom"
                )
            )
        ).all()
    assert sorted((s, a) for s, _, a in statuses) == [("delivered", 1)] * 20 + [("pending", 0)] * 5
    assert {n for s, n, _ in statuses if s == "pending"} == {T0 + MINUTE}

    assert await service.delivery_worker.drain() == 0  # the budget is spent until the next minute
    clock.set(T0 + MINUTE)
    assert await service.delivery_worker.drain() == 5
    assert len({m.id for batch in robot.sent for m in batch}) == 25
    delivered = [e for e in await outbox(service.runtime.sessions) if e["data"]["channel"] == "wecom"]
    assert len(delivered) == 25 and {e["type"] for e in delivered} == {"notification.delivered"}
