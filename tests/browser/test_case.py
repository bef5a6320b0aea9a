"""The 8D case page in the browser: a complaint registered through intake's API is walked through
every 8D step to closure by the people whose roles take each step, in Chinese, then read in
English; refusals beside their fields, steps not allowed absent, the 8D PDF, another factory's
user not finding the case."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser import flows_case as flow
from tests.browser.conftest import Console
from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import COMPLAINT
from tests.helpers import auth
from tests.polling import poll_until


def register(stack: Stack) -> str:
    """A complaint registered by customer service (intake's API); investigation opens its case."""
    headers = auth("customer_service", "F01")
    with httpx.Client(timeout=30, headers=headers) as client:
        complaint = {**COMPLAINT, "external_ref": f"CRM-{uuid.uuid4().hex[:12]}"}  # not a repeat of another
        created = client.post(f"{stack.url('intake')}/api/v1/complaints", json=complaint)
        assert created.status_code == 201, created.text
        number: str = created.json()["number"]

        def opened() -> dict[str, Any] | None:
            answer = client.get(f"{stack.url('investigation')}/api/v1/investigations/{number}")
            return answer.json() if answer.status_code == 200 else None

        poll_until(opened, timeout=20, what=f"case {number} opened")
    return number


def test_a_complaint_walked_through_every_8d_step_to_closure_in_the_browser(
    people: dict[str, Console], console_stack: Stack
) -> None:
    number = register(console_stack)
    qe = flow.person(people, flow.QE)
    page = flow.open_case(qe, number)
    flow.expect_state(page, "已立案")
    expect(page.get_by_test_id("case-customer")).to_have_text("华东建工集团")
    expect(page.get_by_test_id("deadline-first_response")).to_contain_text("首次响应")
    expect(page.get_by_test_id("deadline-first_response")).to_contain_text("剩余")
    expect(page.locator("[data-testid=step-strip] [data-status=current]")).to_have_text("1. 确认/分类")

    flow.triage(people, number)
    flow.contain(people, number)
    flow.analyse(people, number)

    # mid-way: the responsibility form with the proposed split, in Chinese and in English
    page = flow.propose(people, number)
    page.evaluate("window.scrollTo(0, 0)")  # the form's anchor scrolled it: the full page from the top
    qe.shot("case-responsibility-zh")
    page.click("a[data-lang=en]")
    flow.expect_state(page, "Root cause found")
    expect(page.get_by_test_id("proposal-text")).to_contain_text("Shipping QC 70%")
    expect(page.get_by_test_id("deadlines").locator("h2")).to_have_text("Deadlines")
    expect(page.get_by_test_id("deadline-feedback_slip")).to_contain_text("Feedback slip")
    expect(page.get_by_test_id("submit-responsibility")).to_contain_text("Submit · Responsibility")
    page.evaluate("window.scrollTo(0, 0)")
    qe.shot("case-responsibility-en")
    page.click("a[data-lang=zh]")
    flow.expect_state(page, "已查明原因")

    flow.determine(people, number)  # with the two refusals shown beside their fields
    flow.object_to(people, number)
    flow.rule(people, number)
    flow.add_actions(people, number)
    flow.verify(people, number, "A1")
    flow.verify(people, number, "A2")
    flow.standardise(people, number)
    flow.train(people, number)
    flow.reply(people, number)
    flow.follow_up(people, number)
    page = flow.close(people, number)
    expect(page.get_by_test_id("no-steps").or_(page.get_by_test_id("form-reopen"))).to_be_visible()
    expect(page.get_by_test_id("history")).to_contain_text("异议裁决")
    qe.shot("case-closed-zh")


def test_the_8d_report_english_labels_and_another_factory(people: dict[str, Console], console_stack: Stack) -> None:
    number = register(console_stack)
    flow.triage(people, number)
    qe = flow.person(people, flow.QE)
    page = flow.open_case(qe, number)

    # the 8D report PDF, internal and customer versions, through the console
    for testid in ("report-internal", "report-customer"):
        href = page.get_by_test_id(testid).get_attribute("href")
        assert href is not None
        answer = page.request.get(qe.base_url + href)
        assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
        assert answer.body().startswith(b"%PDF")

    # a refusal of the form itself: containment without scope or disposition, in English
    page.click("a[data-lang=en]")
    flow.refused(page, "containment", {"actions": "isolate stock"})
    expect(page.get_by_test_id("error-scope")).to_have_text("fill in at least one row")
    expect(page.get_by_test_id("error-dispositions")).to_have_text("choose at least one")
    expect(page.get_by_test_id("form-containment").locator("[name=actions]")).to_have_value("isolate stock")
    flow.expect_state(page, "Triaged")
    expect(page.get_by_test_id("deadline-first_response")).to_contain_text("met (on time)")
    expect(page.get_by_test_id("form-root_cause")).to_have_count(0)  # not allowed before containment
    page.click("a[data-lang=zh]")

    # customer service may reply but not work the case; the auditor-like quality manager reads the trail
    cs = flow.person(people, flow.CS)
    page = flow.open_case(cs, number)
    expect(page.get_by_test_id("form-reply")).to_be_visible()
    expect(page.get_by_test_id("form-containment")).to_have_count(0)
    expect(page.get_by_test_id("waiting-containment")).to_contain_text("品质工程师")
    expect(page.get_by_test_id("audit")).to_have_count(0)
    manager = flow.person(people, ("qm", "quality_manager", "周经理"))
    expect(flow.open_case(manager, number).get_by_test_id("audit")).to_contain_text("确认/分类")

    # a quality engineer of factory F02 finds no such case
    other = flow.person(people, ("f02", "quality_engineer", "F02 张工"), factories="F02")
    visit = other.page.goto(f"{other.base_url}/cases/{number}")
    assert visit is not None and visit.status == 404
    expect(other.page.locator("section.error")).to_contain_text("没有找到")
