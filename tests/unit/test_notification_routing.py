"""Who hears what (DOMAIN.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime

from cqm_shared.policy import PolicyBook
from notification.domain.messages import for_opened, for_registered
from notification.domain.model import CaseOpened, ComplaintSummary, Deadline
from notification.domain.policy import NotificationPolicy
from tests.conftest import POLICY_DIR

POLICY = PolicyBook(POLICY_DIR, "notification", NotificationPolicy).for_factory("F01")
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(batch_return: bool) -> ComplaintSummary:
    return ComplaintSummary(
        number="F01-2611-0003",
        factory="F01",
        company="华东建工",
        product="PC-100",
        phenomenon="贯穿裂缝 through-crack",
        batch_return=batch_return,
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
    opened = CaseOpened(
        number="F01-2611-0003",
        factory="F01",
        deadlines=(Deadline(milestone="first_response", due_at=NOW),),
    )
    notices = for_opened(opened, POLICY)
    assert {n.recipient_role for n in notices} == {"quality_engineer", "customer_service"}
    assert "首次响应 first response: 2026-11-21T08:00+00:00" in notices[0].body
