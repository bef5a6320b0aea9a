"""The penalty pages' form conversions and action permissions (console/domain/penalty_forms.py)."""

from __future__ import annotations

import pytest

from console.domain import penalty_forms as forms
from console.domain.complaint_forms import GENERAL

F01_APPROVERS = {"approve": "production_operations", "decide_appeal": "general_manager"}


@pytest.mark.parametrize(
    ("roles", "approvers", "expected"),
    [
        (("department_head",), None, ["appeal"]),
        (("production_operations",), F01_APPROVERS, ["approve"]),
        (("general_manager",), F01_APPROVERS, []),  # the matrix admits the GM, F01's policy names operations
        (("general_manager",), None, ["approve"]),  # policy unknown: the matrix decides
        (("quality_manager",), F01_APPROVERS, ["appeal"]),
        (("admin",), F01_APPROVERS, ["appeal", "approve"]),
        (("hr", "finance"), None, []),
    ],
)
def test_the_forms_shown_are_the_allowed_actions_the_roles_may_take(
    roles: tuple[str, ...], approvers: dict[str, str] | None, expected: list[str]
) -> None:
    assert forms.permitted_actions(["appeal", "approve"], roles, approvers) == expected


def test_only_the_policys_role_decides_an_appeal() -> None:
    assert forms.permitted_actions(["decide_appeal"], ["general_manager"], F01_APPROVERS) == ["decide_appeal"]
    assert forms.permitted_actions(["decide_appeal"], ["production_operations"], F01_APPROVERS) == []
    assert forms.permitted_actions(["decide_appeal"], ["department_head"], None) == []


def test_who_may_close_a_month() -> None:
    assert forms.may_close(["hr"]) and forms.may_close(["production_operations"])
    assert not forms.may_close(["finance", "quality_manager"])


def test_an_appeal_names_its_lines_and_needs_a_reason() -> None:
    converted = forms.appeal_body({"reason": " 非本部门责任 ", "expected_version": "3"}, ["2", "0", "2", "x"], "zh")
    assert converted.ok
    assert converted.body == {"lines": [0, 2], "reason": "非本部门责任", "expected_version": 3}
    assert forms.appeal_body({"reason": ""}, [], "en").errors == {"reason": "give a reason"}
    assert forms.appeal_body({"reason": "x", "expected_version": "v3"}, [], "en").errors == {
        GENERAL: "invalid version: reload the page"
    }


def test_a_decision_upheld_carries_the_decided_amounts() -> None:
    values = {"upheld": "yes", "amount.1": "250", "amount.3": "", "reason": "部分成立", "expected_version": "4"}
    converted = forms.decision_body(values, "zh")
    assert converted.ok
    assert converted.body == {"upheld": True, "amounts": {"1": "250.00"}, "reason": "部分成立", "expected_version": 4}


def test_a_dismissed_decision_sends_no_amounts_and_bad_input_is_named() -> None:
    dismissed = forms.decision_body({"upheld": "no", "amount.0": "10", "reason": "驳回"}, "zh")
    assert dismissed.body == {"upheld": False, "reason": "驳回"}
    bad = forms.decision_body({"amount.0": "-5", "amount.1": "1.234", "reason": ""}, "en")
    assert set(bad.errors) == {"upheld", "amount.0", "amount.1", "reason"}


def test_approval_and_closing() -> None:
    assert forms.approval_body({"reason": "签准", "expected_version": "2"}, "zh").body == {
        "reason": "签准",
        "expected_version": 2,
    }
    assert forms.approval_body({}, "zh").body == {"reason": ""}
    assert forms.close_body({"reason": "11月关账"}, "zh").body == {"reason": "11月关账"}
    assert forms.close_body({"reason": " "}, "zh").errors == {"reason": "请填写原因"}


def test_penalty_errors_are_placed_on_the_action_forms() -> None:
    placed = forms.penalty_errors({"amounts.2": "too many digits", "reason": "too short", "lines.0": "bad"})
    assert placed == {"amount.2": "too many digits", "reason": "too short", GENERAL: "lines.0: bad"}


def test_ledger_names_and_picker() -> None:
    assert forms.ledger_name("2026-11") == ("2026-11", None)
    assert forms.ledger_name("2026-11.csv") == ("2026-11", "csv")
    assert forms.ledger_name("2026-11.xlsx") == ("2026-11", "xlsx")
    assert forms.ledger_name("2026-11.pdf") is None and forms.ledger_name("2026-13") is None
    assert forms.ledger_target(" f01 ", "2026-11") == ("F01", "2026-11")
    assert forms.ledger_target("", "2026-11") is None


def test_rule_codes_in_line_order_each_once() -> None:
    lines = [{"rule_code": "5.2.6"}, {"rule_code": "4.3.3.2"}, {"rule_code": "5.2.6"}]
    assert forms.rule_codes({"lines": lines}) == ["5.2.6", "4.3.3.2"]
