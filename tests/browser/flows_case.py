"""Reusable browser flows of the 8D case page (/cases/{number}): each step's form filled in and
submitted by the person whose role takes it (DOMAIN.md §3; investigation's permissions), with
what that person sees afterwards.

`people` is the browser tests' fixture: `people["qe"]` is one person with a browser context of
their own. `walk_to_closure(people, number)` takes a freshly opened case through every 8D step.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console

Value = str | bool | list[str]

QE = ("qe", "quality_engineer", "张工")
HEAD = ("head", "department_head", "李主任")
OPS = ("ops", "production_operations", "孙经理")
CS = ("cs", "customer_service", "客服小王")

_SIGNED_IN: weakref.WeakKeyDictionary[Console, tuple[str, str]] = weakref.WeakKeyDictionary()


def person(people: Mapping[str, Console], who: tuple[str, str, str], factories: str = "F01") -> Console:
    """The person in `people` (signed in on first use as the role of `who`)."""
    key, role, name = who
    console = people[key]
    if _SIGNED_IN.get(console) != (role, factories):
        console.sign_in(role, factories, name=name)
        _SIGNED_IN[console] = (role, factories)
    return console


def open_case(console: Console, number: str, query: str = "") -> Page:
    page = console.go(f"/cases/{number}{query}")
    expect(page.get_by_test_id("case-number")).to_have_text(number)
    return page


def fill(page: Page, form_id: str, values: Mapping[str, Value]) -> None:
    """Type into the form's fields by name: text, select (by value), checkbox (True/False), checkbox groups."""
    form = page.get_by_test_id(f"form-{form_id}")
    for name, value in values.items():
        field = form.locator(f"[name='{name}']")
        if isinstance(value, list):
            for box in field.all():
                box.set_checked(box.get_attribute("value") in value)
            continue
        kind = field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.getAttribute('type') || '')")
        if kind.startswith("select"):
            field.select_option(str(value))
        elif kind == "input:checkbox":
            field.set_checked(bool(value))
        else:
            field.fill(str(value))


def submit(page: Page, form_id: str, values: Mapping[str, Value], *, step: str | None = None) -> Page:
    """Fill in and submit a step form; expect the success notice of that step."""
    fill(page, form_id, values)
    page.get_by_test_id(f"submit-{form_id}").click()
    expect(page).to_have_url(re.compile(rf"/cases/[A-Za-z0-9-]+\?done={step or form_id}$"))
    expect(page.get_by_test_id("flash")).to_be_visible()
    return page


def refused(page: Page, form_id: str, values: Mapping[str, Value]) -> Page:
    """Submit a form the service refuses: the page comes back with the refusal beside the fields."""
    fill(page, form_id, values)
    page.get_by_test_id(f"submit-{form_id}").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    return page


def expect_state(page: Page, text: str) -> None:
    expect(page.get_by_test_id("case-state")).to_have_text(text)


def expect_deadline(page: Page, milestone: str, state: str) -> None:
    """A deadline row's state: pending / met / cancelled (data-state, as the service says)."""
    expect(page.get_by_test_id(f"deadline-{milestone}")).to_have_attribute("data-state", state)


