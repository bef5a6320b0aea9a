"""Who hears what of an investigation (DOMAIN.md §5), and what the notice says: the public
`investigation.*` payloads, translated as the consumers do, through the routes of the factory's
policy into notices (template and context), rendered by the Jinja templates in Chinese, in
English and in both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import Severity
from cqm_shared.policy import PolicyBook
from notification.adapters.templates import JinjaRenderer
from notification.domain.messages import (
    for_disputed,
    for_progress,
    for_responsibility,
    for_ruled,
    for_triaged,
    milestone_name,
    progress_trigger,
)
from notification.domain.model import CaseTriaged, DisputeRuling, Notice
from notification.domain.policy import NotificationPolicy
from notification.domain.rendering import Rendered, RenderLocale
from notification.entrypoints.consumers import (
    case_closed,
    case_reopened,
    case_triaged,
    customer_replied,
    dispute_filed,
    dispute_ruling,
    responsibility_assigned,
)
from tests.conftest import POLICY_DIR

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
POLICY = POLICIES.for_factory("F01")
RENDERER = JinjaRenderer()
NUMBER = "F01-2611-0003"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def deadline(milestone: str, hours: int, state: str = "pending", round: int = 1) -> public.Deadline:
    return public.Deadline(
        milestone=milestone, due_at=NOW + timedelta(hours=hours), source="seed", state=state, round=round
    )


def status(**extra: Any) -> dict[str, Any]:
    return {"number": NUMBER, "factory": "F01", "version": 3, "state": "x", "actor": "user:qe-1", **extra}


def triaged(**extra: Any) -> public.InvestigationTriaged:
    fields: dict[str, Any] = {
        "triaged_at": NOW,
        "valid": True,
        "category": public.ComplaintCategory.QUALITY,
        "severity": Severity.MAJOR,
        "responsible_department": "一车间",
        "dispatch": ["workshop_head"],
        "deadlines": [deadline("first_response", 24, state="met"), deadline("feedback_slip", 48)],
    }
    return public.InvestigationTriaged(**status(**{**fields, **extra}))


def party(name: str, share: str, **extra: Any) -> public.ResponsibleParty:
    return public.ResponsibleParty(
        kind=extra.pop("kind", public.PartyKind.PERSON), name=name, share=Decimal(share), **extra
    )


def determined(**extra: Any) -> public.ResponsibilityDetermined:
    fields: dict[str, Any] = {
        "determined_at": NOW,
        "accident_class": public.AccidentClass.MANAGEMENT_GENERAL,
        "loss_amount": Decimal("12345.60"),
        "loss_class": "serious",
        "parties": [
            party("王五", "70", department="品管部", role="shipping_qc"),
            party("赵六", "30", department="一车间", role="line_qc"),
        ],
        "dispute_window_ends_at": NOW + timedelta(hours=2),
    }
    return public.ResponsibilityDetermined(**status(**{**fields, **extra}))


def disputed() -> public.ResponsibilityDisputed:
    return public.ResponsibilityDisputed(
        **status(disputed_at=NOW, kind="objection", department="一车间", against=1, reason="线检已记录")
    )


def ruled(**extra: Any) -> public.DisputeRuled:
    return public.DisputeRuled(**status(**{"ruled_at": NOW, "kind": "objection", "upheld": True, **extra}))


def replied(kind: str = "final") -> public.CustomerReplied:
    return public.CustomerReplied(**status(replied_at=NOW, kind=kind, deadlines=[deadline("close", 120)]))


def closed() -> public.InvestigationClosed:
    return public.InvestigationClosed(**status(closed_at=NOW, outcome="resolved", reason="客户接受"))


def reopened() -> public.InvestigationReopened:
    deadlines = [
        deadline("close", 100, state="cancelled"),
        deadline("customer_reply", 24, round=2),
        deadline("close", 360, round=2),
        deadline("action:A1", 200),
    ]
    return public.InvestigationReopened(**status(reopened_at=NOW, round=2, reason="客户不接受", deadlines=deadlines))


def recipients(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(n.recipient_role, n.recipient) for n in notices]


def render(notice: Notice, locale: RenderLocale) -> Rendered:
    return RENDERER.render(notice.template, locale, notice.context)


# -- triage -------------------------------------------------------------------------------


def test_a_triage_tells_the_named_department_and_the_on_site_team() -> None:
    """DOMAIN.md §5: triage -> responsible department; seed 000 §4.1.1: severity decides who goes on site."""
    case = case_triaged(triaged(severity=Severity.URGENT, dispatch=["production_vp", "process_group"]))
    notices = for_triaged(case, POLICY)

    assert recipients(notices) == [
        ("responsible_department", "department:一车间"),
        ("production_vp", "role:production_vp"),
        ("process_group", "role:process_group"),
    ]
    assert {n.template for n in notices} == {"investigation.triaged"}
    assert all(n.rule is not None and "in_app" in n.rule.channels for n in notices)
    context = notices[0].context
    assert (context["number"], context["severity"], context["category"]) == (NUMBER, "urgent", "quality")
    assert context["responsible_department"] == "一车间"
    assert context["dispatch"] == ["production_vp", "process_group"]
    # pending deadlines only, earliest first, as ISO strings
    assert context["deadlines"] == [{"milestone": "feedback_slip", "due_at": "2026-11-23 16:00"}]

    zh, en = render(notices[0], "zh"), render(notices[0], "en")
    assert zh.subject == f"客诉分类 {NUMBER}：紧急/质量问题"
    assert en.subject == f"Complaint triaged {NUMBER}: urgent/quality"
    assert "请责任部门调查原因并回复信息事务处理单" in zh.body
    assert "严重度：紧急\n类别：质量问题\n责任部门：一车间\n外派现场：生产副总、工艺组" in zh.body
    assert "各节点期限：\n- 信息事务处理单回复：2026-11-23 16:00" in zh.body
    assert "Sent on site: production VP, process group" in en.body
    assert "- feedback slip answered: 2026-11-23 16:00" in en.body
    assert "首次响应" not in zh.body and "first response" not in en.body  # met


def test_a_triage_naming_no_department_tells_the_directorys_and_an_unknown_role_as_role() -> None:
    case = case_triaged(triaged(responsible_department=None, dispatch=["workshop_head", "外协组", "workshop_head"]))
    notices = for_triaged(case, POLICY)

    assert recipients(notices) == [
        ("responsible_department", "role:responsible_department"),
        ("workshop_head", "role:workshop_head"),
        ("外协组", "role:外协组"),  # not in the directory: addressed, not dropped
    ]
    zh = render(notices[0], "zh").body
    assert "责任部门：" not in zh and "外派现场：车间主任、外协组" in zh  # an unknown role as it is called


def test_a_special_triage_says_so() -> None:
    case = CaseTriaged(NUMBER, "F01", "critical", "quality", special="hazardous_substance")
    [notice] = for_triaged(case, POLICY)
    assert notice.context["special"] == "hazardous_substance"
    assert "特殊客诉：有害物质" in render(notice, "zh").body
    assert "Special complaint: hazardous substance" in render(notice, "en").body


def test_a_triage_that_ends_the_investigation_tells_customer_service_to_reply_and_close() -> None:
    """seed 000 客诉处罚管理规定 §5, seed 004 §4.2.1 A: not our fault -> reply to the customer and close."""
    data = triaged(
        category=public.ComplaintCategory.PRICE,
        severity=Severity.MINOR,
        ends_investigation=True,
        deadlines=[deadline("customer_reply", 24)],
    )
    [notice] = for_triaged(case_triaged(data), POLICY)

    assert recipients([notice]) == [("customer_service", "role:customer_service")]
    assert notice.template == "investigation.ended_at_triage"
    assert notice.context["reason"] == "non_quality"
    zh, en, both = render(notice, "zh"), render(notice, "en"), render(notice, "both")
    assert zh.subject == f"请回复客户并结案 {NUMBER}（非质量问题）"
    assert en.subject == f"Reply to the customer and close {NUMBER} (not a quality matter)"
    assert zh.body.splitlines() == [
        f"客诉 {NUMBER} 经确认无需调查（非质量问题），请回复客户并结案。",
        "严重度：一般",
        "类别：价格",
        "各节点期限：",
        "- 客户回复：2026-11-22 16:00",
    ]
    assert "- customer reply: 2026-11-22 16:00" in en.body
    assert both == Rendered(f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}")


@pytest.mark.parametrize(
    ("facts", "reason", "chinese", "english"),
    [
        ({"valid": False}, "not_valid", "投诉不成立", "complaint not valid"),
        ({"category": "service"}, "non_quality", "非质量问题", "not a quality matter"),
        ({"our_fault": False}, "not_our_fault", "非我司责任", "not our fault"),
    ],
)
def test_why_triage_ended_is_said(facts: dict[str, Any], reason: str, chinese: str, english: str) -> None:
    case = CaseTriaged(NUMBER, "F01", "minor", facts.pop("category", "quality"), ends_investigation=True, **facts)
    [notice] = for_triaged(case, POLICY)
    assert notice.context["reason"] == reason
    assert f"经确认无需调查（{chinese}）" in render(notice, "zh").body
    assert f"needs no investigation ({english})" in render(notice, "en").body


# -- responsibility and disputes ----------------------------------------------------------


def test_a_determination_tells_the_department_head_the_shares_and_the_dispute_window() -> None:
    """DOMAIN.md §5: responsibility -> department head (the 2 h dispute window starts, seed 000 §4.3.3.2.3)."""
    [notice] = for_responsibility(responsibility_assigned(determined()), POLICY)

    assert recipients([notice]) == [("department_head", "role:department_head")]
    assert notice.template == "investigation.responsibility_determined"
    assert notice.context["parties"][0] == {
        "name": "王五",
        "share": "70",
        "kind": "person",
        "department": "品管部",
        "role": "shipping_qc",
    }
    assert (notice.context["loss_amount"], notice.context["dispute_until"]) == ("12345.60", "2026-11-21 18:00")

    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == f"责任判定 {NUMBER}（第 1 次）"
    assert zh.body.splitlines() == [
        f"客诉 {NUMBER} 责任判定（第 1 次）：",
        "- 王五（品管部，出货检验）：70%",
        "- 赵六（一车间，过程检验）：30%",
        "事故类别：管理性一般事故",
        "损失金额：12345.60 元（严重）",
        "异议期至 2026-11-21 18:00：如有异议或属市场原因，请在此之前提出。",
    ]
    assert "- 王五 (品管部, shipping QC): 70%" in en.body
    assert "Accident class: general management accident" in en.body
    assert "Loss: 12345.60 CNY (serious)" in en.body
    assert "may be filed until 2026-11-21 18:00" in en.body


def test_a_charge_back_tells_purchasing_too() -> None:
    """seed 001 §5.3.2: losses from purchased material are charged back to the supplier."""
    parties = [party("宏达建材", "60", kind=public.PartyKind.SUPPLIER), party("来料检验", "40", kind="role")]
    data = determined(parties=parties, charge_back=True, determination=2, supersedes=1)
    head, purchasing = for_responsibility(responsibility_assigned(data), POLICY)

    assert recipients([head, purchasing]) == [
        ("department_head", "role:department_head"),
        ("purchasing", "role:purchasing"),
    ]
    assert (head.template, purchasing.template) == (
        "investigation.responsibility_determined",
        "investigation.charge_back",
    )
    assert "（第 2 次），取代第 1 次判定：" in render(head, "zh").body
    assert "(determination 2, superseding determination 1)" in render(head, "en").body
    assert [p["name"] for p in purchasing.context["parties"]] == ["宏达建材"]
    zh = render(purchasing, "zh")
    assert zh.subject == f"供应商索赔 {NUMBER}"
    assert "- 宏达建材：60%" in zh.body and "来料检验" not in zh.body
    assert render(purchasing, "en").subject == f"Supplier charge-back {NUMBER}"


def test_a_dispute_tells_production_operations_to_rule() -> None:
    """seed 000 §4.3.3.2.4: production operations rules finally."""
    [notice] = for_disputed(dispute_filed(disputed()), POLICY)

    assert recipients([notice]) == [("production_operations", "role:production_operations")]
    assert notice.template == "investigation.responsibility_disputed"
    assert render(notice, "zh") == Rendered(
        f"责任异议待裁决 {NUMBER}",
        f"一车间 对客诉 {NUMBER} 第 1 次责任判定提出异议，请生产运营部裁决。\n理由：线检已记录",
    )
    en = render(notice, "en")
    assert en.subject == f"Dispute to rule {NUMBER}"
    assert "(objection): production operations to rule" in en.body and "Reason: 线检已记录" in en.body


def test_a_ruling_tells_the_quality_engineer_and_the_responsible_department() -> None:
    notices = for_ruled(dispute_ruling(ruled(determination=2)), POLICY)

    # the event does not name the disputing department: the directory's responsible department
    assert recipients(notices) == [
        ("quality_engineer", "role:quality_engineer"),
        ("responsible_department", "role:responsible_department"),
    ]
    zh, en = render(notices[0], "zh"), render(notices[0], "en")
    assert zh.subject == f"异议裁决 {NUMBER}：成立"
    assert "生产运营部裁决：异议成立。\n已重新判定责任（第 2 次）。" in zh.body
    assert en.subject == f"Dispute ruled {NUMBER}: upheld"
    assert "determination 2" in en.body


def test_a_ruling_naming_the_disputing_department_tells_it() -> None:
    ruling = DisputeRuling(NUMBER, "F01", "market_cause", upheld=True, responsibility_cleared=True, department="一车间")
    notices = for_ruled(ruling, POLICY)
    assert recipients(notices) == [
        ("quality_engineer", "role:quality_engineer"),
        ("responsible_department", "department:一车间"),
    ]
    assert "市场原因成立，本单无责任方。" in render(notices[0], "zh").body
    assert "nobody is responsible" in render(notices[0], "en").body
    assert "提出异议部门：一车间" in render(notices[0], "zh").body

    [dismissed, _] = for_ruled(DisputeRuling(NUMBER, "F01", "objection", upheld=False), POLICY)
    assert "异议不成立，维持原判定" in render(dismissed, "zh").body
    assert "dismissed the objection: the determination stands" in render(dismissed, "en").body


# -- reply, close, reopen -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "template", "chinese", "english"),
    [
        (customer_replied(replied()), "investigation.customer_replied", "已最终回复客户", "Final reply sent"),
        (case_closed(closed()), "investigation.closed", "客诉结案", "Complaint closed"),
        (case_reopened(reopened()), "investigation.reopened", "客诉重开", "Complaint reopened"),
    ],
)
def test_the_final_reply_closing_and_reopening_tell_customer_service_and_qe(
    progress: Any, template: str, chinese: str, english: str
) -> None:
    notices = for_progress(progress, POLICY)

    assert recipients(notices) == [
        ("customer_service", "role:customer_service"),
        ("quality_engineer", "role:quality_engineer"),
    ]
    assert progress_trigger(progress) == template and {n.template for n in notices} == {template}
    assert render(notices[0], "zh").subject.startswith(f"{chinese} {NUMBER}")
    assert render(notices[0], "en").subject.startswith(f"{english} {NUMBER}")


def test_a_closing_says_its_outcome_and_a_reopening_its_round_and_deadlines() -> None:
    [closing, _] = for_progress(case_closed(closed()), POLICY)
    assert closing.context["outcome"] == "resolved"
    assert render(closing, "zh").body == f"客诉 {NUMBER} 已结案。\n结案结论：已解决\n说明：客户接受"
    assert "Outcome: resolved" in render(closing, "en").body

    [reopening, _] = for_progress(case_reopened(reopened()), POLICY)
    assert reopening.context["round"] == 2
    assert [d["milestone"] for d in reopening.context["deadlines"]] == ["customer_reply", "action:A1", "close"]
    zh = render(reopening, "zh")
    assert zh.subject == f"客诉重开 {NUMBER}（第 2 轮）"
    assert zh.body.splitlines() == [
        f"客户不接受处理结果，客诉 {NUMBER} 重开，开始第 2 轮处理。",
        "原因：客户不接受",
        "各节点期限：",
        "- 客户回复：2026-11-22 16:00",
        "- 纠正措施 A1：2026-11-30 00:00",
        "- 结案：2026-12-06 16:00",  # not the cancelled close of round 1
    ]
    en = render(reopening, "en")
    assert en.subject == f"Complaint reopened {NUMBER} (round 2)"
    assert "- corrective action A1: 2026-11-30 00:00" in en.body


def test_a_preliminary_reply_tells_nobody() -> None:
    progress = customer_replied(replied("preliminary"))
    assert progress_trigger(progress) is None
    assert for_progress(progress, POLICY) == []


# -- every notice -------------------------------------------------------------------------

EVERY_NOTICE: list[list[Notice]] = [
    for_triaged(case_triaged(triaged()), POLICY),
    for_triaged(case_triaged(triaged(ends_investigation=True)), POLICY),
    for_responsibility(responsibility_assigned(determined(charge_back=True)), POLICY),
    for_disputed(dispute_filed(disputed()), POLICY),
    for_ruled(dispute_ruling(ruled()), POLICY),
    for_progress(customer_replied(replied()), POLICY),
    for_progress(case_closed(closed()), POLICY),
    for_progress(case_reopened(reopened()), POLICY),
]


@pytest.mark.parametrize("notices", EVERY_NOTICE, ids=lambda ns: ns[0].template)
def test_every_notice_has_a_json_context_and_renders_in_each_locale(notices: list[Notice]) -> None:
    assert notices and len({n.recipient for n in notices}) == len(notices)
    for notice in notices:
        assert json.loads(json.dumps(notice.context)) == notice.context  # plain values only
        assert notice.template.startswith("investigation.")
        zh, en, both = (render(notice, locale) for locale in ("zh", "en", "both"))
        assert NUMBER in zh.subject and NUMBER in en.subject
        assert "None" not in zh.body + en.body
        assert both.subject == f"{zh.subject} / {en.subject}" and both.body == f"{zh.body}\n\n{en.body}"


# -- routes are policy data ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["F01", "F02"])
def test_every_factory_routes_the_investigation_triggers(code: str) -> None:
    policy = POLICIES.for_factory(code)
    for trigger in (
        "investigation.triaged",
        "investigation.ended_at_triage",
        "investigation.responsibility_determined",
        "investigation.charge_back",
        "investigation.responsibility_disputed",
        "investigation.dispute_ruled",
        "investigation.customer_replied",
        "investigation.closed",
        "investigation.reopened",
    ):
        assert policy.recipients(trigger), trigger


def test_a_factorys_directory_decides_the_addresses() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {"investigation.triaged": ["responsible_department", "quality_manager"]},
            "directory": {
                "responsible_department": ["user:dept-inbox"],
                "quality_manager": ["user:qm", "user:qm-deputy"],
                "workshop_head": ["user:ws-head"],
                "quality_engineer": ["user:qe"],  # the deadlines' default owner
            },
        }
    )
    case = CaseTriaged(NUMBER, "F01", "major", "quality", dispatch=("workshop_head", "x" * 300))
    assert recipients(for_triaged(case, policy)) == [
        ("responsible_department", "user:dept-inbox"),
        ("quality_manager", "user:qm"),
        ("quality_manager", "user:qm-deputy"),
        ("workshop_head", "user:ws-head"),
        ("x" * 50, "role:" + "x" * 195),  # cut to what the delivery log holds
    ]


def test_a_rule_may_ask_for_a_severity_or_a_special_complaint_and_make_it_urgent() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {
                "investigation.triaged": [
                    {"to": ["responsible_department"]},
                    {"to": ["quality_manager"], "when": {"severity": ["urgent", "critical"]}, "urgent": True},
                    {"to": ["lab"], "when": {"flags": ["special:hazardous_substance"]}, "channels": ["email"]},
                ]
            },
            "directory": {
                "responsible_department": ["d"],
                "quality_manager": ["qm"],
                "lab": ["lab"],
                "quality_engineer": ["qe"],
            },
            "email": {},
        }
    )

    def told(severity: str, special: str | None = None) -> list[tuple[str, bool, list[str]]]:
        case = CaseTriaged(NUMBER, "F01", severity, "quality", special=special)
        return [(n.recipient, n.urgent, n.rule.channels if n.rule else []) for n in for_triaged(case, policy)]

    default = ["in_app", "preferred"]
    assert told("minor") == [("d", False, default)]
    assert told("critical") == [("d", False, default), ("qm", True, default)]  # the rule's urgency
    assert told("minor", "hazardous_substance") == [("d", False, default), ("lab", False, ["email"])]
    assert told("minor", "process_abnormality") == [("d", False, default)]


def test_milestones_have_chinese_and_english_names() -> None:
    assert milestone_name("onsite_sheet_return") == "现场调查表回传 on-site sheet returned"
    assert milestone_name("onsite_sheet_return", "zh") == "现场调查表回传"
    assert milestone_name("onsite_sheet_return", "en") == "on-site sheet returned"
    assert milestone_name("action:A3") == "纠正措施 A3 corrective action A3"
    assert milestone_name("action:A3", "en") == "corrective action A3"
    for milestone in (
        "onsite_arrival",
        "onsite_work_report",
        "feedback_slip",
        "process_abnormality_reply",
        "hazardous_substance_reply",
        "workshop_training",
    ):
        chinese, english = milestone_name(milestone, "zh"), milestone_name(milestone, "en")
        assert all("\u4e00" <= c <= "\u9fff" for c in chinese) and english.isascii(), milestone
    assert milestone_name("site_visit") == "site_visit" == milestone_name("site_visit", "zh")
