"""The public payloads notification consumes, translated into its own terms and sent; the
deadlines every `investigation.*` event carries become timers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    ACTION_ADDED,
    ACTION_VERIFIED,
    COMPLAINT_REGISTERED,
    CONTAINMENT_RECORDED,
    CUSTOMER_REPLIED,
    DISPUTE_RULED,
    INVESTIGATION_CLOSED,
    INVESTIGATION_OPENED,
    INVESTIGATION_REOPENED,
    INVESTIGATION_TRIAGED,
    INVESTIGATION_UPDATED,
    PENALTY_APPEALED,
    PENALTY_ASSESSED,
    PENALTY_FINALIZED,
    PENALTY_PERIOD_CLOSED,
    RESPONSIBILITY_DETERMINED,
    RESPONSIBILITY_DISPUTED,
    ROOT_CAUSE_RECORDED,
    Deadline,
    InvestigationOpened,
)
from cqm_shared.messaging.consumer import Handles, Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import InboxEntry, MemoryStore, system_actor
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.domain.model import CaseOpened
from notification.domain.model import Deadline as Due
from notification.domain.policy import NotificationPolicy
from notification.domain.timers import DeadlineFact, TimerKind, TimerState
from notification.entrypoints.consumers import (
    case_deadlines,
    case_opened,
    complaint_summary,
    on_complaint_registered,
    subscriptions,
)
from notification.service.handlers import FactoryPolicyMissing, Notifying, dispatches_of, timers_of
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NOTIFYING = Notifying(POLICIES, JinjaRenderer())
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
NUMBER = "F01-2611-0003"

Make = Callable[..., MemoryNotificationUnitOfWork]


def record(**product: Any) -> ComplaintRecord:
    return ComplaintRecord.model_validate(
        {
            "number": NUMBER,
            "status": "registered",
            "factory": "F01",
            "channel": "email",
            "received_at": NOW,
            "registered_at": NOW,
            "batch_return": True,
            "customer": {"company": "华东建工", "contact_name": "王工", "email": "w@example.com"},
            "product": product or {"part_number": "PC-100"},
            "phenomenon": "贯穿裂缝 through-crack",
        }
    )


def message(event_type: str, data: Any, *, subject: str | None, event_id: str = "evt-7") -> Message[Any]:
    return Message(event_id, event_type, "/services/intake", "F01", subject, NOW, 1, data)


def handler(event_type: str) -> Handles:
    """The handler the service binds for an event type."""
    [found] = [s.handlers[event_type] for s in subscriptions(NOTIFYING) if event_type in s.handlers]
    return found


def opened(*deadlines: Deadline, version: int | None = 1, factory_code: str = "F01") -> InvestigationOpened:
    return InvestigationOpened(
        number=NUMBER if factory_code == "F01" else f"{factory_code}-2611-0003",
        factory=factory_code,
        state="opened",
        opened_at=NOW,
        deadlines=list(deadlines),
        version=version,
    )


def first_response(state: str = "pending") -> Deadline:
    return Deadline(milestone="first_response", due_at=NOW + timedelta(hours=24), source="seed 001 §1.2.1", state=state)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def make(store: MemoryStore) -> Make:
    return factory(
        MemoryNotificationUnitOfWork, store, FakeClock(T0), translate=to_public, source="/services/notification"
    )


def test_a_complaint_record_becomes_a_summary_naming_the_part_else_the_model() -> None:
    summary = complaint_summary(record())
    assert (summary.number, summary.factory, summary.company, summary.product, summary.batch_return) == (
        NUMBER,
        "F01",
        "华东建工",
        "PC-100",
        True,
    )
    assert complaint_summary(record(model="YB-PC")).product == "YB-PC"
    assert complaint_summary(record(model="YB-PC", part_number="PC-7")).product == "PC-7"


def test_an_opened_investigation_becomes_a_case_with_its_deadlines() -> None:
    payload = opened(Deadline(milestone="first_response", due_at=NOW, source="seed 001 §1.2.1"))
    assert case_opened(payload) == CaseOpened(NUMBER, "F01", (Due("first_response", NOW),))


def test_every_investigation_event_states_the_cases_deadlines_at_its_version() -> None:
    payload = public.ResponsibilityDetermined(
        number=NUMBER,
        factory="F01",
        version=4,
        determined_at=NOW,
        accident_class=public.AccidentClass.MANAGEMENT_GENERAL,
        parties=[
            public.ResponsibleParty(kind=public.PartyKind.PERSON, name="王五", share=Decimal("40")),
            public.ResponsibleParty(kind=public.PartyKind.DEPARTMENT, name="机加车间", share=Decimal("60")),
        ],
        deadlines=[first_response(state="met")],
    )
    update = case_deadlines(payload)
    assert (update.key, update.factory, update.number, update.producer, update.version) == (
        f"case:{NUMBER}",
        "F01",
        NUMBER,
        "investigation",
        4,
    )
    # the responsible department of a determination is its department party
    assert update.department == "机加车间"
    assert update.deadlines == (DeadlineFact("first_response", NOW + timedelta(hours=24), "met", 1, "seed 001 §1.2.1"),)
    assert case_deadlines(opened(first_response(), version=None)).version is None  # an older producer


def test_the_queues_and_event_types_stay_as_bound() -> None:
    assert [(s.purpose, list(s.handlers)) for s in subscriptions(NOTIFYING)] == [
        ("complaints", [COMPLAINT_REGISTERED]),
        (
            "investigations",
            [
                INVESTIGATION_OPENED,
                INVESTIGATION_TRIAGED,
                RESPONSIBILITY_DETERMINED,
                RESPONSIBILITY_DISPUTED,
                DISPUTE_RULED,
                CUSTOMER_REPLIED,
                INVESTIGATION_CLOSED,
                INVESTIGATION_REOPENED,
                # they tell nobody, but carry the case's deadlines
                CONTAINMENT_RECORDED,
                ROOT_CAUSE_RECORDED,
                ACTION_ADDED,
                ACTION_VERIFIED,
                INVESTIGATION_UPDATED,
            ],
        ),
        ("penalties", [PENALTY_ASSESSED, PENALTY_APPEALED, PENALTY_FINALIZED, PENALTY_PERIOD_CLOSED]),
    ]


async def test_a_registration_without_a_subject_is_filed_under_the_payloads_number(
    make: Make, store: MemoryStore
) -> None:
    """Defect fixed: the log used the envelope's optional `subject` (or "") as the complaint number."""
    entry = InboxEntry("evt-7", "notification.complaints", COMPLAINT_REGISTERED)
    uow = make(system_actor("/services/intake"), entry)
    await on_complaint_registered(NOTIFYING).handle(uow, message(COMPLAINT_REGISTERED, record(), subject=None))

    assert uow.committed and store.inbox == {("evt-7", "notification.complaints")}
    [dispatch] = await dispatches_of(make(), NUMBER)
    assert {d.recipient_role for d in dispatch.deliveries} == {
        "quality_engineer",
        "rd_after_sales",
        "quality_manager",
    }
    [row] = store.audit
    assert (row.entity_id, row.actor, row.reason) == (
        NUMBER,
        "system:/services/intake",
        "complaint.registered evt-7 from /services/intake",
    )
    # each in-app notice is published delivered, filed under the payload's number too
    assert sorted((e.type, e.subject, e.data["recipient"]) for e in store.outbox) == [
        ("notification.delivered", NUMBER, "role:quality_engineer"),
        ("notification.delivered", NUMBER, "role:quality_manager"),
        ("notification.delivered", NUMBER, "role:rd_after_sales"),
    ]
    assert {e.data["cause_id"] for e in store.outbox} == {"evt-7"}


