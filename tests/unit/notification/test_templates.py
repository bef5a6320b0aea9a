"""The notice templates (templates/<locale>/<template>.txt.j2) and the Jinja renderer: every
template in Chinese and English, rendered from a realistic context; the `both` composition;
the deadline reminders and escalations at each level; the daily digest."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError

from cqm_shared.policy import PolicyBook
from notification.adapters.templates import TEMPLATES as TEMPLATE_DIR
from notification.adapters.templates import JinjaRenderer
from notification.domain.messages import (
    MILESTONE_NAMES,
    NAMES,
    TEMPLATES,
    for_appealed,
    for_assessed,
    for_disputed,
    for_finalized,
    for_opened,
    for_period_closed,
    for_progress,
    for_registered,
    for_responsibility,
    for_ruled,
    for_triaged,
    name,
)
from notification.domain.model import (
    AppealState,
    CaseOpened,
    CaseProgress,
    CaseTriaged,
    ComplaintSummary,
    Deadline,
    DepartmentTotals,
    DisputeFiled,
    DisputeRuling,
    Notice,
    PenaltyItem,
    PenaltyNotice,
    PenaltyStage,
    PeriodClosed,
    ResponsibilityAssigned,
    Share,
    Step,
)
from notification.domain.policy import NotificationPolicy
from notification.domain.rendering import Rendered
from tests.conftest import POLICY_DIR

POLICY = PolicyBook(POLICY_DIR, "notification", NotificationPolicy).for_factory("F01")
RENDERER = JinjaRenderer()
NUMBER = "F01-2611-0003"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

# Realistic contexts, built by the domain from ASCII data: the English texts must come out in
# ASCII, the Chinese ones in Chinese.
DEADLINES = (
    Deadline("first_response", NOW, state="met"),
    Deadline("customer_reply", NOW + timedelta(hours=24)),
    Deadline("action:A1", NOW + timedelta(hours=30)),
)
LINES = (
    PenaltyItem("5.2.6", "fine", "department_head", "u-1", "Zhang", Decimal(100), department="Assembly"),
    PenaltyItem(
        "5.2.6",
        "fine",
        "responsible_person",
        "p-1",
        "Wang",
        Decimal(250),
        department="Assembly",
        original_amount=Decimal(500),
    ),
    PenaltyItem("4.3.2.1", "points", "responsible_person", "p-1", "Wang", points=Decimal(-2), department="Assembly"),
    PenaltyItem("5.2.3.7", "fine", "team", "team", "team", Decimal(150), department="Assembly", unresolved=True),
    PenaltyItem("charge_back", "charge_back", "supplier", "s-1", "Hongda", Decimal(3000)),
)


def penalty(stage: PenaltyStage, status: str, appeal: AppealState | None = None) -> PenaltyNotice:
    return PenaltyNotice(
        NUMBER,
        "F01",
        stage,
        status,
        "a-1",
        "2026-11",
        LINES,
        Decimal(500),
        charge_backs=Decimal(3000),
        illustrative=True,
        adjustment=True,
        supersedes=("a-0",),
        appeal=appeal,
        approved_by="user:ops",
        deadlines=(Deadline("production_approval", NOW + timedelta(days=29)),),
    )


def context(notices: list[Notice], template: str) -> dict[str, Any]:
    [found, *_] = [n for n in notices if n.template == template]
    return dict(found.context)


def realistic() -> dict[str, dict[str, Any]]:
    registered = for_registered(ComplaintSummary(NUMBER, "F01", "ACME Build", "PC-100", "through-crack", True), POLICY)
    triaged = CaseTriaged(
        NUMBER,
        "F01",
        "urgent",
        "quality",
        special="process_abnormality",
        responsible_department="Assembly",
        dispatch=("production_vp", "process_group"),
        deadlines=DEADLINES,
    )
    shares = (Share("Wang", Decimal(70), "person", "QC", "shipping_qc"), Share("Hongda", Decimal(30), "supplier"))
    assigned = ResponsibilityAssigned(
        NUMBER, "F01", shares, 2, 1, "management_general", Decimal("12345.6"), "serious", True, NOW
    )
    decided = AppealState("user:head", "done as the process says", (1,), True, True, "halved")
    return {
        "complaint.registered": context(registered, "complaint.registered"),
        "complaint.batch_return": context(registered, "complaint.batch_return"),
        "investigation.opened": context(
            for_opened(CaseOpened(NUMBER, "F01", DEADLINES), POLICY), "investigation.opened"
        ),
        "investigation.triaged": context(for_triaged(triaged, POLICY), "investigation.triaged"),
        "investigation.ended_at_triage": context(
            for_triaged(CaseTriaged(NUMBER, "F01", "minor", "price", ends_investigation=True), POLICY),
            "investigation.ended_at_triage",
        ),
        "investigation.responsibility_determined": context(
            for_responsibility(assigned, POLICY), "investigation.responsibility_determined"
        ),
        "investigation.charge_back": context(for_responsibility(assigned, POLICY), "investigation.charge_back"),
        "investigation.responsibility_disputed": context(
            for_disputed(DisputeFiled(NUMBER, "F01", "objection", "Assembly", 1, "logged"), POLICY),
            "investigation.responsibility_disputed",
        ),
        "investigation.dispute_ruled": context(
            for_ruled(DisputeRuling(NUMBER, "F01", "objection", True, 3, department="Assembly", reason="r"), POLICY),
            "investigation.dispute_ruled",
        ),
        "investigation.customer_replied": context(
            for_progress(CaseProgress(NUMBER, "F01", Step.FINAL_REPLY, deadlines=DEADLINES), POLICY),
            "investigation.customer_replied",
        ),
        "investigation.closed": context(
            for_progress(CaseProgress(NUMBER, "F01", Step.CLOSED, outcome="resolved", reason="accepted"), POLICY),
            "investigation.closed",
        ),
        "investigation.reopened": context(
            for_progress(
                CaseProgress(NUMBER, "F01", Step.REOPENED, 2, reason="not accepted", deadlines=DEADLINES), POLICY
            ),
            "investigation.reopened",
        ),
        "penalty.assessed": context(for_assessed(penalty(PenaltyStage.ASSESSED, "draft"), POLICY), "penalty.assessed"),
        "penalty.appealed": context(
            for_appealed(penalty(PenaltyStage.APPEALED, "appealed", AppealState("user:head", "unfair", (1,))), POLICY),
            "penalty.appealed",
        ),
        "penalty.finalized": context(
            for_finalized(penalty(PenaltyStage.FINALIZED, "approved", decided), POLICY), "penalty.finalized"
        ),
        "penalty.period_closed": context(
            for_period_closed(
                PeriodClosed(
                    "F01",
                    "2026-11",
                    "user:ops",
                    Decimal("12345.6"),
                    Decimal("961.73"),
                    Decimal(3000),
                    Decimal("16307.33"),
                    Decimal(-2),
                    Decimal(0),
                    1,
                    (("Assembly", DepartmentTotals(Decimal(800), Decimal(-2), Decimal(0), 4)),),
                ),
                POLICY,
            ),
            "penalty.period_closed",
        ),
        "sla.warning": sla(level=0, kind="reminder", overdue=None, left=4 * 3600),
        "sla.breached": sla(level=2, kind="escalation", overdue=26 * 3600, left=None),
        "digest": {
            "date": "2026-11-21",
            "count": 2,
            "items": [
                {"subject": "New complaint F01-2611-0003", "body": "Customer ACME\nPlease confirm.", "at": "08:02"},
                {"subject": "Complaint closed F01-2611-0004", "body": "Outcome: resolved", "at": "09:15"},
            ],
        },
    }


def sla(**extra: Any) -> dict[str, Any]:
    """What the lead's timers send: the due time already in factory local time."""
    return {
        "number": NUMBER,
        "factory": "F01",
        "milestone": "customer_reply",
        "round": 1,
        "due_at": "2026-11-22 16:00",
        "level": 0,
        "kind": "breach",
        "department": "Assembly",
        "source": "seed 001 5.6.2",
        "overdue": None,
        "left": None,
        **extra,
    }


