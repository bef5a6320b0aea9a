"""One complaint from the new-complaint form through every 8D step to closure, the penalty
approval and the ledger download, in the browser only, as the people who do each step
(DOMAIN.md §2 intake, §3 the 8D steps, §4 approval by production operations and the monthly
ledger for HR and finance)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.browser.flows_case import OPS, person, walk_to_closure
from tests.browser.flows_complaints import register_complaint
from tests.browser.flows_penalties import approve_assessments, download_ledger
from tests.e2e.conftest import Stack
from tests.helpers import auth
from tests.polling import poll_until


def test_one_complaint_from_the_form_to_closure_penalty_approval_and_the_ledger(
    people: dict[str, Console], console_stack: Stack
) -> None:
    service = people["cs-intake"].sign_in("customer_service", "F01", name="客服小李")
    number = register_complaint(service)
    service.shot("walk-1-registered")

    with httpx.Client(timeout=30) as client:

        def opened() -> bool:
            answer = client.get(
                f"{console_stack.url('investigation')}/api/v1/investigations/{number}", headers=auth("auditor", "F01")
            )
            return answer.status_code == 200

        poll_until(opened, timeout=60, what="the case opened")
        page = walk_to_closure(people, number)
        expect(page.get_by_test_id("case-state")).to_contain_text("已结案")
        people["qe"].shot("walk-2-closed")

        def drafts() -> list[dict[str, Any]]:
            answer = client.get(
                f"{console_stack.url('penalty')}/api/v1/assessments",
                params={"complaint": number, "status": "draft"},
                headers=auth("auditor", "F01"),
            )
            found: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
            return found

        period = poll_until(drafts, timeout=60, what="the draft assessment")[0]["period"]

    ops = person(people, OPS)
    assert approve_assessments(ops, number) >= 1
    ops.shot("walk-3-approved")

    finance = people["finance"].sign_in("finance", "F01", name="财务小赵")
    ledger = finance.go(f"/ledger/F01/{period}")
    expect(ledger.locator("main")).to_contain_text(number)
    workbook = load_workbook(io.BytesIO(download_ledger(finance, "F01", period, "xlsx")), read_only=True)
    cells = {str(cell) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row}
    assert number in cells
    assert number in download_ledger(finance, "F01", period, "csv").decode("utf-8-sig")
    finance.shot("walk-4-ledger")
    ledger = finance.go(f"/ledger/F01/{period}")
    ledger.click("a[data-lang=en]")
    expect(ledger.locator("main")).to_contain_text(number)
    expect(ledger.locator("h1")).not_to_contain_text("台账")
