"""My work: which cases and assessments wait for which role (DOMAIN.md §3, §4), deadlines' countdowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.domain.countdown import countdown
from console.domain.labels import label
from console.service.work import case_states, escalation_levels, penalty_states

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_each_role_sees_the_cases_whose_next_step_is_its_own() -> None:
    # the department head objects within the dispute window (seed 000 §4.3.3.2.3),
    # production operations rules (§4.3.3.2.4), customer service replies and follows up.
    assert case_states(("department_head",)) == ["responsibility_determined", "actions_open"]
    assert case_states(("production_operations",)) == ["disputed"]
    assert case_states(("customer_service",)) == ["verified", "replied"]
    assert case_states(("quality_manager", "department_head")) == ["open"]
    assert case_states(("hr",)) == []


def test_approvers_see_draft_assessments_and_the_general_manager_appeals() -> None:
    assert penalty_states(("general_manager",)) == ["draft", "appealed"]
    assert penalty_states(("quality_engineer",)) == []


def test_the_highest_fired_escalation_level_marks_a_deadline() -> None:
    """§3: reminders before, escalation after every deadline."""
    found = {
        "items": [
            {"number": "F01-2611-0001", "milestone": "first_response", "level": 2},
            {"number": "F01-2611-0002", "milestone": "close", "level": None},
        ]
    }
    assert escalation_levels(found) == {("F01-2611-0001", "first_response"): 2}
    assert escalation_levels(None) == {}
    assert label("level", 2, "zh") == "二级升级(总监)"


def test_countdowns_read_as_time_left_due_soon_overdue_or_met() -> None:
    assert countdown("pending", NOW + timedelta(days=3, hours=2), None, NOW, "zh").text == "剩余 3天 2小时"
    soon = countdown("pending", NOW + timedelta(hours=5, minutes=30), None, NOW, "en")
    assert (soon.state, soon.text, soon.css) == ("due_soon", "5 h 30 min left", "warn")
    late = countdown("pending", NOW - timedelta(hours=26), None, NOW, "zh")
    assert (late.state, late.text, late.css) == ("overdue", "已超期 1天 2小时", "bad")
    assert countdown("met", NOW, NOW + timedelta(minutes=1), NOW, "en").text == "met (late)"
    assert countdown("met", NOW, NOW - timedelta(minutes=1), NOW, "zh").text == "已完成(按时)"


def test_a_code_without_a_label_shows_as_itself_and_corrective_actions_by_their_id() -> None:
    assert label("milestone", "action:A3", "en") == "Corrective action A3"
    assert label("state", "something_new", "zh") == "something_new"
    assert label("severity", None, "zh") == "—"