CONTEXTS = realistic()


# -- every template ----------------------------------------------------------------------


def test_every_template_exists_in_both_locales() -> None:
    assert RENDERER.templates() == set(TEMPLATES) == set(CONTEXTS)
    for template in TEMPLATES:
        for locale in ("zh", "en"):
            assert (TEMPLATE_DIR / locale / f"{template}.txt.j2").is_file(), (template, locale)
    # and nothing more in one locale than in the other
    assert {p.name for p in (TEMPLATE_DIR / "zh").iterdir()} == {p.name for p in (TEMPLATE_DIR / "en").iterdir()}


def test_the_contexts_are_plain_json() -> None:
    for template, values in CONTEXTS.items():
        assert json.loads(json.dumps(values)) == values, template


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_in_chinese(template: str) -> None:
    text = RENDERER.render(template, "zh", CONTEXTS[template])
    assert text.subject and "\n" not in text.subject and CJK.search(text.subject), text.subject
    assert text.body and CJK.search(text.body)
    assert not re.search(r"None|\{\{|\{%|\n\n\n|[ \t]\n", text.subject + "\n" + text.body), text.body
    assert text.body == text.body.strip()


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_in_english(template: str) -> None:
    text = RENDERER.render(template, "en", CONTEXTS[template])
    assert text.subject and "\n" not in text.subject
    assert not CJK.search(text.subject + text.body), (text.subject, text.body)  # no Chinese left in English
    assert len(re.findall(r"[A-Za-z]{3,}", text.body)) >= 3
    assert not re.search(r"None|\{\{|\{%|\n\n\n|[ \t]\n", text.subject + "\n" + text.body), text.body
    assert text.body == text.body.strip()


