"""The 8D case page's step forms → investigation's step bodies (DOMAIN.md §3), and the service's
field errors back beside the form's fields."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console.domain.case_forms import (
    FormInvalid,
    FormState,
    defaults,
    facts_body,
    fields_of,
    form_errors,
    may_read_audit,
    offers,
    step_body,
    strip,
)

ZONE = ZoneInfo("Asia/Shanghai")


def body(step: str, fields: dict[str, list[str]], language: str = "zh") -> dict[str, Any]:
    return step_body(step, fields, zone=ZONE, language="en" if language == "en" else "zh").body


def errors(step: str, fields: dict[str, list[str]], language: str = "zh") -> dict[str, str]:
    with pytest.raises(FormInvalid) as refused:
        step_body(step, fields, zone=ZONE, language="en" if language == "en" else "zh")
    return refused.value.errors


def test_triage_reads_yes_no_choices_flags_and_the_factory_time() -> None:
    got = body(
        "triage",
        {
            "valid": ["yes"],
            "category": ["quality"],
            "severity": ["major"],
            "our_fault": ["yes"],
            "responsible_department": [" 一车间 "],
            "dispatch": ["workshop_head, line_qe、process_group"],
            "arrive_by": ["2026-11-03T14:30"],
            "difficult": ["on"],
            "special": [""],
            "note": [""],
            "reason": [""],
        },
    )
    assert got == {
        "valid": True,
        "category": "quality",
        "severity": "major",
        "our_fault": True,
        "difficult": True,
        "responsible_department": "一车间",
        "dispatch": ["workshop_head", "line_qe", "process_group"],
        "arrive_by": "2026-11-03T14:30:00+08:00",
    }
    assert body("triage", {"valid": ["no"], "category": ["price"], "severity": ["minor"], "our_fault": ["no"]}) == {
        "valid": False,
        "category": "price",
        "severity": "minor",
        "our_fault": False,
        "difficult": False,
    }


def test_triage_names_each_missing_or_unknown_field_in_the_users_language() -> None:
    assert errors("triage", {"valid": [""], "category": ["weather"], "our_fault": ["yes"]}) == {
        "valid": "必填",
        "category": "请选择有效的选项",
        "severity": "必填",
    }
    assert errors("triage", {"valid": ["yes"], "category": ["quality"], "our_fault": ["maybe"]}, "en") == {
        "severity": "required",
        "our_fault": "choose one of the options",
    }


def test_containment_takes_the_scope_rows_with_a_quantity_and_the_recall_decision() -> None:
    fields = {
        "scope-0-kind": ["shipped"],
        "scope-0-quantity": ["12"],
        "scope-1-kind": ["wip"],
        "scope-1-quantity": [""],
        "scope-2-kind": ["warehouse"],
        "scope-2-quantity": ["40"],
        "scope-2-note": ["B 区"],
        "dispositions": ["exchange", "sorting", "exchange"],
        "actions": ["库存隔离挑选"],
        "recall": ["yes"],
        "recall_decided_by": ["赵副总"],
        "production_stop": ["on"],
    }
    parsed = step_body("containment", fields, zone=ZONE)
    assert parsed.body == {
        "scope": [{"kind": "shipped", "quantity": 12}, {"kind": "warehouse", "quantity": 40, "note": "B 区"}],
        "dispositions": ["exchange", "sorting"],
        "actions": "库存隔离挑选",
        "production_stop": True,
        "recall": {"recall": True, "decided_by": "赵副总"},
    }
    assert parsed.rows == {"scope.0": "scope-0", "scope.1": "scope-2"}  # the service's index → the form's row
    assert form_errors("containment", {"scope.1.quantity": "too big"}, parsed.rows) == {"scope-2-quantity": "too big"}


def test_containment_needs_a_scope_a_disposition_and_whole_quantities() -> None:
    assert errors("containment", {"scope-0-kind": ["shipped"], "recall": ["no"]}) == {
        "scope": "至少填写一行",
        "dispositions": "至少选择一项",
        "recall_decided_by": "必填",
    }
    got = errors("containment", {"scope-0-kind": ["wip"], "scope-0-quantity": ["-3"], "dispositions": ["rework"]})
    assert got == {"scope-0-quantity": "请输入非负整数"}


def test_root_cause_reads_lines_why_chains_and_the_fishbone_per_category() -> None:
    got = body(
        "root_cause",
        {
            "occurrence_cause": ["脱模时吊点受力不均导致边角破损"],
            "escape_cause": ["出厂检验未检查边角"],
            "team": ["张工 QE\n\n李主任 一车间\n"],
            "why_chains": ["边角破损 > 脱模受力不均 → 吊点位置错误 -> 作业指导书未规定吊点\n   \n表面污染>养护不当"],
            "fishbone-method": ["作业指导书缺吊点\n"],
            "fishbone-man": ["新员工未培训"],
            "fishbone-machine": [""],
            "problem": [""],
            "prevention": ["其他产品线同样检查"],
        },
    )
    assert got == {
        "occurrence_cause": "脱模时吊点受力不均导致边角破损",
        "escape_cause": "出厂检验未检查边角",
        "team": ["张工 QE", "李主任 一车间"],
        "problem": "",
        "why_chains": [["边角破损", "脱模受力不均", "吊点位置错误", "作业指导书未规定吊点"], ["表面污染", "养护不当"]],
        "fishbone": [{"category": "man", "cause": "新员工未培训"}, {"category": "method", "cause": "作业指导书缺吊点"}],
        "prevention": "其他产品线同样检查",
    }
    assert errors("root_cause", {"occurrence_cause": [" "]}, "en") == {
        "occurrence_cause": "required",
        "escape_cause": "required",
    }


RESPONSIBILITY = {
    "parties-0-kind": ["person"],
    "parties-0-name": ["王五"],
    "parties-0-role": ["shipping_qc"],
    "parties-0-department": ["品管部"],
    "parties-0-share": ["70"],
    "parties-1-kind": ["person"],
    "parties-1-name": [""],
    "parties-1-role": [""],
    "parties-1-share": [""],
    "parties-2-kind": ["person"],
    "parties-2-name": ["赵六"],
    "parties-2-role": ["line_qc"],
    "parties-2-department": ["一车间"],
    "parties-2-share": ["30.00"],
    "cause_class": ["management_general"],
    "loss_amount": ["12,345.60"],
    "qc_facts-visible_at_once": ["on"],
    "qc_facts-crack": ["none"],
    "findings-0-code": ["5.2.3.2"],
    "findings-0-occurrences": ["1"],
    "findings-0-product_stage": ["series"],
    "findings-1-code": [""],
    "findings-1-product_stage": ["series"],
}


def test_responsibility_takes_parties_with_shares_qc_facts_and_rule_codes() -> None:
    parsed = step_body("responsibility", RESPONSIBILITY, zone=ZONE)
    assert parsed.body == {
        "parties": [
            {"kind": "person", "name": "王五", "share": "70", "department": "品管部", "role": "shipping_qc"},
            {"kind": "person", "name": "赵六", "share": "30", "department": "一车间", "role": "line_qc"},
        ],
        "cause_class": "management_general",
        "loss_amount": "12345.60",
        "customer_may_end": False,
        "reputation_severe": False,
        "qc_facts": {"measured": False, "visible_at_once": True, "qc_log_record": False, "crack": "none"},
        "findings": [{"code": "5.2.3.2", "occurrences": 1, "product_stage": "series"}],
    }
    assert parsed.rows == {"parties.0": "parties-0", "parties.1": "parties-2", "findings.0": "findings-0"}
    overridden = step_body("responsibility", {**RESPONSIBILITY, "override_reason": ["质检日志有记录"]}, zone=ZONE)
    assert overridden.body["override_reason"] == "质检日志有记录"


def test_responsibility_refuses_shares_that_are_not_percentages_but_leaves_the_sum_to_the_service() -> None:
    bad = {**RESPONSIBILITY, "parties-0-share": ["七十"], "parties-2-share": ["120"], "loss_amount": ["1.234"]}
    assert errors("responsibility", bad, "en") == {
        "parties-0-share": "a percentage above 0 and up to 100, two decimals at most",
        "parties-2-share": "a percentage above 0 and up to 100, two decimals at most",
        "loss_amount": "an amount, two decimals at most",
    }
    # 60 + 30: the service says the sum is wrong (one rule, one place); it reaches the form's table
    short = step_body("responsibility", {**RESPONSIBILITY, "parties-0-share": ["60"]}, zone=ZONE)
    assert sum(float(p["share"]) for p in short.body["parties"]) == 90
    assert errors("responsibility", {"cause_class": ["technical_major"]}) == {"parties": "至少填写一行"}


def test_the_services_refusals_land_beside_the_fields_they_concern() -> None:
    rows = {"parties.0": "parties-0", "parties.1": "parties-2"}
    override = "the parties differ from the split of 'defect visible at once' (...): give an override reason"
    assert form_errors("responsibility", {"parties": override}, rows) == {"override_reason": override}
    manual = "through-crack found outside the factory: the split is decided by discussion (...); give the reason"
    assert form_errors("responsibility", {"parties": manual}) == {"override_reason": manual}
    total = "shares must sum to exactly 100 %, got 90"
    assert form_errors("responsibility", {"parties": total}, rows) == {"parties": total}
    assert form_errors("responsibility", {"parties.1.share": "too many decimals"}, rows) == {
        "parties-2-share": "too many decimals"
    }
    assert form_errors("responsibility", {"qc_facts.crack": "bad", "(body)": "x"}) == {"qc_facts-crack": "bad"}
    assert form_errors("actions", {"actions.0.due_at": "in the past"}, {"actions.0": "actions-1"}) == {
        "actions-1-due": "in the past"
    }
    assert form_errors("verification", {"lots.checked_at": "lots.checked_at is in the future"}) == {
        "lots": "lots.checked_at is in the future"
    }
    assert form_errors("training", {"at": "at is in the future"}) == {"at": "at is in the future"}


def test_dispute_and_ruling_need_a_reason_and_a_ruling_changes_the_split_only_when_asked() -> None:
    assert body("dispute", {"kind": ["objection"], "department": ["一车间"], "reason": ["线检已记录"]}) == {
        "kind": "objection",
        "department": "一车间",
        "reason": "线检已记录",
    }
    assert errors("dispute", {"kind": ["complaint"], "department": [""], "reason": [""]}) == {
        "kind": "请选择有效的选项",
        "department": "必填",
        "reason": "必填",
    }
    parties = {k: v for k, v in RESPONSIBILITY.items() if k.startswith("parties-")}
    dismissed = body("ruling", {"upheld": ["no"], "reason": ["维持原判"], **parties})
    assert dismissed == {"upheld": False, "reason": "维持原判"}  # the prefilled split is not sent
    upheld = body(
        "ruling",
        {"upheld": ["yes"], "reason": ["按五五分"], "change_parties": ["on"], **parties, "parties-0-share": ["50"]},
    )
    assert [(p["name"], p["share"]) for p in upheld["parties"]] == [("王五", "50"), ("赵六", "30")]
    assert errors("ruling", {"upheld": ["yes"], "reason": ["x"], "change_parties": ["on"]}) == {
        "parties": "至少填写一行"
    }


def test_actions_are_due_at_the_end_of_the_chosen_day_in_the_factorys_time() -> None:
    parsed = step_body(
        "actions",
        {
            "actions-0-kind": ["temporary"],
            "actions-0-description": ["出货前全检边角"],
            "actions-0-owner": ["品管部"],
            "actions-0-due": ["2026-12-01"],
            "actions-1-kind": ["permanent"],
            "actions-2-kind": ["permanent"],
            "actions-2-description": ["修订作业指导书吊点"],
            "actions-2-owner": ["一车间"],
            "actions-2-due": ["2026-12-10"],
        },
        zone=ZONE,
    )
    assert parsed.body == {
        "actions": [
            {
                "kind": "temporary",
                "description": "出货前全检边角",
                "owner": "品管部",
                "due_at": "2026-12-01T23:59:00+08:00",
            },
            {
                "kind": "permanent",
                "description": "修订作业指导书吊点",
                "owner": "一车间",
                "due_at": "2026-12-10T23:59:00+08:00",
            },
        ]
    }
    assert parsed.rows == {"actions.0": "actions-0", "actions.1": "actions-2"}
    assert errors("actions", {"actions-0-kind": ["temporary"], "actions-0-description": ["全检"]}, "en") == {
        "actions-0-owner": "required",
        "actions-0-due": "required",
    }
    assert errors("actions", {"actions-0-kind": ["temporary"]}) == {"actions": "至少填写一行"}
    bad_day = {"actions-0-kind": ["temporary"], "actions-0-description": ["x"], "actions-0-owner": ["y"]}
    assert errors("actions", {**bad_day, "actions-0-due": ["12/01/2026"]}) == {"actions-0-due": "日期格式不正确"}


def test_verification_sends_the_action_and_its_lots_each_with_or_without_the_defect() -> None:
    got = body(
        "verification",
        {
            "action_id": ["A1"],
            "lots-0-lot": ["LA1-1"],
            "lots-1-lot": ["LA1-2"],
            "lots-1-defect": ["on"],
            "lots-1-checked_at": ["2026-11-20T08:00"],
            "lots-2-lot": [""],
        },
    )
    assert got == {
        "action_id": "A1",
        "lots": [
            {"lot": "LA1-1", "defect_found": False},
            {"lot": "LA1-2", "defect_found": True, "checked_at": "2026-11-20T08:00:00+08:00"},
        ],
    }
    assert errors("verification", {"action_id": ["A1"], "lots-0-defect": ["on"]}) == {"lots": "至少填写一行"}


def test_the_closing_steps_standardisation_training_reply_follow_up_close_reopen_onsite() -> None:
    assert body("standardisation", {"documents": ["WI-PC-007 脱模作业指导书 B版\n\nQC-12 出货检验规程\n"]}) == {
        "documents": ["WI-PC-007 脱模作业指导书 B版", "QC-12 出货检验规程"]
    }
    assert errors("standardisation", {"documents": [" \n "]}) == {"documents": "必填"}
    assert body("training", {"attendees": ["12"], "note": ["吊点培训"], "at": [""]}) == {
        "attendees": 12,
        "note": "吊点培训",
    }
    assert errors("training", {"attendees": ["twelve"]}) == {"attendees": "请输入非负整数"}
    assert body("reply", {"kind": ["final"], "content": ["已查明原因并完成整改"], "channel": ["email"]}) == {
        "kind": "final",
        "content": "已查明原因并完成整改",
        "channel": "email",
    }
    assert errors("reply", {"kind": ["final"], "content": [""]}) == {"content": "必填"}
    assert body("follow_up", {"satisfied": ["yes"], "accepted": ["no"], "note": ["要求再检"]}) == {
        "satisfied": True,
        "accepted": False,
        "note": "要求再检",
    }
    assert body("close", {"reason": ["客户接受"]}) == {"reason": "客户接受"}
    assert body("close", {}) == {}
    assert body("reopen", {"reason": ["客户不接受"]}) == {"reason": "客户不接受"}
    assert errors("reopen", {"reason": [""]}, "en") == {"reason": "required"}
    assert body("onsite", {"what": ["arrived"], "at": ["2026-11-02T09:15"]}) == {
        "what": "arrived",
        "at": "2026-11-02T09:15:00+08:00",
    }
    assert errors("onsite", {"what": ["arrived"], "at": ["yesterday"]}) == {"at": "时间格式不正确"}
    with pytest.raises(KeyError):
        step_body("amend", {}, zone=ZONE)


def test_a_submitted_form_keeps_text_values_and_the_split_proposal_is_asked_for_the_chosen_facts() -> None:
    assert fields_of([("a", "1"), ("a", "2"), ("file", object()), ("b", "")]) == {"a": ["1", "2"], "b": [""]}
    assert facts_body({"qc_facts-measured": ["on"], "qc_facts-crack": ["found_outside"]}) == {
        "measured": True,
        "visible_at_once": False,
        "qc_log_record": False,
        "crack": "found_outside",
    }
    assert facts_body({"qc_facts-crack": ["sideways"]})["crack"] == "none"


def test_only_the_allowed_steps_are_offered_and_only_to_the_roles_that_take_them() -> None:
    allowed = ["dispute", "actions", "reply", "onsite", "training", "amend", "withdraw"]
    qe = offers(allowed, ["quality_engineer"])
    assert [(o.step, o.may) for o in qe] == [
        ("dispute", False),
        ("actions", True),
        ("reply", True),
        ("onsite", True),
        ("training", True),
    ]
    assert qe[0].roles == ("department_head",)
    assert [o.step for o in offers(allowed, ["department_head"]) if o.may] == ["dispute"]
    assert [o.step for o in offers(["ruling"], ["production_operations"]) if o.may] == ["ruling"]
    assert [o.step for o in offers(allowed, ["customer_service"]) if o.may] == ["reply"]
    assert [o.step for o in offers(allowed, ["auditor"]) if o.may] == []
    assert may_read_audit(["quality_manager"]) and not may_read_audit(["quality_engineer"])


def test_the_step_strip_marks_done_current_and_ahead() -> None:
    def marks(state: str, history: tuple[str, ...] = ()) -> str:
        return "".join(s.status[0] for s in strip(state, history))

    assert marks("opened") == "caaaaaaa"
    assert marks("root_caused") == "dddcaaaa"
    assert marks("disputed") == "dddcaaaa"
    assert marks("verified") == "ddddddca"
    assert marks("closed") == "dddddddd"
    assert marks("withdrawn", ("open", "triage", "containment")) == "ddaaaaaa"


CASE: dict[str, Any] = {
    "number": "F01-2611-0001",
    "state": "verified",
    "records": {"triage": {"responsible_department": "一车间", "severity": "major"}, "onsite": {"arrived_at": "x"}},
    "parties": [{"kind": "person", "name": "王五", "role": "shipping_qc", "department": "品管部", "share": "70"}],
}


def test_forms_start_from_the_case_and_the_proposed_split() -> None:
    proposal = {
        "situation": "defect visible at once",
        "parties": [
            {"kind": "role", "name": "shipping_qc", "role": "shipping_qc", "share": "70"},
            {"kind": "role", "name": "line_qc", "role": "line_qc", "share": "30"},
        ],
    }
    start = defaults(
        "responsibility",
        CASE,
        proposal=proposal,
        facts={"visible_at_once": True, "crack": "none"},
        role_names={"shipping_qc": "出货检验", "line_qc": "线检"},
    )
    assert start["parties-0-name"] == ["出货检验"] and start["parties-0-role"] == ["shipping_qc"]
    assert start["parties-1-share"] == ["30"] and start["qc_facts-visible_at_once"] == ["on"]
    assert defaults("dispute", CASE) == {"kind": ["objection"], "department": ["一车间"]}
    assert defaults("ruling", CASE)["parties-0-name"] == ["王五"]
    assert defaults("reply", CASE)["kind"] == ["final"]
    assert defaults("onsite", CASE)["what"] == ["sheet_returned"]
    assert defaults("triage", CASE)["severity"] == ["major"]
    assert defaults("containment", CASE)["scope-2-kind"] == ["warehouse"]


def test_a_form_shows_its_filled_rows_and_one_blank_row_beyond_them() -> None:
    state = FormState({"parties-0-name": ["a"], "parties-3-share": ["10"], "parties-7-kind": ["person"]}, {"x": "bad"})
    assert state.rows("parties", 3) == range(5)
    assert FormState().rows("lots", 3) == range(3)
    assert state.get("parties-0-name") == "a" and state.get("nothing", "—") == "—"
    assert state.error("x") == "bad" and state.error("y") == ""
    assert FormState({"d": ["on"], "m": ["a", "b"]}).checked("d") and FormState({"m": ["a", "b"]}).all("m") == [
        "a",
        "b",
    ]
