"""Who hears what (DOMAIN.md §5), in the recipient's language."""

from __future__ import annotations

from datetime import UTC, datetime

from cqm_shared.policy import PolicyBook
from notification.adapters.templates import JinjaRenderer
from notification.domain.messages import for_opened, for_registered
from notification.domain.model import CaseOpened, ComplaintSummary, Deadline
from notification.domain.policy import NotificationPolicy
from notification.domain.rendering import Rendered
from tests.conftest import POLICY_DIR

POLICY = PolicyBook(POLICY_DIR, "notification", NotificationPolicy).for_factory("F01")
RENDERER = JinjaRenderer()
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
    assert [(n.recipient_role, n.recipient) for n in notices] == [
        ("quality_engineer", "role:quality_engineer"),
        ("rd_after_sales", "role:rd_after_sales"),
    ]
    assert {n.template for n in notices} == {"complaint.registered"}
    assert not any(n.urgent for n in notices)
    assert notices[0].context == {
        "number": "F01-2611-0003",
        "factory": "F01",
        "company": "华东建工",
        "product": "PC-100",
        "phenomenon": "贯穿裂缝 through-crack",
        "batch_return": False,
    }


def test_batch_return_tells_the_quality_head_at_once() -> None:
    # DOMAIN.md §2/§5, seed 001 §5.1.2.4: 如为客户批量退货须即将直接通知品管部主管
    notices = for_registered(record(batch_return=True), POLICY)
    urgent = [n for n in notices if n.urgent]
    assert [(n.recipient_role, n.template) for n in urgent] == [("quality_manager", "complaint.batch_return")]
    assert [n.template for n in notices if not n.urgent] == ["complaint.registered"] * 2
    text = RENDERER.render(urgent[0].template, "both", urgent[0].context)
    assert text.subject == (
        "【紧急】批量退货 F01-2611-0003：华东建工 PC-100 / [URGENT] Batch return F01-2611-0003: 华东建工 PC-100"
    )
    registered = RENDERER.render("complaint.registered", "zh", notices[0].context)
    assert "※ 本单为客户批量退货。" in registered.body


def test_a_rule_may_route_batch_returns_only_and_its_urgency_wins() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {
                "complaint.registered": [
                    {"to": ["quality_engineer"]},
                    {"to": ["sales"], "when": {"flags": ["batch_return"]}, "urgent": True},
                ],
                "complaint.batch_return": [{"to": ["quality_manager"], "urgent": False}],
            },
            "directory": {"quality_engineer": ["qe"], "sales": ["sales"], "quality_manager": ["qm"]},
        }
    )
    assert [(n.recipient, n.urgent) for n in for_registered(record(batch_return=False), policy)] == [("qe", False)]
    assert [(n.recipient, n.urgent, n.template) for n in for_registered(record(batch_return=True), policy)] == [
        ("qe", False, "complaint.registered"),
        ("sales", True, "complaint.registered"),
        ("qm", False, "complaint.batch_return"),  # the rule says it is not urgent here
    ]


def test_who_hears_of_both_the_registration_and_the_batch_return_gets_the_batch_return_alone() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {
                "complaint.registered": ["quality_engineer", "quality_manager"],
                "complaint.batch_return": ["quality_manager"],
            },
            "directory": {"quality_engineer": ["qe"], "quality_manager": ["qm"]},
        }
    )
    assert [(n.recipient, n.template, n.urgent) for n in for_registered(record(batch_return=True), policy)] == [
        ("qe", "complaint.registered", False),
        ("qm", "complaint.batch_return", True),
    ]


def test_texts_follow_the_locale() -> None:
    [first, *_] = for_registered(record(batch_return=False), POLICY)
    zh = RENDERER.render(first.template, "zh", first.context)
    en = RENDERER.render(first.template, "en", first.context)
    assert zh == Rendered(
        "新客诉 F01-2611-0003：华东建工 PC-100",
        "客户 华东建工 投诉 PC-100：贯穿裂缝 through-crack\n客诉编号：F01-2611-0003（F01）\n请及时确认客诉并跟进处理。",
    )
    assert en.subject == "New complaint F01-2611-0003: 华东建工 PC-100"
    assert en.body.startswith("Customer 华东建工 complains about PC-100: 贯穿裂缝 through-crack\n")
    assert "新客诉" not in en.subject and "New complaint" not in zh.subject
    assert RENDERER.render(first.template, "both", first.context) == Rendered(
        f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}"
    )


def test_opened_case_lists_deadlines_to_qe_and_customer_service() -> None:
    opened = CaseOpened(
        number="F01-2611-0003",
        factory="F01",
        deadlines=(Deadline(milestone="first_response", due_at=NOW),),
    )
    notices = for_opened(opened, POLICY)
    assert {n.recipient_role for n in notices} == {"quality_engineer", "customer_service"}
    assert notices[0].context["deadlines"] == [{"milestone": "first_response", "due_at": "2026-11-21 16:00"}]
    assert "- 首次响应：2026-11-21 16:00" in RENDERER.render(notices[0].template, "zh", notices[0].context).body
    en = RENDERER.render(notices[0].template, "en", notices[0].context)
    assert en.subject == "Investigation opened F01-2611-0003"
    assert "- first response: 2026-11-21 16:00" in en.body