@pytest.mark.parametrize("template", TEMPLATES)
def test_both_is_chinese_then_english(template: str) -> None:
    zh = RENDERER.render(template, "zh", CONTEXTS[template])
    en = RENDERER.render(template, "en", CONTEXTS[template])
    assert RENDERER.render(template, "both", CONTEXTS[template]) == Rendered(
        f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}"
    )


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_missing_context_key_fails_loudly(template: str, locale: str) -> None:
    values = dict(CONTEXTS[template])
    key = "date" if template == "digest" else "factory" if template == "penalty.period_closed" else "number"
    del values[key]
    with pytest.raises(UndefinedError, match=key):
        RENDERER.render(template, locale, values)  # type: ignore[arg-type]


@pytest.mark.parametrize("template", ["complaint.unknown", "zh/complaint.registered", "../en/digest", "_macros", ""])
def test_an_unknown_template_is_a_lookup_error_naming_it(template: str) -> None:
    with pytest.raises(LookupError, match=re.escape(repr(template))):
        RENDERER.render(template, "zh", {})
    with pytest.raises(LookupError, match=re.escape(repr(template))):
        RENDERER.render(template, "both", {})


def test_an_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="fr"):
        RENDERER.render("digest", "fr", CONTEXTS["digest"])  # type: ignore[arg-type]


def test_every_template_compiles() -> None:
    JinjaRenderer().load()


# -- the deadline timers (DOMAIN.md §3 Deadlines) -------------------------------------------


def test_a_reminder_says_when_the_deadline_is_due_and_how_long_is_left() -> None:
    values = sla(kind="reminder", left=4 * 3600 + 30 * 60)
    zh, en = RENDERER.render("sla.warning", "zh", values), RENDERER.render("sla.warning", "en", values)
    assert zh.subject == f"【到期提醒】{NUMBER} 客户回复将于 2026-11-22 16:00 到期"
    assert zh.body.splitlines() == [
        f"客诉 {NUMBER}（F01）的「客户回复」将于 2026-11-22 16:00 到期，剩余 4 小时 30 分钟，请按期完成。",
        "责任部门：Assembly",
        "依据：seed 001 5.6.2",
        "逾期未完成将逐级升级，并按制度考核。",
    ]
    assert en.subject == f"[Reminder] {NUMBER} customer reply due 2026-11-22 16:00"
    assert f"The customer reply of complaint {NUMBER} (F01) is due 2026-11-22 16:00, 4 h 30 min left" in en.body


def test_a_reminder_of_a_later_round_and_a_corrective_action_names_them() -> None:
    values = sla(kind="reminder", milestone="action:A2", round=2, department=None, source="", left=None)
    zh, en = RENDERER.render("sla.warning", "zh", values), RENDERER.render("sla.warning", "en", values)
    assert zh.subject == f"【到期提醒】{NUMBER} 纠正措施 A2（第 2 轮）将于 2026-11-22 16:00 到期"
    assert "剩余" not in zh.body and "责任部门" not in zh.body and "依据" not in zh.body
    assert en.subject == f"[Reminder] {NUMBER} corrective action A2 (round 2) due 2026-11-22 16:00"


