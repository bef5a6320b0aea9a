"""The public payloads notification consumes, translated into its own terms and sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    COMPLAINT_REGISTERED,
    CUSTOMER_REPLIED,
    DISPUTE_RULED,
    INVESTIGATION_CLOSED,
    INVESTIGATION_OPENED,
    INVESTIGATION_REOPENED,
    INVESTIGATION_TRIAGED,
    PENALTY_APPEALED,
    PENALTY_ASSESSED,
    PENALTY_FINALIZED,
    PENALTY_PERIOD_CLOSED,
    RESPONSIBILITY_DETERMINED,
    RESPONSIBILITY_DISPUTED,
    Deadline,
    InvestigationOpened,
)
from cqm_shared.messaging.consumer import Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import InboxEntry, MemoryStore, system_actor
from notification.adapters.publishing import to_public
from notification.domain.model import CaseOpened
from notification.domain.model import Deadline as Due
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.consumers import (
    case_opened,
    complaint_summary,
    on_complaint_registered,
    on_investigation_opened,
    subscriptions,
)
from notification.service.handlers import dispatches_of
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(**product: Any) -> ComplaintRecord:
    return ComplaintRecord.model_validate(
        {
            "number": "F01-2611-0003",
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


def message(event_type: str, data: Any, *, subject: str | None) -> Message[Any]:
    return Message("evt-7", event_type, "/services/intake", "F01", subject, NOW, 1, data)


def test_a_complaint_record_becomes_a_summary_naming_the_part_else_the_model() -> None:
    summary = complaint_summary(record())
    assert (summary.number, summary.factory, summary.company, summary.product, summary.batch_return) == (
        "F01-2611-0003",
        "F01",
        "华东建工",
        "PC-100",
        True,
    )
    assert complaint_summary(record(model="YB-PC")).product == "YB-PC"
    assert complaint_summary(record(model="YB-PC", part_number="PC-7")).product == "PC-7"


def test_an_opened_investigation_becomes_a_case_with_its_deadlines() -> None:
    payload = InvestigationOpened(
        number="F01-2611-0003",
        factory="F01",
        state="opened",
        opened_at=NOW,
        deadlines=[Deadline(milestone="first_response", due_at=NOW, source="seed 001 §1.2.1")],
    )
    assert case_opened(payload) == CaseOpened("F01-2611-0003", "F01", (Due("first_response", NOW),))


def test_the_queues_and_event_types_stay_as_bound() -> None:
    assert [(s.purpose, list(s.handlers)) for s in subscriptions(POLICIES)] == [
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
            ],
        ),
        ("penalties", [PENALTY_ASSESSED, PENALTY_APPEALED, PENALTY_FINALIZED, PENALTY_PERIOD_CLOSED]),
    ]


async def test_a_registration_without_a_subject_is_filed_under_the_payloads_number() -> None:
    """Defect fixed: the log used the envelope's optional `subject` (or "") as the complaint number."""
    store = MemoryStore()
    make = factory(
        MemoryNotificationUnitOfWork, store, FakeClock(T0), translate=to_public, source="/services/notification"
    )
    entry = InboxEntry("evt-7", "notification.complaints", COMPLAINT_REGISTERED)
    uow = make(system_actor("/services/intake"), entry)
    await on_complaint_registered(POLICIES).handle(uow, message(COMPLAINT_REGISTERED, record(), subject=None))

    assert uow.committed and store.inbox == {("evt-7", "notification.complaints")}
    [dispatch] = await dispatches_of(make(), "F01-2611-0003")
    assert {n.recipient_role for n in dispatch.notifications} == {
        "quality_engineer",
        "rd_after_sales",
        "quality_manager",
    }
    [row] = store.audit
    assert (row.entity_id, row.actor, row.reason) == (
        "F01-2611-0003",
        "system:/services/intake",
        "complaint.registered evt-7 from /services/intake",
    )


async def test_an_opened_investigation_message_lists_its_deadlines() -> None:
    store = MemoryStore()
    make = factory(
        MemoryNotificationUnitOfWork, store, FakeClock(T0), translate=to_public, source="/services/notification"
    )
    payload = InvestigationOpened(
        number="F01-2611-0003",
        factory="F01",
        state="opened",
        opened_at=NOW,
        deadlines=[Deadline(milestone="close", due_at=NOW + timedelta(days=15), source="seed 000 §4.2.1")],
    )
    await on_investigation_opened(POLICIES).handle(
        make(), message(INVESTIGATION_OPENED, payload, subject="F01-2611-0003")
    )
    [dispatch] = await dispatches_of(make(), "F01-2611-0003")
    assert "结案 close: 2026-12-06T08:00+00:00" in dispatch.notifications[0].body
