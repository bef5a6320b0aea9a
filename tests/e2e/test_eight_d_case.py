"""One complaint through every 8D step to closure, through the public APIs only, as the roles
who take each step (DOMAIN.md §3); penalty and notification receive the events."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pypdf import PdfReader

from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import COMPLAINT
from tests.helpers import auth, wait_for

QE = auth("quality_engineer", "F01")
HEAD = auth("department_head", "F01")
OPS = auth("production_operations", "F01")
CS = auth("customer_service", "F01")
F02_QE = auth("quality_engineer", "F02")


async def test_a_complaint_through_every_8d_step_to_closure(stack: Stack) -> None:
    intake, inv = stack.url("intake"), stack.url("investigation")
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(f"{intake}/api/v1/complaints", json=COMPLAINT, headers=CS)
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        case_url = f"{inv}/api/v1/investigations/{number}"

        async def opened() -> dict[str, Any] | None:
            answer = await client.get(case_url, headers=QE)
            return answer.json() if answer.status_code == 200 else None

        case = await wait_for(opened)
        assert case["state"] == "opened" and case["next_steps"][0] == "triage"

        async def step(name: str, body: dict[str, Any], headers: dict[str, str] = QE, status: int = 200) -> Any:
            answer = await client.post(f"{case_url}/{name}", json=body, headers=headers)
            assert answer.status_code == status, (name, answer.text)
            return answer.json()

        # an illegal step answers 409 with the state and the reason; another factory sees nothing
        refused = await step("close", {}, status=409)
        assert refused["state"] == "opened" and refused["action"] == "close"
        assert (await client.get(case_url, headers=F02_QE)).status_code == 404

        case = await step(
            "triage",
            {"valid": True, "category": "quality", "severity": "major", "responsible_department": "一车间"},
        )
        assert case["state"] == "triaged" and case["records"]["triage"]["dispatch"] == ["workshop_head"]
        milestones = {d["milestone"]: d for d in case["deadlines"]}
        assert milestones["first_response"]["state"] == "met" and milestones["feedback_slip"]["state"] == "pending"

        case = await step(
            "containment",
            {
                "scope": [{"kind": "shipped", "quantity": 12}, {"kind": "warehouse", "quantity": 40}],
                "dispositions": ["exchange", "sorting"],
                "actions": "库存隔离挑选 isolate and sort stock",
            },
        )
        assert case["state"] == "contained"
        case = await step(
            "root_cause",
            {
                "occurrence_cause": "脱模时吊点受力不均导致边角破损",
                "escape_cause": "出厂检验未检查边角",
                "team": ["张工 QE", "李主任 一车间"],
                "why_chains": [["边角破损", "脱模受力不均", "吊点位置错误", "作业指导书未规定吊点"]],
                "fishbone": [{"category": "method", "cause": "作业指导书缺吊点"}],
            },
        )
        assert case["state"] == "root_caused"

        proposal = (
            await client.post(f"{case_url}/responsibility/proposal", json={"visible_at_once": True}, headers=QE)
        ).json()
        assert proposal["situation"] == "defect visible at once"  # seed 000 客诉处罚管理规定
        assert {p["role"]: p["share"] for p in proposal["parties"]} == {"shipping_qc": "70", "line_qc": "30"}
        short = {"parties": [{"kind": "department", "name": "一车间", "share": "60"}], "cause_class": "communication"}
        refused = await step("responsibility", short, status=422)
        assert refused["errors"][0]["field"] == "parties" and "100" in refused["errors"][0]["message"]
        overridden = {
            "parties": [{"kind": "department", "name": "一车间", "share": "100"}],
            "cause_class": "communication",
            "qc_facts": {"visible_at_once": True},
        }
        refused = await step("responsibility", overridden, status=422)  # differs from the proposal: a reason
        assert "override reason" in refused["detail"]
        case = await step(
            "responsibility",
            {
                "parties": [
                    {"kind": "person", "name": "王五", "role": "shipping_qc", "department": "品管部", "share": "70"},
                    {"kind": "person", "name": "赵六", "role": "line_qc", "department": "一车间", "share": "30"},
                ],
                "cause_class": "management_general",
                "loss_amount": "12345.60",
                "qc_facts": {"visible_at_once": True},
                "findings": [{"code": "5.2.3.2", "occurrences": 1}],
            },
        )
        assert case["state"] == "responsibility_determined"
        assert [p["share"] for p in case["parties"]] == ["70", "30"]

        # the department objects within the 2-hour window; production operations upholds and changes the split
        await step("ruling", {"upheld": True, "reason": "x"}, OPS, status=409)  # nothing disputed yet
        await step("dispute", {"kind": "objection", "department": "一车间", "reason": "线检已记录"}, QE, status=403)
        case = await step("dispute", {"kind": "objection", "department": "一车间", "reason": "线检已记录"}, HEAD)
        assert case["state"] == "disputed"
        case = await step(
            "ruling",
            {
                "upheld": True,
                "reason": "质检日志有记录, 按五五分",
                "parties": [
                    {"kind": "person", "name": "王五", "role": "shipping_qc", "department": "品管部", "share": "50"},
                    {"kind": "person", "name": "赵六", "role": "line_qc", "department": "一车间", "share": "50"},
                ],
            },
            OPS,
        )
        assert case["state"] == "responsibility_determined"
        assert case["records"]["responsibility"]["sequence"] == 2

        due = (datetime.now(UTC) + timedelta(days=10)).isoformat()
        case = await step(
            "actions",
            {
                "actions": [
                    {"kind": "temporary", "description": "出货前全检边角", "owner": "品管部", "due_at": due},
                    {"kind": "permanent", "description": "修订作业指导书吊点", "owner": "一车间", "due_at": due},
                ]
            },
        )
        assert case["state"] == "actions_open" and [a["id"] for a in case["actions"]] == ["A1", "A2"]
        await step("close", {}, status=409)
        for action in ("A1", "A2"):
            lots = [{"lot": f"L{action}-{i}", "defect_found": False} for i in range(1, 4)]
            case = await step("verification", {"action_id": action, "lots": lots})
        assert case["state"] == "verified"  # three consecutive clean lots each (seed 001)
        case = await step("standardisation", {"documents": ["WI-PC-007 脱模作业指导书 B版"]})
        case = await step("training", {"attendees": 12})
        case = await step("reply", {"kind": "final", "content": "已查明原因并完成整改"}, CS)
        assert case["state"] == "replied"
        case = await step("follow_up", {"satisfied": True, "accepted": True}, CS)
        case = await step("close", {"reason": "客户接受"})
        assert case["state"] == "closed" and case["outcome"] == "resolved"
        states = {d["milestone"]: d["state"] for d in case["deadlines"]}
        assert states["close"] == "met" and states["workshop_training"] == "met"

        # the 8D report: the internal PDF holds the case's Chinese data; the customer one no shares
        internal = await client.get(f"{case_url}/8d", params={"version": "internal"}, headers=QE)
        assert internal.status_code == 200 and internal.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(internal.content)).pages)
        for expected in ("华东建工集团", "脱模时吊点受力不均导致边角破损", "王五", "WI-PC-007"):
            assert expected in text.replace("\n", ""), expected
        customer = await client.get(f"{case_url}/8d", params={"format": "html", "lang": "en"}, headers=CS)
        assert customer.status_code == 200 and "Root cause" in customer.text and "王五" not in customer.text

        # penalty received both determinations; notification told the department head and production ops
        async def assessments() -> list[dict[str, Any]]:
            answer = await client.get(
                f"{stack.url('penalty')}/api/v1/assessments", params={"complaint": number}, headers=auth()
            )
            found: list[dict[str, Any]] = answer.json()
            return found if len(found) == 2 else []

        shares = [[p["share"] for p in a["determination"]["parties"]] for a in await wait_for(assessments)]
        assert sorted(shares) == [["50", "50"], ["70", "30"]]  # the ruling's determination arrived too

        async def notified() -> set[str]:
            answer = await client.get(
                f"{stack.url('notification')}/api/v1/notifications", params={"complaint": number}, headers=auth()
            )
            types = {n["event_type"] for n in answer.json()}
            wanted = {"investigation.responsibility_determined", "investigation.responsibility_disputed"}
            return types if wanted <= types else set()

        assert await wait_for(notified)

        # the audit trail of investigation names every step in order
        trail = (await client.get(f"{inv}/api/v1/audit", params={"complaint": number}, headers=auth())).json()
        assert [e["action"] for e in trail] == [
            "open",
            "triage",
            "containment",
            "root_cause",
            "responsibility",
            "dispute",
            "ruling",
            "responsibility",
            "actions",
            "verification",
            "verification",
            "standardisation",
            "training",
            "reply",
            "follow_up",
            "close",
        ]
