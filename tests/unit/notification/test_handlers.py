"""Notification use cases through the in-memory unit of work (no broker, no database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.domain.deliveries import Channel, DeliveryStatus
from notification.domain.model import CaseOpened, Cause, ComplaintSummary, Deadline
from notification.domain.policy import NotificationPolicy
from notification.service.handlers import (
    FactoryPolicyMissing,
    Notifying,
    dispatches_of,
    notify_opened,
    notify_registered,
)
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NOTIFYING = Notifying(POLICIES, JinjaRenderer())
NUMBER = "F01-2611-0003"
INTAKE = Actor("system:/services/intake")
READER = Actor("user:qm", None)

Make = Callable[..., MemoryNotificationUnitOfWork]


def complaint(*, batch_return: bool = False, number: str = NUMBER, factory_code: str = "F01") -> ComplaintSummary:
    return ComplaintSummary(
        number=number,
        factory=factory_code,
        company="华东建工",
        product="PC-100",
        phenomenon="贯穿裂缝 through-crack",
        batch_return=batch_return,
    )


def registered(event_id: str = "evt-1") -> Cause:
    return Cause(event_id, "complaint.registered")


def delivered_events(store: MemoryStore) -> list[CloudEvent]:
    return [e for e in store.outbox if e.type == "notification.delivered"]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(minutes=5))


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")


async def test_a_registration_tells_qe_and_rd_after_sales_in_app(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    """DOMAIN.md §5: registration -> quality engineer and R&D after-sales; in-app is delivered at
    commit, and each in-app notice is published as `notification.delivered`."""
    await notify_registered(make(INTAKE), registered(), complaint(), NOTIFYING, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert (dispatch.event_id, dispatch.event_type, dispatch.factory, dispatch.number) == (
        "evt-1",
        "complaint.registered",
        "F01",
        NUMBER,
    )
    deliveries = dispatch.deliveries
    assert [(d.recipient_role, d.recipient, d.channel, d.urgent) for d in deliveries] == [
        ("quality_engineer", "role:quality_engineer", Channel.IN_APP, False),
        ("rd_after_sales", "role:rd_after_sales", Channel.IN_APP, False),
    ]
    assert {(d.status, d.delivered_at, d.attempts) for d in deliveries} == {(DeliveryStatus.DELIVERED, clock.now(), 1)}
    # a role's shared inbox is no one person: both languages, Chinese first
    assert {d.locale for d in deliveries} == {"both"}
    assert all(d.subject.index("新客诉") < d.subject.index("New complaint") for d in deliveries)
    assert "华东建工" in deliveries[0].body and "PC-100" in deliveries[0].body
    assert "批量退货" not in deliveries[0].body  # not a batch return

    events = delivered_events(store)
    assert [(e.subject, e.data["id"], e.data["recipient"]) for e in events] == [
        (NUMBER, d.id, d.recipient) for d in deliveries
    ]
    assert {
        (e.data["cause_id"], e.data["cause_type"], e.data["channel"], e.data["status"], e.data["attempts"])
        for e in events
    } == {("evt-1", "complaint.registered", "in_app", "delivered", 1)}
    assert [e.type for e in store.outbox] == ["notification.delivered"] * 2


async def test_a_batch_return_tells_the_quality_head_at_once_and_urgently(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    """DOMAIN.md §2/§5, seed 001 §5.1.2.4: 如为客户批量退货须即将直接通知品管部主管."""
    await notify_registered(make(INTAKE), registered(), complaint(batch_return=True), NOTIFYING, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    urgent = [d for d in dispatch.deliveries if d.urgent]
    assert [(d.recipient_role, d.recipient, d.channel) for d in urgent] == [
        ("quality_manager", "role:quality_manager", Channel.IN_APP)
    ]
    assert "批量退货" in urgent[0].subject and "Batch return" in urgent[0].subject
    # at once: delivered with the registration's own notices, not after them
    assert (urgent[0].status, urgent[0].delivered_at) == (DeliveryStatus.DELIVERED, clock.now())
    assert {d.recipient_role for d in dispatch.deliveries if not d.urgent} == {"quality_engineer", "rd_after_sales"}
    [event] = [e for e in delivered_events(store) if e.data["urgent"]]
    assert (event.data["recipient"], event.data["id"]) == ("role:quality_manager", urgent[0].id)


async def test_an_opened_case_lists_its_deadlines_bilingually(make: Make) -> None:
    case = CaseOpened(
        number=NUMBER,
        factory="F01",
        deadlines=(
            Deadline("first_response", T0 + timedelta(hours=24)),
            Deadline("close", T0 + timedelta(days=15)),
            Deadline("site_visit", T0 + timedelta(days=2)),  # no name yet: shown as it is called
        ),
    )
    await notify_opened(make(), Cause("evt-2", "investigation.opened"), case, NOTIFYING, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert {d.recipient_role for d in dispatch.deliveries} == {"quality_engineer", "customer_service"}
    notice = dispatch.deliveries[0]
    zh, en = notice.body.split("\n\n")
    assert "已立案调查" in zh and "under investigation" in en
    assert "- 首次响应：2026-11-22 16:30" in zh
    assert "- first response: 2026-11-22 16:30" in en
    assert "- 结案：2026-12-06 16:30" in zh
    assert "- closing: 2026-12-06 16:30" in en
    assert "- site_visit：2026-11-23 16:30" in zh and "- site_visit: 2026-11-23 16:30" in en
    # earliest first
    assert zh.index("首次响应") < zh.index("site_visit") < zh.index("结案")
    assert notice.subject == f"调查立案 {NUMBER} / Investigation opened {NUMBER}"


async def test_each_dispatch_leaves_one_audit_row(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    """Who (the system), which recipients, on which channel, and why (the event's type and id)."""
    why = "complaint.registered evt-1 from /services/intake"
    await notify_registered(make(INTAKE), registered(), complaint(batch_return=True), NOTIFYING, why=why)
    opened = CaseOpened(NUMBER, "F01", (Deadline("first_response", T0),))
    investigation = Actor("system:/services/investigation")
    await notify_opened(make(investigation), Cause("evt-2", "investigation.opened"), opened, NOTIFYING, why="opened")

    first, second = store.audit
    assert (first.action, first.entity, first.entity_id, first.factory, first.actor, first.at) == (
        "notify",
        "notification",
        NUMBER,
        "F01",
        "system:/services/intake",
        clock.now(),
    )
    assert first.reason == why and first.before is None
    assert first.after == {
        "event_id": "evt-1",
        "event_type": "complaint.registered",
        "deliveries": [
            "role:quality_engineer (in_app)",
            "role:rd_after_sales (in_app)",
            "role:quality_manager (in_app)",
        ],
        "urgent": ["role:quality_manager"],
    }
    assert (second.action, second.actor, second.reason) == ("notify", "system:/services/investigation", "opened")
    assert second.after is not None
    assert second.after["deliveries"] == ["role:quality_engineer (in_app)", "role:customer_service (in_app)"]
    assert second.after["urgent"] == []


async def test_the_same_inbox_entry_twice_notifies_once(make: Make, store: MemoryStore) -> None:
    entry = InboxEntry("evt-1", "notification.complaints", "complaint.registered")
    await notify_registered(make(INTAKE, entry), registered("evt-1"), complaint(), NOTIFYING, why="first")
    with pytest.raises(AlreadyProcessed):
        # the same message again (even were it given another dispatch key): the inbox refuses it
        await notify_registered(make(INTAKE, entry), registered("evt-1b"), complaint(), NOTIFYING, why="again")
    assert list(store.table("dispatches")) == ["evt-1"]
    assert {d.event_id for d in store.table("deliveries").values()} == {"evt-1"}
    assert len(store.audit) == 1
    assert len(delivered_events(store)) == 2
    assert store.inbox == {("evt-1", "notification.complaints")}


async def test_an_event_already_dispatched_is_not_sent_again(make: Make, store: MemoryStore) -> None:
    await notify_registered(make(INTAKE), registered("evt-1"), complaint(), NOTIFYING, why="first")
    await notify_registered(make(INTAKE), registered("evt-1"), complaint(batch_return=True), NOTIFYING, why="again")
    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert not any(d.urgent for d in dispatch.deliveries)
    assert len(store.table("deliveries")) == 2
    assert len(store.audit) == 1
    assert len(delivered_events(store)) == 2  # published once


async def test_a_factory_without_a_policy_is_refused_and_nothing_is_written(make: Make, store: MemoryStore) -> None:
    """The consumer retries, then dead-letters: the message is not claimed, so it can be replayed."""
    entry = InboxEntry("evt-9", "notification.complaints", "complaint.registered")
    with pytest.raises(FactoryPolicyMissing, match="F99"):
        await notify_registered(
            make(INTAKE, entry),
            registered("evt-9"),
            complaint(number="F99-2611-0001", factory_code="F99"),
            NOTIFYING,
            why="t",
        )
    assert store.table("dispatches") == {} and store.table("deliveries") == {}
    assert store.audit == [] and store.inbox == set() and store.outbox == []


async def test_another_factorys_notifications_are_invisible(make: Make) -> None:
    theirs = "F02-2611-0001"
    await notify_registered(
        make(INTAKE), registered(), complaint(number=theirs, factory_code="F02"), NOTIFYING, why="t"
    )
    assert await dispatches_of(make(Actor("user:f01", frozenset({"F01"}))), theirs) == []
    [dispatch] = await dispatches_of(make(Actor("user:f02", frozenset({"F02"}))), theirs)
    assert dispatch.factory == "F02" and len(dispatch.deliveries) == 2
    assert len(await dispatches_of(make(Actor("user:ho", None)), theirs)) == 1


async def test_the_log_is_read_per_recipient(make: Make) -> None:
    await notify_registered(make(INTAKE), registered(), complaint(batch_return=True), NOTIFYING, why="t")

    [mine] = await dispatches_of(make(READER), NUMBER, "role:quality_manager")
    assert [(d.recipient, d.urgent) for d in mine.deliveries] == [("role:quality_manager", True)]
    assert await dispatches_of(make(READER), NUMBER, "role:nobody") == []


async def test_a_replayed_dispatch_names_the_same_notifications(store: MemoryStore, clock: FakeClock) -> None:
    """Delivery ids come from (event, recipient, channel): two stores, one replay, the same ids."""
    other = MemoryStore()
    for s in (store, other):
        make = factory(MemoryNotificationUnitOfWork, s, clock, translate=to_public, source="/services/notification")
        await notify_registered(make(INTAKE), registered(), complaint(), NOTIFYING, why="t")
    ids = [sorted(s.table("deliveries")) for s in (store, other)]
    assert ids[0] == ids[1] and len(ids[0]) == 2
    assert [e.data["id"] for e in delivered_events(store)] == [e.data["id"] for e in delivered_events(other)]
