"""A complaint's penalty end to end, through the public APIs of the four running services: the
determination's rule code becomes draft line items (DOMAIN.md §4, seed 000 §5.2.6), production
operations approves them, HR and finance are told (DOMAIN.md §5), and the month's ledger exports
them as XLSX."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import COMPLAINT
from tests.helpers import auth, wait_for

QE = auth("quality_engineer", "F01")
CS = auth("customer_service", "F01")
OPS = auth("production_operations", "F01")
HR = auth("hr", "F01")
FINANCE = auth("finance", "F01")
READER = auth()

ASSEMBLY = "装配车间"  # deploy/policies/F01.yaml: head 张主任, director 赵副总, GM 王总
PERSON = "钱七"
# seed 000 §5.2.6 (return or exchange because of serious quality), resolved through F01's directory
EXPECTED = {
    ("department_head", "u-asm-head"): Decimal(100),
    ("responsible_person", PERSON): Decimal(500),
    ("director", "u-prod-vp"): Decimal(200),
    ("general_manager", "u-gm-f01"): Decimal(100),
}
PATIENCE = 60.0  # seconds for an event to travel intake -> investigation -> penalty -> notification


async def test_a_determination_is_assessed_approved_told_to_hr_and_finance_and_exported(stack: Stack) -> None:
    intake, inv, penalty, notification = (stack.url(s) for s in ("intake", "investigation", "penalty", "notification"))
    async with httpx.AsyncClient(timeout=30) as client:
        complaint = {**COMPLAINT, "external_ref": "CRM-2026-PENALTY-1", "batch_return": False}
        created = await client.post(f"{intake}/api/v1/complaints", json=complaint, headers=CS)
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        case_url = f"{inv}/api/v1/investigations/{number}"

        async def opened() -> dict[str, Any] | None:
            answer = await client.get(case_url, headers=QE)
            return answer.json() if answer.status_code == 200 else None

        await wait_for(opened, timeout=PATIENCE)

        async def step(name: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await client.post(f"{case_url}/{name}", json=body, headers=QE)
            assert answer.status_code == 200, (name, answer.text)
            found: dict[str, Any] = answer.json()
            return found

        await step(
            "triage",
            {"valid": True, "category": "quality", "severity": "major", "responsible_department": ASSEMBLY},
        )
        await step(
            "containment",
            {"scope": [{"kind": "shipped", "quantity": 12}], "dispositions": ["exchange"], "actions": "换货 exchange"},
        )
        await step("root_cause", {"occurrence_cause": "装配螺栓未紧固", "escape_cause": "终检漏检"})
        case = await step(
            "responsibility",
            {
                "parties": [
                    {"kind": "person", "name": PERSON, "role": "assembler", "department": ASSEMBLY, "share": "100"}
                ],
                "cause_class": "management_general",
                "loss_amount": "0",  # no compensation: no automatic 4.3.3.2 lines
                "findings": [{"code": "5.2.6"}],
                "override_reason": "装配工个人责任明确 the assembler alone is responsible",
            },
        )
        assert case["state"] == "responsibility_determined"

        # penalty assessed the determination: a draft with the four 5.2.6 lines, 900 in all
        async def draft() -> dict[str, Any]:
            answer = await client.get(f"{penalty}/api/v1/assessments", params={"complaint": number}, headers=READER)
            if answer.status_code != 200:
                return {}
            drafts = [a for a in answer.json() if a["status"] == "draft" and a["determination"] is not None]
            return drafts[0] if drafts else {}

        assessment = await wait_for(draft, timeout=PATIENCE)
        fines = [x for x in assessment["lines"] if x["kind"] == "fine"]
        assert {(x["role"], x["payee"]["id"]): Decimal(x["amount"]) for x in fines} == EXPECTED, fines
        assert {x["rule_code"] for x in fines} == {"5.2.6"}
        assert all(x["department"] == ASSEMBLY for x in fines if x["role"] != "general_manager")
        assert Decimal(assessment["totals"]["fines"]) == 900
        assert set(assessment["allowed_actions"]) == {"appeal", "approve"}
        period = assessment["period"]

        # only production operations approves (生产运营部签准)
        approval_url = f"{penalty}/api/v1/assessments/{assessment['id']}/approval"
        refused = await client.post(approval_url, json={"reason": "签准"}, headers=QE)
        assert refused.status_code == 403, refused.text
        approved = await client.post(
            approval_url,
            json={"reason": "生产运营部签准", "expected_version": assessment["version"]},
            headers=OPS,
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved" and approved.json()["allowed_actions"] == []

        # notification told the assembly head of the draft, HR and finance of the approval
        async def notices() -> list[dict[str, Any]]:
            answer = await client.get(
                f"{notification}/api/v1/notifications", params={"complaint": number}, headers=READER
            )
            found: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
            finalized = {n["recipient"] for n in found if n["event_type"] == "penalty.finalized"}
            return found if {"role:hr", "role:finance"} <= finalized else []

        sent = await wait_for(notices, timeout=PATIENCE)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for n in sent:
            by_type.setdefault(n["event_type"], []).append(n)
        assert [n["recipient"] for n in by_type["penalty.assessed"]] == [f"department_head:{ASSEMBLY}"]
        assert "向总经理申诉" in by_type["penalty.assessed"][0]["body"]
        finalized = by_type["penalty.finalized"]
        assert sorted((n["recipient_role"], n["recipient"]) for n in finalized) == [
            ("finance", "role:finance"),
            ("hr", "role:hr"),
        ]
        for n in finalized:
            assert "900.00" in n["subject"] and number in n["subject"]
            # a shared inbox reads Chinese, then English (templates/zh and templates/en)
            assert f"计入 {period} 月度考核台账" in n["body"] and "处罚对象：4 个" in n["body"]
            assert "Total fines: 900.00 CNY" in n["body"] and n["locale"] == "both"
        # HR and finance read them in their inbox
        inbox = await client.get(
            f"{notification}/api/v1/notifications", params={"complaint": number, "recipient": "role:hr"}, headers=HR
        )
        assert inbox.status_code == 200 and {n["event_type"] for n in inbox.json()} == {"penalty.finalized"}

        # the month's ledger as XLSX, as finance downloads it
        ledger = await client.get(f"{penalty}/api/v1/ledger/F01/{period}", params={"format": "xlsx"}, headers=FINANCE)
        assert ledger.status_code == 200, ledger.text
        assert ledger.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        workbook = load_workbook(io.BytesIO(ledger.content), read_only=True)
        summary = {
            str(row[0]): row[1]
            for row in workbook["Summary"].iter_rows(values_only=True)
            if row and isinstance(row[0], str) and len(row) > 1
        }
        [fines_total] = [value for label, value in summary.items() if "fines" in label]
        assert fines_total == 900  # a number, not a text
        departments = {row[0]: row[1] for row in workbook["Departments"].iter_rows(values_only=True) if row}
        assert departments[ASSEMBLY] >= 800  # head, person and director; the GM's line may count company-wide
        rows = [row for row in workbook["Lines"].iter_rows(values_only=True) if row]
        [header] = [i for i, row in enumerate(rows) if "规则 rule" in row and "金额 amount" in row]
        rule, amount = rows[header].index("规则 rule"), rows[header].index("金额 amount")
        assert sorted(row[amount] for row in rows[header + 1 :] if row[rule] == "5.2.6") == [100, 100, 200, 500]