@pytest.mark.parametrize(
    ("level", "zh_subject", "zh_level", "zh_ask", "en_subject", "en_level"),
    [
        (0, "【逾期】", None, "请立即处理，继续逾期将逐级升级。", "[Overdue]", None),
        (
            1,
            "【逾期升级至第1级】",
            "逾期升级至第1级（部门主管）。",
            "请部门主管督促责任人立即处理。",
            "[Escalated to level 1]",
            "Escalated to level 1 (department head).",
        ),
        (
            2,
            "【逾期升级至第2级】",
            "逾期升级至第2级（分管总监）。",
            "请分管总监督办。",
            "[Escalated to level 2]",
            "Escalated to level 2 (director).",
        ),
        (
            3,
            "【逾期升级至第3级】",
            "逾期升级至第3级（总经理）。",
            "请总经理督办。",
            "[Escalated to level 3]",
            "Escalated to level 3 (general manager).",
        ),
        (
            5,
            "【逾期升级至第5级】",
            "逾期升级至第5级（5）。",
            "请上级领导督办。",
            "[Escalated to level 5]",
            "Escalated to level 5 (5).",
        ),
    ],
)
def test_an_overdue_deadline_says_its_escalation_level(
    level: int, zh_subject: str, zh_level: str | None, zh_ask: str, en_subject: str, en_level: str | None
) -> None:
    values = sla(level=level, kind="escalation" if level else "breach", overdue=26 * 3600 + 5 * 60)
    zh, en = RENDERER.render("sla.breached", "zh", values), RENDERER.render("sla.breached", "en", values)

    assert zh.subject == f"{zh_subject}{NUMBER} 客户回复已逾期 1 天 2 小时 5 分钟"
    lines = zh.body.splitlines()
    assert (
        lines[0]
        == f"客诉 {NUMBER}（F01）的「客户回复」已于 2026-11-22 16:00 到期，已逾期 1 天 2 小时 5 分钟，至今未完成。"
    )
    assert lines[-1] == zh_ask
    assert (zh_level in lines) if zh_level else not any("逾期升级" in x for x in lines)

    assert en.subject == f"{en_subject} {NUMBER} customer reply overdue by 1 d 2 h 5 min"
    assert "was due 2026-11-22 16:00 and is 1 d 2 h 5 min overdue" in en.body
    assert (en_level in en.body) if en_level else "Escalated" not in en.body


def test_overdue_seconds_are_worded_in_each_locale() -> None:
    values = sla(level=1, kind="escalation", overdue=4 * 3600)
    assert RENDERER.render("sla.breached", "zh", values).subject.endswith("已逾期 4 小时")
    assert RENDERER.render("sla.breached", "en", values).subject.endswith("overdue by 4 h")
    assert "overdue by" not in RENDERER.render("sla.breached", "en", sla(overdue=None)).subject


# -- the digest -----------------------------------------------------------------------------


def test_the_digest_lists_the_days_notices_in_order() -> None:
    zh = RENDERER.render("digest", "zh", CONTEXTS["digest"])
    en = RENDERER.render("digest", "en", CONTEXTS["digest"])
    assert zh.subject == "客诉管理每日汇总 2026-11-21（2 条）"
    assert zh.body == "\n".join(
        [
            "2026-11-21 共有 2 条通知：",
            "",
            "1. New complaint F01-2611-0003（08:02）",
            "Customer ACME",
            "Please confirm.",
            "",
            "2. Complaint closed F01-2611-0004（09:15）",
            "Outcome: resolved",
        ]
    )
    assert en.subject == "Complaint notices of 2026-11-21 (2)"
    assert en.body.index("1. New complaint F01-2611-0003 (08:02)") < en.body.index("2. Complaint closed")


# -- the renderer ---------------------------------------------------------------------------


def copy_templates(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATE_DIR, tmp_path / "templates")
    return tmp_path / "templates"


