"""Who hears what of a penalty assessment (DOMAIN.md §5: penalty approved -> HR and finance), and
what the notice says: the public `penalty.*` payloads, translated as the consumers do, through the
routes of the factory's policy into notices (template and context), rendered by the Jinja
templates in Chinese, in English and in both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.contracts import events as public
from cqm_shared.policy import PolicyBook
from notification.adapters.templates import JinjaRenderer
from notification.domain.messages import (
    assessed_tells,
    for_appealed,
    for_assessed,
    for_finalized,
    for_period_closed,
)
from notification.domain.model import Notice, PenaltyItem, PenaltyNotice, PenaltyStage
from notification.domain.policy import NotificationPolicy
from notification.domain.rendering import Rendered, RenderLocale
from notification.entrypoints.consumers import penalty_appealed, penalty_assessed, penalty_finalized, period_closed
from tests.conftest import POLICY_DIR

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
POLICY = POLICIES.for_factory("F01")
RENDERER = JinjaRenderer()
NUMBER = "F01-2611-0003"
LEDGER = "ledger/F01/2026-11"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def line(position: int, rule: str, role: str, payee: tuple[str, str], amount: str, **extra: Any) -> public.PenaltyLine:
    kind, pid, name = extra.pop("payee_kind", "person"), *payee
    return public.PenaltyLine(
        position=position,
        rule_code=rule,
        kind=extra.pop("kind", "fine"),
        role=role,
        payee=public.PenaltyPayee(kind=kind, id=pid, name=name),
        basis=extra.pop("basis", "1 time(s) × amount"),
        amount=Decimal(amount),
        **extra,
    )


ASSEMBLY = "装配车间"
LINES = [
    line(0, "5.2.6", "department_head", ("u-asm-head", "张主任"), "100", department=ASSEMBLY),
    line(1, "5.2.6", "responsible_person", ("p-wang", "王五"), "500", department=ASSEMBLY, party="王五"),
    line(2, "5.2.6", "director", ("u-prod-vp", "赵副总"), "200", department=ASSEMBLY),
    line(3, "5.2.6", "general_manager", ("u-gm-f01", "王总"), "100"),
]
QC_LINE = line(
    4, "4.3.3.2", "qc_team", ("team-qc", "质检组"), "61.73", department="品管部", illustrative=True, payee_kind="role"
)
POINTS_LINE = line(
    5, "4.3.2.1", "responsible_person", ("p-wang", "王五"), "0", kind="points", points=Decimal(-2), department=ASSEMBLY
)


def deadline(milestone: str, days: int, state: str = "pending") -> public.Deadline:
    due = NOW + timedelta(days=days)
    return public.Deadline(milestone=milestone, due_at=due, source="seed 000 §4.2.2", state=state)


def assessment(**extra: Any) -> public.PenaltyAssessment:
    lines = extra.pop("lines", LINES)
    fields: dict[str, Any] = {
        "assessment_id": "a-1",
        "number": NUMBER,
        "factory": "F01",
        "status": "draft",
        "version": 1,
        "basis": "determination",
        "determination": 1,
        "period": "2026-11",
        "policy_version": "2026.1#abc123",
        "lines": lines,
        "total": sum((x.amount for x in lines if x.kind == "fine"), Decimal(0)),
        "deadlines": [
            deadline("monthly_summary", 24, state="met"),
            deadline("workshop_proposal", 27),
            deadline("production_approval", 29),
        ],
        **extra,
    }
    return public.PenaltyAssessment(**fields)


def appeal(**extra: Any) -> public.PenaltyAppeal:
    fields: dict[str, Any] = {"by": "user:asm-head", "at": NOW, "reason": "已按工艺执行，非本车间责任", "lines": [1]}
    return public.PenaltyAppeal(**{**fields, **extra})


def decided(upheld: bool = True) -> public.PenaltyAppeal:
    return appeal(decided_by="user:gm", decided_at=NOW, upheld=upheld, decision="减半处理" if upheld else "维持")


def closed(**extra: Any) -> public.PenaltyPeriodClosed:
    fields: dict[str, Any] = {
        "factory": "F01",
        "period": "2026-11",
        "closed_at": NOW,
        "closed_by": "user:ops",
        "compensation": Decimal("12345.60"),
        "fines": Decimal("961.73"),
        "charge_backs": Decimal("3000"),
        "cost_of_poor_quality": Decimal("16307.33"),
        "performance_points": Decimal("-2"),
        "management_points": Decimal("0"),
        "unresolved_lines": 1,
        "departments": {
            ASSEMBLY: public.PeriodDepartmentTotals(
                fines=Decimal("800"), performance_points=Decimal("-2"), management_points=Decimal(0), lines=4
            ),
            "品管部": public.PeriodDepartmentTotals(
                fines=Decimal("61.73"), performance_points=Decimal(0), management_points=Decimal(0), lines=1
            ),
        },
        **extra,
    }
    return public.PenaltyPeriodClosed(**fields)


def recipients(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(n.recipient_role, n.recipient) for n in notices]


def render(notice: Notice, locale: RenderLocale) -> Rendered:
    return RENDERER.render(notice.template, locale, notice.context)


# -- the draft ------------------------------------------------------------------------------


def test_a_draft_tells_the_heads_of_its_departments_the_total_and_that_they_may_appeal() -> None:
    """seed 000 §5.2.6 lines (head 100, person 500, director 200, GM 100) and an illustrative
    4.3.3.2 line of the QC team: the heads of 装配车间 and 品管部 are told, each once."""
    notices = for_assessed(penalty_assessed(assessment(lines=[*LINES, QC_LINE], illustrative=True)), POLICY)

    assert recipients(notices) == [
        ("department_head", f"department_head:{ASSEMBLY}"),
        ("department_head", "department_head:品管部"),
    ]
    notice = notices[0]
    assert notice.template == "penalty.assessed"
    context = notice.context
    assert (context["total"], context["currency"], context["period"]) == ("961.73", "CNY", "2026-11")
    assert context["illustrative"] is True and context["appeal"] is None
    assert context["lines"][0] == {
        "position": 0,
        "rule_code": "5.2.6",
        "kind": "fine",
        "role": "department_head",
        "payee_id": "u-asm-head",
        "payee": "张主任",
        "department": ASSEMBLY,
        "amount": "100.00",
        "points": "0",
        "original_amount": None,
        "unresolved": False,
    }

    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == f"考核草案 {NUMBER}：合计罚款 961.73 元"
    assert en.subject == f"Penalty draft {NUMBER}: fines 961.73 CNY"
    assert zh.body.split("\n\n") == [
        "\n".join(
            [
                f"客诉 {NUMBER} 的考核明细（草案）已计算，计入 2026-11 月度考核台账：",
                "- 5.2.6 部门主管 张主任（装配车间）：100.00 元",
                "- 5.2.6 责任人 王五（装配车间）：500.00 元",
                "- 5.2.6 分管副总 赵副总（装配车间）：200.00 元",
                "- 5.2.6 总经理 王总：100.00 元",
                "- 4.3.3.2 质检组（品管部）：61.73 元",  # the payee is the role itself: named once
                "合计罚款：961.73 元",
                "【注意】部分金额按示意系数计算（制度未给出系数表），请按本厂系数表核对。",
            ]
        ),
        "\n".join(
            [
                "被处罚部门如有异议，可在生产运营部签准前向总经理申诉（限一次）。",
                "各节点期限：",  # the monthly cycle's pending deadlines: not the met summary
                "- 车间处罚意见：2026-12-18 16:00",
                "- 生产运营部签准：2026-12-20 16:00",
            ]
        ),
    ]
    assert "- 5.2.6 department head 张主任 (装配车间): 100.00 CNY" in en.body
    assert "- 5.2.6 general manager 王总: 100.00 CNY" in en.body
    assert "Total fines: 961.73 CNY" in en.body
    assert "may appeal to the general manager once" in en.body and "illustrative coefficients" in en.body
    assert "- production operations approval: 2026-12-20 16:00" in en.body
    assert "monthly summary" not in en.body


def test_a_draft_naming_no_department_tells_the_directorys_department_head() -> None:
    notices = for_assessed(penalty_assessed(assessment(lines=[LINES[3]])), POLICY)
    assert recipients(notices) == [("department_head", "role:department_head")]


def test_a_superseding_draft_says_what_it_replaces_and_lists_points_and_role_lines() -> None:
    unresolved = line(6, "5.2.3.7", "team", ("team", "班组"), "150", department=ASSEMBLY, unresolved=True)
    data = assessment(lines=[*LINES, POINTS_LINE, unresolved], supersedes=["a-0"], adjustment=True, period="2026-12")
    [notice] = for_assessed(penalty_assessed(data), POLICY)

    assert notice.context["supersedes"] == ["a-0"] and notice.context["unresolved"] == 1
    zh, en = render(notice, "zh").body, render(notice, "en").body
    assert "取代原考核：a-0" in zh and "Supersedes: a-0" in en
    assert "- 4.3.2.1 责任人 王五（装配车间）：-2 分" in zh
    assert "- 4.3.2.1 responsible person 王五 (装配车间): -2 points" in en
    assert "- 5.2.3.7 班组（装配车间）：150.00 元（责任人待人事确定）" in zh
    assert "150.00 CNY (HR to name the person)" in en
    assert "本次作为调整计入 2026-12" in zh and "an adjustment in 2026-12" in en


def test_a_draft_after_the_appeal_decision_tells_the_heads_the_decision() -> None:
    changed = line(1, "5.2.6", "responsible_person", ("p-wang", "王五"), "250", department=ASSEMBLY)
    changed = changed.model_copy(update={"original_amount": Decimal("500")})
    data = assessment(lines=[LINES[0], changed, *LINES[2:]], appeal=decided(), version=3)
    [notice] = for_assessed(penalty_assessed(data), POLICY)

    assert recipients([notice]) == [("department_head", f"department_head:{ASSEMBLY}")]
    assert notice.context["appeal"]["decided"] is True and notice.context["appeal"]["upheld"] is True
    assert notice.context["lines"][1]["original_amount"] == "500.00"
    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == f"考核申诉已裁决 {NUMBER}：申诉成立"
    assert en.subject == f"Penalty appeal decided {NUMBER}: upheld"
    assert "总经理裁决：申诉成立，考核金额已调整。\n裁决意见：减半处理" in zh.body
    assert "- 5.2.6 责任人 王五（装配车间）：250.00 元（原 500.00 元）" in zh.body
    assert "合计罚款：650.00 元" in zh.body
    assert "申诉（限一次）" not in zh.body and "裁决为最终结果，待生产运营部签准。" in zh.body
    assert "upheld the appeal" in en.body and "250.00 CNY (was 500.00 CNY)" in en.body
    assert "may appeal" not in en.body and "production operations approves next" in en.body


def test_a_dismissed_appeal_says_the_lines_stand() -> None:
    [notice] = for_assessed(penalty_assessed(assessment(appeal=decided(upheld=False))), POLICY)
    assert render(notice, "zh").subject == f"考核申诉已裁决 {NUMBER}：申诉驳回"
    assert "申诉驳回，维持原考核" in render(notice, "zh").body
    assert "dismissed the appeal" in render(notice, "en").body


@pytest.mark.parametrize(
    "data",
    [
        assessment(status="appealed", appeal=appeal()),  # not a draft
        assessment(appeal=appeal()),  # a draft whose appeal is not decided
        assessment(status="approved"),
    ],
)
def test_other_assessed_events_tell_nobody(data: public.PenaltyAssessment) -> None:
    penalty = penalty_assessed(data)
    assert not assessed_tells(penalty)
    assert for_assessed(penalty, POLICY) == []


# -- the appeal -----------------------------------------------------------------------------


def test_an_appeal_tells_the_general_manager_to_decide() -> None:
    """seed 002 篇二 §四.9: the penalised may appeal to the general manager."""
    [notice] = for_appealed(penalty_appealed(assessment(status="appealed", appeal=appeal())), POLICY)

    assert recipients([notice]) == [("general_manager", "role:general_manager")]
    assert notice.template == "penalty.appealed"
    assert [x["payee"] for x in notice.context["appeal"]["contested"]] == ["王五"]
    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == f"考核申诉待裁决 {NUMBER}"
    assert en.subject == f"Penalty appeal to decide {NUMBER}"
    assert "请总经理裁决" in zh.body and "申诉人：user:asm-head" in zh.body
    assert "申诉理由：已按工艺执行，非本车间责任" in zh.body
    contested = zh.body.split("申诉明细：")[1].split("全部明细：")[0]
    assert "王五" in contested and "张主任" not in contested
    assert "张主任" in zh.body.split("全部明细：")[1]
    assert "the general manager decides" in en.body and "Appealed by: user:asm-head" in en.body
    assert "王五" in en.body.split("Contested lines:")[1].split("All lines:")[0]


def test_an_appeal_of_the_whole_assessment_says_so() -> None:
    [notice] = for_appealed(penalty_appealed(assessment(status="appealed", appeal=appeal(lines=[]))), POLICY)
    assert notice.context["appeal"]["contested"] == []
    assert "申诉范围：全部明细。" in render(notice, "zh").body
    assert "The whole assessment is contested" in render(notice, "en").body


# -- approval and the closed month ----------------------------------------------------------


def test_an_approval_tells_hr_and_finance_the_lines_total_period_and_payees() -> None:
    """DOMAIN.md §5: penalty approved -> HR and finance."""
    data = assessment(status="approved", approved_by="user:ops", approved_at=NOW, lines=[*LINES, POINTS_LINE])
    notices = for_finalized(penalty_finalized(data), POLICY)

    assert recipients(notices) == [("hr", "role:hr"), ("finance", "role:finance")]
    notice = notices[0]
    assert notice.template == "penalty.finalized"
    assert (notice.context["payees"], notice.context["approved_by"]) == (4, "user:ops")  # 王五's fine and points: one
    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == f"考核已签准 {NUMBER}：900.00 元"
    assert en.subject == f"Penalty approved {NUMBER}: 900.00 CNY"
    assert "计入 2026-11 月度考核台账，请人事部、财务部执行" in zh.body
    assert "签准人：user:ops\n处罚对象：4 个" in zh.body
    assert "合计罚款：900.00 元" in zh.body
    assert "in the 2026-11 ledger" in en.body and "Payees: 4" in en.body
    assert "示意系数" not in zh.subject + zh.body and "illustrative" not in en.subject + en.body


def test_an_illustrative_approval_is_flagged_and_names_lines_for_hr() -> None:
    data = assessment(status="approved", lines=[*LINES, QC_LINE.model_copy(update={"unresolved": True})])
    [notice, _] = for_finalized(penalty_finalized(data), POLICY)

    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject.endswith("【示意系数】") and en.subject.endswith(" [illustrative]")
    assert "[NOTE] Some amounts use illustrative coefficients" in en.body
    assert "1 条明细待人事部确定责任人。" in zh.body and "1 line(s) for HR to name the person" in en.body


def test_a_closed_month_tells_hr_and_finance_the_totals_and_cost_of_poor_quality() -> None:
    month = period_closed(closed())
    notices = for_period_closed(month, POLICY)

    assert month.number == LEDGER  # the delivery log files it under the ledger
    assert recipients(notices) == [("hr", "role:hr"), ("finance", "role:finance")]
    notice = notices[0]
    assert notice.template == "penalty.period_closed"
    assert notice.context["departments"][0] == {
        "name": "品管部",
        "fines": "61.73",
        "performance_points": "0",
        "management_points": "0",
        "lines": 1,
    }
    zh, en = render(notice, "zh"), render(notice, "en")
    assert zh.subject == "月度考核台账关账 F01 2026-11"
    assert en.subject == "Penalty ledger closed F01 2026-11"
    assert zh.body.splitlines() == [
        "F01 2026-11 月度考核台账已关账（关账人：user:ops），之后的更正计入下月台账。",
        "赔偿金额：12345.60 元",
        "罚款合计：961.73 元",
        "供应商索赔：3000.00 元",
        "质量损失成本：16307.33 元",
        "绩效考核分：-2",
        "管理考核分：0",
        "1 条明细待人事部确定责任人。",
        "",
        "各部门汇总：",
        "- 品管部：罚款 61.73 元，绩效分 0，管理分 0，共 1 条",
        "- 装配车间：罚款 800.00 元，绩效分 -2，管理分 0，共 4 条",
    ]
    for expected in (
        "Compensation: 12345.60 CNY",
        "Cost of poor quality: 16307.33 CNY",
        "- 装配车间: fines 800.00 CNY, performance -2, management 0, 4 line(s)",
        "1 line(s) for HR to name the person",
    ):
        assert expected in en.body, expected


def test_the_payloads_become_notifications_terms() -> None:
    data = assessment(lines=[QC_LINE, *reversed(LINES)], illustrative=False, appeal=decided())
    penalty = penalty_assessed(data)
    assert [x.rule_code for x in penalty.lines] == ["5.2.6"] * 4 + ["4.3.3.2"]  # by position
    assert penalty.illustrative  # a line is, though the flag was not set
    assert penalty.departments == (ASSEMBLY, "品管部")
    assert penalty.appeal is not None and penalty.appeal.decided and penalty.appeal.upheld
    assert penalty.lines[0] == PenaltyItem(
        rule_code="5.2.6",
        kind="fine",
        role="department_head",
        payee_id="u-asm-head",
        payee="张主任",
        amount=Decimal(100),
        department=ASSEMBLY,
    )
    month = period_closed(closed())
    assert month.number == LEDGER and [name for name, _ in month.departments] == sorted([ASSEMBLY, "品管部"])


def test_only_fined_or_docked_payees_count() -> None:
    items = (
        PenaltyItem("5.2.6", "fine", "department_head", "u-1", "A", Decimal(100)),
        PenaltyItem("4.3.2.1", "points", "responsible_person", "u-1", "A", points=Decimal(-2)),
        PenaltyItem("charge_back", "charge_back", "supplier", "s-1", "S", Decimal(3000)),
        PenaltyItem("5.2.3.1", "exempt", "department_head", "u-2", "B"),
    )
    notice = PenaltyNotice(NUMBER, "F01", PenaltyStage.FINALIZED, "approved", "a", "2026-11", items, Decimal(100))
    assert notice.payees == 1
    [told, _] = for_finalized(notice, POLICY)
    zh = render(told, "zh").body
    assert "- charge_back 供应商 S：供应商索赔 3000.00 元" in zh
    assert "- 5.2.3.1 部门主管 B：豁免" in zh  # no amount to say
    assert "- charge_back supplier S: charge-back 3000.00 CNY" in render(told, "en").body


# -- every notice ---------------------------------------------------------------------------

EVERY_NOTICE: list[tuple[list[Notice], str]] = [
    (for_assessed(penalty_assessed(assessment(lines=[*LINES, QC_LINE])), POLICY), NUMBER),
    (for_assessed(penalty_assessed(assessment(appeal=decided())), POLICY), NUMBER),
    (for_appealed(penalty_appealed(assessment(status="appealed", appeal=appeal())), POLICY), NUMBER),
    (for_finalized(penalty_finalized(assessment(status="approved", illustrative=True)), POLICY), NUMBER),
    (for_period_closed(period_closed(closed()), POLICY), "F01 2026-11"),
]


@pytest.mark.parametrize(("notices", "named"), EVERY_NOTICE, ids=lambda x: x[0].template if isinstance(x, list) else x)
def test_every_penalty_notice_has_a_json_context_and_renders_in_each_locale(notices: list[Notice], named: str) -> None:
    assert notices and len({n.recipient for n in notices}) == len(notices)
    for notice in notices:
        assert json.loads(json.dumps(notice.context)) == notice.context  # plain values only
        zh, en, both = (render(notice, locale) for locale in ("zh", "en", "both"))
        assert named in zh.subject and named in en.subject
        assert "None" not in zh.body + en.body
        assert both == Rendered(f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}")
        assert len(notice.recipient) <= 200 and len(notice.recipient_role) <= 50


# -- routes are policy data -----------------------------------------------------------------


@pytest.mark.parametrize("code", ["F01", "F02"])
def test_every_factory_routes_the_penalty_triggers(code: str) -> None:
    policy = POLICIES.for_factory(code)
    assert policy.recipients("penalty.assessed") == [("department_head", "role:department_head")]
    assert policy.recipients("penalty.appealed") == [("general_manager", "role:general_manager")]
    for trigger in ("penalty.finalized", "penalty.period_closed"):
        assert policy.recipients(trigger) == [("hr", "role:hr"), ("finance", "role:finance")], trigger


def test_an_event_may_name_several_recipients_of_a_role() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {"t": ["department_head", "hr"]},
            "directory": {"department_head": ["u-x"], "hr": ["u-hr"], "quality_engineer": ["u-qe"]},
        }
    )
    named = {"department_head": ("department_head:A", "department_head:B", "department_head:A")}
    assert policy.recipients("t", named=named) == [
        ("department_head", "department_head:A"),
        ("department_head", "department_head:B"),
        ("hr", "u-hr"),
    ]
    assert policy.recipients("t", named={"department_head": ()})[0] == ("department_head", "u-x")  # none named
    assert policy.recipients("t", named={"department_head": "department:A"})[0] == ("department_head", "department:A")