async def test_the_bound_registration_handler_is_the_same_use_case(make: Make, store: MemoryStore) -> None:
    await handler(COMPLAINT_REGISTERED).handle(make(), message(COMPLAINT_REGISTERED, record(), subject=NUMBER))
    [dispatch] = await dispatches_of(make(), NUMBER)
    assert [d.urgent for d in dispatch.deliveries if d.recipient_role == "quality_manager"] == [True]


async def test_an_opened_investigation_message_lists_its_deadlines_and_times_them(
    make: Make, store: MemoryStore
) -> None:
    payload = opened(Deadline(milestone="close", due_at=NOW + timedelta(days=15), source="seed 000 §4.2.1"))
    await handler(INVESTIGATION_OPENED).handle(make(), message(INVESTIGATION_OPENED, payload, subject=NUMBER))

    [dispatch] = await dispatches_of(make(), NUMBER)
    assert {d.recipient_role for d in dispatch.deliveries} == {"quality_engineer", "customer_service"}
    assert "- 结案：2026-12-06 16:00" in dispatch.deliveries[0].body
    assert "- closing: 2026-12-06 16:00" in dispatch.deliveries[0].body

    timers = await timers_of(make(), NUMBER)
    assert {(t.milestone, t.due_at) for t in timers} == {("close", NOW + timedelta(days=15))}
    assert [t.kind for t in timers].count(TimerKind.BREACH) == 1
    assert {t.state for t in timers} == {TimerState.PENDING}
    assert {t.producer for t in timers} == {"investigation"}


async def test_an_event_that_tells_nobody_still_moves_the_cases_timers(make: Make, store: MemoryStore) -> None:
    """Containment met the first response (version 2): its timers are cancelled, nobody is told."""
    await handler(INVESTIGATION_OPENED).handle(
        make(), message(INVESTIGATION_OPENED, opened(first_response()), subject=NUMBER)
    )
    told = len(store.table("deliveries"))

    contained = public.ContainmentRecorded(
        number=NUMBER,
        factory="F01",
        version=2,
        recorded_at=NOW,
        scope=[],
        dispositions=["sorting"],
        deadlines=[first_response(state="met")],
    )
    await handler(CONTAINMENT_RECORDED).handle(
        make(), message(CONTAINMENT_RECORDED, contained, subject=NUMBER, event_id="evt-8")
    )

    assert {t.state for t in await timers_of(make(), NUMBER)} == {TimerState.CANCELLED}
    assert len(store.table("deliveries")) == told
    assert [d.event_id for d in await dispatches_of(make(), NUMBER)] == ["evt-7"]


async def test_a_factory_without_a_policy_is_refused_before_anything_is_written(make: Make, store: MemoryStore) -> None:
    """Neither a notice nor a timer: the message is retried, then dead-lettered."""
    entry = InboxEntry("evt-9", "notification.investigations", INVESTIGATION_OPENED)
    payload = opened(first_response(), factory_code="F99")
    with pytest.raises(FactoryPolicyMissing, match="F99"):
        await handler(INVESTIGATION_OPENED).handle(
            make(system_actor("/services/investigation"), entry),
            message(INVESTIGATION_OPENED, payload, subject=payload.number, event_id="evt-9"),
        )
    assert store.table("deliveries") == {} and store.table("timers") == {} and store.table("tracks") == {}
    assert store.inbox == set() and store.outbox == [] and store.audit == []