def due_in(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


# -- one step each, as the person who takes it ---------------------------------------------------


def triage(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    expect(page.get_by_test_id("form-close")).to_have_count(0)  # an illegal step is not offered
    submit(
        page,
        "triage",
        {
            "valid": "yes",
            "category": "quality",
            "severity": "major",
            "our_fault": "yes",
            "responsible_department": "一车间",
        },
    )
    expect_state(page, "已确认/分类")
    expect_deadline(page, "first_response", "met")
    expect_deadline(page, "feedback_slip", "pending")
    expect(page.get_by_test_id("case-severity")).to_have_text("重大")
    return page


def contain(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(
        page,
        "containment",
        {
            "scope-0-quantity": "12",
            "scope-2-quantity": "40",
            "scope-2-note": "成品库 B 区",
            "dispositions": ["exchange", "sorting"],
            "actions": "库存隔离挑选",
        },
    )
    expect_state(page, "已围堵")
    expect_deadline(page, "handling_proposal", "met")
    expect(page.get_by_test_id("record-containment")).to_contain_text("已出货 12")
    return page


def analyse(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(
        page,
        "root_cause",
        {
            "team": "张工 QE\n李主任 一车间",
            "occurrence_cause": "脱模时吊点受力不均导致边角破损",
            "escape_cause": "出厂检验未检查边角",
            "why_chains": "边角破损 > 脱模受力不均 > 吊点位置错误 > 作业指导书未规定吊点",
            "fishbone-method": "作业指导书缺吊点",
        },
    )
    expect_state(page, "已查明原因")
    expect_deadline(page, "feedback_slip", "met")
    expect(page.get_by_test_id("record-root_cause")).to_contain_text("吊点位置错误 → 作业指导书未规定吊点")
    return page


PARTIES_70_30: dict[str, Value] = {
    "parties-0-kind": "person",
    "parties-0-name": "王五",
    "parties-0-role": "shipping_qc",
    "parties-0-department": "品管部",
    "parties-0-share": "70",
    "parties-1-kind": "person",
    "parties-1-name": "赵六",
    "parties-1-role": "line_qc",
    "parties-1-department": "一车间",
    "parties-1-share": "30",
}


def propose(people: Mapping[str, Console], number: str) -> Page:
    """The QE asks for the split the rules propose when the defect is visible at once (70/30)."""
    page = open_case(person(people, QE), number)
    proposal = page.get_by_test_id("proposal")
    proposal.locator("[name='qc_facts-visible_at_once']").check()
    proposal.get_by_test_id("propose").click()
    expect(page.get_by_test_id("proposal-text")).to_contain_text("出货检验 70%")
    form = page.get_by_test_id("form-responsibility")
    expect(form.locator("[name='parties-0-role']")).to_have_value("shipping_qc")
    expect(form.locator("[name='parties-1-share']")).to_have_value("30")
    return page


def determine(people: Mapping[str, Console], number: str, *, check_refusals: bool = True) -> Page:
    page = propose(people, number)
    if check_refusals:
        # shares that do not sum to 100: the service's 422 beside the parties table
        refused(page, "responsibility", {**PARTIES_70_30, "parties-0-share": "60"})
        expect(page.get_by_test_id("error-parties")).to_contain_text("100")
        expect(page.get_by_test_id("form-responsibility").locator("[name='parties-0-name']")).to_have_value("王五")
        # a split other than the proposal's, without a reason: beside the override reason field
        other = {
            "parties-0-share": "100",
            "parties-1-name": "",
            "parties-1-share": "",
            "parties-1-role": "",
            "parties-1-department": "",
        }
        refused(page, "responsibility", {**PARTIES_70_30, **other})
        expect(page.get_by_test_id("error-override_reason")).to_contain_text("override reason")
        expect(page.locator("textarea[name='override_reason']")).to_have_class("invalid")
    submit(
        page,
        "responsibility",
        {**PARTIES_70_30, "cause_class": "management_general", "loss_amount": "12345.60", "findings-0-code": "5.2.3.2"},
    )
    expect_state(page, "已判定责任")
    expect_deadline(page, "workshop_training", "pending")
    expect(page.get_by_test_id("current-parties")).to_contain_text("王五")
    expect(page.get_by_test_id("form-dispute")).to_have_count(0)  # the department head's, not the QE's
    expect(page.get_by_test_id("waiting-dispute")).to_contain_text("责任部门主管")
    return page


def object_to(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, HEAD), number)
    expect(page.get_by_test_id("form-actions")).to_have_count(0)
    submit(page, "dispute", {"kind": "objection", "department": "一车间", "reason": "线检已记录,质检日志可查"})
    expect_state(page, "异议中")
    expect(page.get_by_test_id("dispute-1")).to_contain_text("线检已记录")
    expect(page.get_by_test_id("form-dispute")).to_have_count(0)  # once per determination
    return page


def rule(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, OPS), number)
    submit(
        page,
        "ruling",
        {
            "upheld": "yes",
            "reason": "质检日志有记录,按五五分",
            "change_parties": True,
            "parties-0-share": "50",
            "parties-1-share": "50",
        },
    )
    expect_state(page, "已判定责任")
    expect(page.get_by_test_id("ruling-1")).to_contain_text("异议成立")
    expect(page.get_by_test_id("current-parties")).to_contain_text("50%")
    return page


def add_actions(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(
        page,
        "actions",
        {
            "actions-0-kind": "temporary",
            "actions-0-description": "出货前全检边角",
            "actions-0-owner": "品管部",
            "actions-0-due": due_in(10),
            "actions-1-kind": "permanent",
            "actions-1-description": "修订作业指导书吊点",
            "actions-1-owner": "一车间",
            "actions-1-due": due_in(10),
        },
    )
    expect_state(page, "措施实施中")
    expect_deadline(page, "action:A1", "pending")
    expect(page.get_by_test_id("form-close")).to_have_count(0)  # not before every action is verified
    return page


def verify(people: Mapping[str, Console], number: str, action: str, lots: int = 3) -> Page:
    page = open_case(person(people, QE), number)
    submit(
        page,
        f"verification-{action}",
        {f"lots-{i}-lot": f"L{action}-{i + 1}" for i in range(lots)},
        step="verification",
    )
    expect(page.get_by_test_id(f"action-{action}")).to_have_attribute("data-verified", "yes")
    expect_deadline(page, f"action:{action}", "met")
    return page


def standardise(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(page, "standardisation", {"documents": "WI-PC-007 脱模作业指导书 B版"})
    expect(page.get_by_test_id("record-standardisation")).to_contain_text("WI-PC-007")
    return page


def train(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(page, "training", {"attendees": "12", "note": "吊点作业培训"})
    expect_deadline(page, "workshop_training", "met")
    return page


def reply(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, CS), number)
    expect(page.get_by_test_id("form-close")).to_have_count(0)
    submit(page, "reply", {"kind": "final", "content": "已查明原因并完成整改", "channel": "email"})
    expect_state(page, "已回复客户")
    expect_deadline(page, "customer_reply", "met")
    return page


def follow_up(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, CS), number)
    submit(page, "follow_up", {"satisfied": "yes", "accepted": "yes", "note": "客户满意"})
    expect(page.get_by_test_id("follow-up-1")).to_contain_text("接受")
    return page


def close(people: Mapping[str, Console], number: str) -> Page:
    page = open_case(person(people, QE), number)
    submit(page, "close", {"reason": "客户接受"})
    expect_state(page, "已结案")
    expect_deadline(page, "close", "met")
    expect(page.get_by_test_id("case-outcome")).to_have_text("已解决")
    expect(page.locator("[data-testid=step-strip] span[data-status=done]")).to_have_count(8)
    return page


def walk_to_closure(people: Mapping[str, Console], number: str) -> Page:
    """Every 8D step in the browser, each by the role that takes it, from opened to closed."""
    triage(people, number)
    contain(people, number)
    analyse(people, number)
    determine(people, number)
    object_to(people, number)
    rule(people, number)
    add_actions(people, number)
    verify(people, number, "A1")
    verify(people, number, "A2")
    page = open_case(person(people, QE), number)
    expect_state(page, "效果已确认")
    standardise(people, number)
    train(people, number)
    reply(people, number)
    follow_up(people, number)
    return close(people, number)
