"""Notification use cases through the in-memory unit of work (no broker, no database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from notification.adapters.publishing import to_public
from notification.domain.model import CaseOpened, Cause, Channel, ComplaintSummary, Deadline, DeliveryStatus
from notification.domain.policy import NotificationPolicy
from notification.service.handlers import FactoryPolicyMissing, dispatches_of, notify_opened, notify_registered
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
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
    """DOMAIN.md §5: registration -> quality engineer and R&D after-sales; in-app is delivered at commit."""
    await notify_registered(make(INTAKE), registered(), complaint(), POLICIES, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert (dispatch.event_id, dispatch.event_type, dispatch.factory, dispatch.channel) == (
        "evt-1",
        "complaint.registered",
        "F01",
        Channel.IN_APP,
    )
    assert [(n.recipient_role, n.recipient, n.urgent) for n in dispatch.notifications] == [
        ("quality_engineer", "role:quality_engineer", False),
        ("rd_after_sales", "role:rd_after_sales", False),
    ]
    assert {(n.status, n.delivered_at) for n in dispatch.notifications} == {(DeliveryStatus.DELIVERED, clock.now())}
    assert all("新客诉" in n.subject and "New complaint" in n.subject for n in dispatch.notifications)
    assert "华东建工" in dispatch.notifications[0].body and "PC-100" in dispatch.notifications[0].body
    assert store.outbox == []  # notification.delivered comes with the delivery channels


async def test_a_batch_return_tells_the_quality_head_at_once_and_urgently(make: Make, clock: FakeClock) -> None:
    """DOMAIN.md §2/§5, seed 001 §5.1.2.4: 如为客户批量退货须即将直接通知品管部主管."""
    await notify_registered(make(INTAKE), registered(), complaint(batch_return=True), POLICIES, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    urgent = [n for n in dispatch.notifications if n.urgent]
    assert [(n.recipient_role, n.recipient) for n in urgent] == [("quality_manager", "role:quality_manager")]
    assert "批量退货" in urgent[0].subject and "Batch return" in urgent[0].subject
    # at once: delivered with the registration's own notices, not after them
    assert (urgent[0].status, urgent[0].delivered_at) == (DeliveryStatus.DELIVERED, clock.now())
    assert {n.recipient_role for n in dispatch.notifications if not n.urgent} == {"quality_engineer", "rd_after_sales"}


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
    await notify_opened(make(), Cause("evt-2", "investigation.opened"), case, POLICIES, why="test")

    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert {n.recipient_role for n in dispatch.notifications} == {"quality_engineer", "customer_service"}
    body = dispatch.notifications[0].body
    assert "调查已立案" in body and "Investigation opened" in body
    assert "首次响应 first response: 2026-11-22T08:30+00:00" in body
    assert "结案 close: 2026-12-06T08:30+00:00" in body
    assert "site_visit: 2026-11-23T08:30+00:00" in body
    assert (
        "调查立案" in dispatch.notifications[0].subject and "Investigation opened" in dispatch.notifications[0].subject
    )


async def test_each_dispatch_leaves_one_audit_row(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    """Who (the system), which recipients, on which channel, and why (the event's type and id)."""
    why = "complaint.registered evt-1 from /services/intake"
    await notify_registered(make(INTAKE), registered(), complaint(batch_return=True), POLICIES, why=why)
    opened = CaseOpened(NUMBER, "F01", (Deadline("first_response", T0),))
    investigation = Actor("system:/services/investigation")
    await notify_opened(make(investigation), Cause("evt-2", "investigation.opened"), opened, POLICIES, why="opened")

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
        "channel": "in_app",
        "recipients": ["role:quality_engineer", "role:rd_after_sales", "role:quality_manager"],
        "urgent": ["role:quality_manager"],
    }
    assert (second.action, second.actor, second.reason) == ("notify", "system:/services/investigation", "opened")
    assert second.after is not None and second.after["recipients"] == ["role:quality_engineer", "role:customer_service"]


async def test_the_same_inbox_entry_twice_notifies_once(make: Make, store: MemoryStore) -> None:
    entry = InboxEntry("evt-1", "notification.complaints", "complaint.registered")
    await notify_registered(make(INTAKE, entry), registered("evt-1"), complaint(), POLICIES, why="first")
    with pytest.raises(AlreadyProcessed):
        # the same message again (even were it given another dispatch key): the inbox refuses it
        await notify_registered(make(INTAKE, entry), registered("evt-1b"), complaint(), POLICIES, why="again")
    assert list(store.table("dispatches")) == ["evt-1"]
    assert len(store.audit) == 1
    assert store.inbox == {("evt-1", "notification.complaints")}


async def test_an_event_already_dispatched_is_not_sent_again(make: Make, store: MemoryStore) -> None:
    await notify_registered(make(INTAKE), registered("evt-1"), complaint(), POLICIES, why="first")
    await notify_registered(make(INTAKE), registered("evt-1"), complaint(batch_return=True), POLICIES, why="again")
    [dispatch] = await dispatches_of(make(READER), NUMBER)
    assert not any(n.urgent for n in dispatch.notifications)
    assert len(store.audit) == 1


async def test_a_factory_without_a_policy_is_refused_and_nothing_is_written(make: Make, store: MemoryStore) -> None:
    """The consumer retries, then dead-letters: the message is not claimed, so it can be replayed."""
    entry = InboxEntry("evt-9", "notification.complaints", "complaint.registered")
    with pytest.raises(FactoryPolicyMissing, match="F99"):
        await notify_registered(
            make(INTAKE, entry),
            registered("evt-9"),
            complaint(number="F99-2611-0001", factory_code="F99"),
            POLICIES,
            why="t",
        )
    assert store.table("dispatches") == {} and store.audit == [] and store.inbox == set()


async def test_another_factorys_notifications_are_invisible(make: Make) -> None:
    theirs = "F02-2611-0001"
    await notify_registered(make(INTAKE), registered(), complaint(number=theirs, factory_code="F02"), POLICIES, why="t")
    assert await dispatches_of(make(Actor("user:f01", frozenset({"F01"}))), theirs) == []
    assert len(await dispatches_of(make(Actor("user:ho", None)), theirs)) == 1


async def test_a_replayed_dispatch_names_the_same_notifications(store: MemoryStore, clock: FakeClock) -> None:
    """Notification ids come from (event, recipient, channel): two stores, one replay, the same ids."""
    other = MemoryStore()
    for s in (store, other):
        make = factory(MemoryNotificationUnitOfWork, s, clock, translate=to_public, source="/services/notification")
        await notify_registered(make(INTAKE), registered(), complaint(), POLICIES, why="t")
    ids = [[n.id for n in d.notifications] for s in (store, other) for d in s.table("dispatches").values()]
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
