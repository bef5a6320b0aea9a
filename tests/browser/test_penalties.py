"""The penalty pages in the browser: a responsibility determination (driven through the
investigation API) becomes a draft assessment; the assembly head appeals one line, the general
manager upholds it with a lower amount, production operations approves; the month's ledger shows
the amounts, downloads as CSV and XLSX, and is closed."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.browser.flows_penalties import (
    appeal_assessment,
    approve_assessments,
    close_period,
    decide_appeal,
    download_ledger,
    open_assessment,
    open_ledger,
)
from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import COMPLAINT
from tests.helpers import auth
from tests.polling import poll_until

QE = auth("quality_engineer", "F01")
CS = auth("customer_service", "F01")
READER = auth()
ASSEMBLY = "装配车间"  # deploy/policies/F01.yaml
PERSON = "钱七"
PATIENCE = 60.0


def determined_complaint(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A complaint whose responsibility is determined under rule 5.2.6 (as in the penalty flow's
    end-to-end test), and its draft assessment once penalty has made it."""
    intake, inv, penalty = (stack.url(s) for s in ("intake", "investigation", "penalty"))
    with httpx.Client(timeout=30) as client:
        complaint = {**COMPLAINT, "external_ref": f"CRM-{uuid.uuid4().hex[:10]}", "batch_return": False}
        complaint["product"] = {**COMPLAINT["product"], "order_number": f"SO-{uuid.uuid4().hex[:6]}"}  # type: ignore[dict-item]
        created = client.post(f"{intake}/api/v1/complaints", json=complaint, headers=CS)
        assert created.status_code == 201, created.text
        number: str = created.json()["number"]
        case_url = f"{inv}/api/v1/investigations/{number}"
        poll_until(
            lambda: client.get(case_url, headers=QE).status_code == 200, timeout=PATIENCE, what="the case opened"
        )

        def step(name: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = client.post(f"{case_url}/{name}", json=body, headers=QE)
            assert answer.status_code == 200, (name, answer.text)
            found: dict[str, Any] = answer.json()
            return found

        step("triage", {"valid": True, "category": "quality", "severity": "major", "responsible_department": ASSEMBLY})
        step(
            "containment",
            {"scope": [{"kind": "shipped", "quantity": 12}], "dispositions": ["exchange"], "actions": "换货 exchange"},
        )
        step("root_cause", {"occurrence_cause": "装配螺栓未紧固", "escape_cause": "终检漏检"})
        case = step(
            "responsibility",
            {
                "parties": [
                    {"kind": "person", "name": PERSON, "role": "assembler", "department": ASSEMBLY, "share": "100"}
                ],
                "cause_class": "management_general",
                "loss_amount": "0",
                "findings": [{"code": "5.2.6"}],
                "override_reason": "装配工个人责任明确 the assembler alone is responsible",
            },
        )
        assert case["state"] == "responsibility_determined"

        def draft() -> dict[str, Any]:
            answer = client.get(f"{penalty}/api/v1/assessments", params={"complaint": number}, headers=READER)
            found = [a for a in answer.json() if a["status"] == "draft"] if answer.status_code == 200 else []
            return found[0] if found else {}

        return number, poll_until(draft, timeout=PATIENCE, what="the draft assessment")


def test_an_assessment_is_appealed_decided_approved_and_its_month_exported_and_closed(
    people: dict[str, Console], console_stack: Stack
) -> None:
    number, assessment = determined_complaint(console_stack)
    period = assessment["period"]

    # the assembly head sees the line items with their rule codes and may appeal, not approve
    head = people["head"].sign_in("department_head", name="张主任")
    page = open_assessment(head, number)
    lines = page.locator("[data-testid=line][data-rule='5.2.6']")
    expect(lines).to_have_count(4)
    expect(page.get_by_test_id("rule-codes")).to_contain_text("5.2.6")
    expect(page.get_by_test_id("total-fines")).to_have_text("¥900.00")
    expect(page.get_by_test_id("appeal-form")).to_be_visible()
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    person_line = page.locator("[data-testid=line][data-role=responsible_person]")
    expect(person_line).to_contain_text(PERSON)
    expect(person_line.get_by_test_id("line-amount")).to_have_text("¥500.00")
    position = int(person_line.get_attribute("data-position") or "-1")
    head.shot("penalties-assessment-draft")

    # an appeal without a reason is refused beside its field
    page.get_by_test_id("appeal").click()
    expect(page.get_by_test_id("error-reason")).to_be_visible()
    appeal_assessment(head, number, "钱七为新员工,培训未到位,申请减轻", [position])
    expect(head.page.get_by_test_id("assessment-status")).to_have_text("申诉中")

    # the general manager upholds it with 300 for that line; F01's policy gives approval to
    # production operations, so the GM gets no approval form afterwards
    gm = people["gm"].sign_in("general_manager", name="王总")
    page = decide_appeal(gm, number, upheld=True, amounts={position: "300"}, reason="部分成立,减为300元")
    expect(page.get_by_test_id("assessment-status")).to_have_text("待审批")
    expect(page.get_by_test_id("appeal-record")).to_contain_text("部分成立")
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    expect(page.get_by_test_id("total-fines")).to_have_text("¥700.00")

    # production operations approves (签准)
    ops = people["ops"].sign_in("production_operations", name="赵部长")
    page = ops.go(f"/penalties?complaint={number}")
    row = page.locator(f"[data-testid=assessment-row][data-number='{number}']")
    expect(row.get_by_test_id("status")).to_have_text("待审批")
    expect(row.get_by_test_id("fines")).to_have_text("¥700.00")
    expect(row.get_by_test_id("rule-codes")).to_contain_text("5.2.6")
    ops.shot("penalties-list")
    assert approve_assessments(ops, number) == 1
    page = ops.page
    expect(page.get_by_test_id("assessment-status")).to_have_text("已批准")
    expect(page.get_by_test_id("approved-by")).to_contain_text("赵部长")
    expect(page.get_by_test_id("no-actions")).to_be_visible()
    expect(page.locator("[data-testid=line][data-role=responsible_person] del")).to_have_text("¥500.00")
    ops.shot("penalties-assessment-approved")

    # the month's ledger: the entries and the totals
    page = open_ledger(ops, "F01", period)
    entries = page.locator(f"[data-testid=entry][data-number='{number}']")
    expect(entries.and_(page.locator("[data-rule='5.2.6']"))).to_have_count(4)
    person_entry = page.locator(f"[data-testid=entry][data-number='{number}'][data-role=responsible_person]")
    expect(person_entry.get_by_test_id("entry-amount")).to_have_text("¥300.00")
    expect(page.get_by_test_id("total-fines")).to_have_text("¥700.00")
    expect(page.get_by_test_id("ledger-state")).to_have_text("未关账")
    ops.shot("ledger-month")

    # downloads: CSV text and XLSX numbers, as the API produces them
    text = download_ledger(ops, "F01", period, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    columns = rows[0]
    rule, amount, complaint = (columns.index(c) for c in ("规则 rule", "金额 amount", "投诉编号 complaint"))
    mine = [r for r in rows[1:] if len(r) > amount and r[complaint] == number and r[rule] == "5.2.6"]
    assert sorted(Decimal(r[amount]) for r in mine) == [100, 100, 200, 300], rows[:6]
    workbook = load_workbook(io.BytesIO(download_ledger(ops, "F01", period, "xlsx")), read_only=True)
    sheet = [row for row in workbook["Lines"].iter_rows(values_only=True) if row]
    [header] = [i for i, row in enumerate(sheet) if "规则 rule" in row and "金额 amount" in row]
    rule, amount = sheet[header].index("规则 rule"), sheet[header].index("金额 amount")
    assert sorted(row[amount] for row in sheet[header + 1 :] if row[rule] == "5.2.6") == [100, 100, 200, 300]

    # finance reads the ledger but may not close it
    finance = people["finance"].sign_in("finance")
    page = finance.go(f"/ledger/F01/{period}")
    expect(page.get_by_test_id("total-fines")).to_have_text("¥700.00")
    expect(page.get_by_test_id("close-form")).to_have_count(0)

    # closing needs a reason; then the month is closed
    page = ops.go(f"/ledger/F01/{period}")
    page.get_by_test_id("close-submit").click()
    expect(page.get_by_test_id("error-reason")).to_be_visible()
    page = close_period(ops, "F01", period, "11月考核关账 monthly close")
    expect(page.get_by_test_id("ledger-state")).to_have_text("已关账")
    expect(page.get_by_test_id("closed-by")).to_contain_text("赵部长")
    expect(page.get_by_test_id("close-form")).to_have_count(0)
    ops.shot("ledger-closed")


def test_the_ledger_picker_and_english(people: dict[str, Console]) -> None:
    ops = people["ops"].sign_in("production_operations")
    ops.go("/penalties").click("a[data-lang=en]")
    page = ops.go("/ledger?factory=F01&period=2026-13")
    expect(page.get_by_test_id("picker-error")).to_contain_text("Choose a factory and a month")
    page = open_ledger(ops, "F01", "2026-01")
    expect(page.locator("h1")).to_contain_text("Monthly ledger · F01 · 2026-01")
    expect(page.get_by_test_id("no-entries")).to_have_text("No entries this month.")
    page = ops.go("/penalties")
    expect(page.locator("h1")).to_have_text("Penalty assessments")
    assert ops.page.request.get(ops.base_url + "/ledger/F01/2026-01.pdf").status == 404