def test_templates_are_compiled_once(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path)
    renderer = JinjaRenderer(directory)
    before = renderer.render("investigation.closed", "en", CONTEXTS["investigation.closed"])
    path = directory / "en" / "investigation.closed.txt.j2"
    path.write_text(path.read_text().replace("Complaint closed", "Case closed"))

    assert renderer.render("investigation.closed", "en", CONTEXTS["investigation.closed"]) == before
    fresh = JinjaRenderer(directory).render("investigation.closed", "en", CONTEXTS["investigation.closed"])
    assert fresh.subject == f"Case closed {NUMBER}"


def test_a_template_without_a_subject_or_body_block_is_refused(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path)
    (directory / "zh" / "x.txt.j2").write_text("{% block body %}正文{% endblock %}")
    (directory / "en" / "x.txt.j2").write_text("{% block subject %}s{% endblock %}{% block body %}b{% endblock %}")
    renderer = JinjaRenderer(directory)
    assert "x" in renderer.templates()
    assert renderer.render("x", "en", {}) == Rendered("s", "b")
    with pytest.raises(LookupError, match="'x' in zh has no subject block"):
        renderer.render("x", "zh", {})


def test_a_template_in_one_locale_only_is_not_listed_and_not_found_in_the_other(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path)
    (directory / "zh" / "only.zh.txt.j2").write_text(
        "{% block subject %}主题{% endblock %}{% block body %}正文{% endblock %}"
    )
    renderer = JinjaRenderer(directory)
    assert "only.zh" not in renderer.templates()
    assert renderer.render("only.zh", "zh", {}) == Rendered("主题", "正文")
    with pytest.raises(LookupError, match=re.escape("'only.zh' in en")):
        renderer.render("only.zh", "both", {})


@pytest.mark.parametrize("file", ["en/digest.txt.j2", "zh/_macros.txt.j2"])
def test_a_broken_template_fails_at_load(tmp_path: Path, file: str) -> None:
    directory = copy_templates(tmp_path)
    (directory / file).write_text("{% block subject %}{{ date {% endblock %}")
    with pytest.raises(TemplateSyntaxError):
        JinjaRenderer(directory).load()


def test_the_subject_is_one_line_and_blank_lines_of_the_body_collapse(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path)
    text = "{% block subject %}\n  a\n\n  b  \n{% endblock %}{% block body %}\n\n\nx  \n\n\n\ny\n\n{% endblock %}"
    for locale in ("zh", "en"):
        (directory / locale / "t.txt.j2").write_text(text)
    assert JinjaRenderer(directory).render("t", "zh", {}) == Rendered("a b", "x\n\ny")


def test_the_filters_name_codes_money_and_durations_per_locale(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path)
    body = (
        "{{ s | severity_name }}|{{ 'catastrophic' | severity_name }}|{{ a | money }}|{{ a | money('USD') }}"
        "|{{ 59 | duration }}|{{ 90061 | duration }}|{{ 'soon' | duration }}|{{ locale }}"
    )
    for locale in ("zh", "en"):
        (directory / locale / "t.txt.j2").write_text(
            f"{{% block subject %}}s{{% endblock %}}{{% block body %}}{body}{{% endblock %}}"
        )
    renderer = JinjaRenderer(directory)
    values = {"s": "critical", "a": "12.50"}
    assert (
        renderer.render("t", "zh", values).body
        == "特重大|catastrophic|12.50 元|12.50 USD|1 分钟|1 天 1 小时 1 分钟|soon|zh"
    )
    assert (
        renderer.render("t", "en", values).body
        == "critical|catastrophic|12.50 CNY|12.50 USD|1 min|1 d 1 h 1 min|soon|en"
    )


# -- the names --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_every_name_is_in_chinese_and_english(kind: str) -> None:
    zh, en = NAMES[kind]["zh"], NAMES[kind]["en"]
    assert zh.keys() == en.keys(), kind
    for code in zh:
        assert CJK.search(zh[code]) and not CJK.search(en[code]), (kind, code)
        assert name(kind, code, "zh") == zh[code] and name(kind, code, "en") == en[code]


def test_every_milestone_with_an_owner_has_a_name() -> None:
    for milestone in POLICY.timers.owners:
        if milestone != "action":  # action:<id>
            assert milestone in MILESTONE_NAMES["zh"] and milestone in MILESTONE_NAMES["en"], milestone
    assert name("milestone", "action:A1", "zh") == "纠正措施 A1"
    assert name("level", 2, "en") == "director"
