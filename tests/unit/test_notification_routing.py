"""Who hears what (DOMAIN.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import Deadline, InvestigationOpened
from cqm_shared.policy import PolicyBook
from notification.domain.messages import for_opened, for_registered
from notification.domain.policy import NotificationPolicy
from tests.conftest import POLICY_DIR

POLICY = PolicyBook(POLICY_DIR, "notification", NotificationPolicy).for_factory("F01")
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(batch_return: bool) -> ComplaintRecord:
    return ComplaintRecord.model_validate(
        {
            "number": "F01-2611-0003",
            "status": "registered",
            "factory": "F01",
            "channel": "email",
            "received_at": NOW,
            "registered_at": NOW,
            "batch_return": batch_return,
            "customer": {"company": "华东建工", "contact_name": "王工", "email": "w@example.com"},
            "product": {"part_number": "PC-100"},
            "phenomenon": "贯穿裂缝 through-crack",
        }
    )


def test_registration_goes_to_qe_and_rd_after_sales() -> None:
    notices = for_registered(record(batch_return=False), POLICY)
    assert {n.recipient_role for n in notices} == {"quality_engineer", "rd_after_sales"}
    assert not any(n.urgent for n in notices)


def test_batch_return_tells_the_quality_head_at_once() -> None:
    # DOMAIN.md §2/§5, seed 001 §5.1.2.4: 如为客户批量退货须即将直接通知品管部主管
    notices = for_registered(record(batch_return=True), POLICY)
    urgent = [n for n in notices if n.urgent]
    assert [n.recipient_role for n in urgent] == ["quality_manager"]
    assert "批量退货" in urgent[0].subject and "Batch return" in urgent[0].subject


def test_texts_are_bilingual() -> None:
    [first, *_] = for_registered(record(batch_return=False), POLICY)
    assert "新客诉" in first.subject and "New complaint" in first.subject
    assert "华东建工" in first.body


def test_opened_case_lists_deadlines_to_qe_and_customer_service() -> None:
    opened = InvestigationOpened(
        number="F01-2611-0003",
        factory="F01",
        state="opened",
        opened_at=NOW,
        deadlines=[Deadline(milestone="first_response", due_at=NOW, source="seed 001 §1.2.1")],
    )
    notices = for_opened(opened, POLICY)
    assert {n.recipient_role for n in notices} == {"quality_engineer", "customer_service"}
    assert "首次响应 first response: 2026-11-21T08:00+00:00" in notices[0].body
