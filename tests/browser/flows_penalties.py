"""What people do on the penalty pages (考核处罚, 月度考核台账), as steps the browser tests (and
the end-to-end walk) compose; found by `data-testid`, so either language works."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console


def assessment_ids(console: Console, number: str, status: str = "") -> list[str]:
    """The ids of the complaint's assessments the list shows (optionally of one status)."""
    query = f"/penalties?complaint={number}" + (f"&status={status}" if status else "")
    page = console.go(query)
    expect(page.get_by_test_id("assessments-table")).to_be_visible()
    rows = page.locator("[data-testid=assessment-row]")
    return [str(rows.nth(i).get_attribute("data-id")) for i in range(rows.count())]


def open_assessment(console: Console, number: str, status: str = "") -> Page:
    """The complaint's (first) assessment page, reached from the list."""
    page = console.go(f"/penalties?complaint={number}" + (f"&status={status}" if status else ""))
    page.locator("[data-testid=assessment-row]").first.get_by_test_id("assessment-link").click()
    expect(page.get_by_test_id("lines")).to_be_visible()
    return page


def approve_assessments(console: Console, number: str, note: str = "生产运营部签准") -> int:
    """Approve (签准) every draft assessment of the complaint; returns how many."""
    approved = 0
    for assessment_id in assessment_ids(console, number, "draft"):
        page = console.go(f"/penalties/{assessment_id}")
        page.get_by_test_id("approve-reason").fill(note)
        page.get_by_test_id("approve").click()
        expect(page.get_by_test_id("assessment-status")).to_have_attribute("class", "badge ok")
        approved += 1
    return approved


def appeal_assessment(console: Console, number: str, reason: str, lines: list[int] | None = None) -> Page:
    """申诉 (the penalised department's head): the contested lines ticked (none: all)."""
    page = open_assessment(console, number, "draft")
    form = page.get_by_test_id("appeal-form")
    for position in lines or []:
        form.locator(f"input[name=lines][value='{position}']").check()
    form.get_by_test_id("appeal-reason").fill(reason)
    form.get_by_test_id("appeal").click()
    expect(page.get_by_test_id("saved-flash")).to_be_visible()
    return page


def decide_appeal(
    console: Console, number: str, *, upheld: bool, reason: str, amounts: Mapping[int, str] | None = None
) -> Page:
    """The general manager's decision on the appeal (amounts by line position, when upheld)."""
    page = open_assessment(console, number, "appealed")
    form = page.get_by_test_id("decision-form")
    form.get_by_test_id("upheld-yes" if upheld else "upheld-no").check()
    for position, amount in (amounts or {}).items():
        form.get_by_test_id(f"amount-{position}").fill(amount)
    form.get_by_test_id("decision-reason").fill(reason)
    form.get_by_test_id("decide").click()
    expect(page.get_by_test_id("saved-flash")).to_be_visible()
    return page


def open_ledger(console: Console, factory: str, period: str) -> Page:
    """The month's ledger, picked on the ledger page as a person would."""
    page = console.go("/ledger")
    picker = page.get_by_test_id("ledger-picker")
    factory_field = picker.get_by_test_id("ledger-factory")
    if factory_field.evaluate("el => el.tagName") == "SELECT":
        factory_field.select_option(factory)
    else:
        factory_field.fill(factory)
    picker.get_by_test_id("ledger-period").fill(period)
    picker.get_by_test_id("ledger-open").click()
    page.wait_for_url(f"**/ledger/{factory}/{period}")
    return page


def download_ledger(console: Console, factory: str, period: str, fmt: str) -> bytes:
    """The month's ledger downloaded as `csv` or `xlsx` from the ledger page."""
    page = console.go(f"/ledger/{factory}/{period}")
    with page.expect_download() as download:
        page.get_by_test_id(f"download-{fmt}").click()
    return Path(download.value.path()).read_bytes()


def close_period(console: Console, factory: str, period: str, reason: str = "月度考核关账") -> Page:
    """Close the month (关账) with a reason."""
    page = console.go(f"/ledger/{factory}/{period}")
    page.get_by_test_id("close-reason").fill(reason)
    page.get_by_test_id("close-submit").click()
    expect(page.get_by_test_id("ledger-state")).to_have_attribute("class", "badge ok")
    return page
