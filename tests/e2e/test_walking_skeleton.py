"""One complaint end to end through the four services as separate processes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from cqm_shared.contracts.envelope import new_event
from tests.conftest import BrokerNamespace
from tests.e2e.conftest import SERVICES, Stack
from tests.helpers import auth, publish, wait_for

COMPLAINT = {
    "factory": "F01",
    "channel": "wechat",
    "external_ref": "CRM-2026-004711",
    "customer": {
        "company": "华东建工集团",
        "contact_name": "王工",
        "gender": "male",
        "phone": "+86 138 0000 0000",
        "email": "wang@example.com",
        "im": "wx_wang",
    },
    "product": {
        "model": "YB-PC",
        "specification": "3000x1200x200",
        "part_number": "PC-100",
        "order_number": "SO-88",
        "lot_numbers": ["L2611-01"],
        "ship_date": "2026-10-30",
        "quantity_shipped": 1000,
        "quantity_defective": 12,
    },
    "phenomenon": "叠合板边角破损 chipped edges on composite slabs",
    "customer_request": {"kind": "report_8d", "deadline": "2026-11-30"},
    "market": {"region": "domestic", "province": "out"},
    "batch_return": True,
    "first_owner": "cs-li",
}


async def test_one_complaint_end_to_end(stack: Stack, broker_ns: BrokerNamespace) -> None:
    async with httpx.AsyncClient(timeout=30, headers=auth("admin", "*")) as client:
        created = await client.post(f"{stack.url('intake')}/api/v1/complaints", json=COMPLAINT)
        assert created.status_code == 201, created.text
        record = created.json()
        number = record["number"]
        assert number.startswith("F01-") and number.endswith("-0001")
        assert created.headers["location"] == f"/api/v1/complaints/{number}"
        assert record["defect_rate"] == "1.20"
        assert (await client.get(f"{stack.url('intake')}/api/v1/complaints/{number}")).json() == record

        # investigation opened the case with the policy's deadlines
        async def case() -> dict[str, Any] | None:
            answer = await client.get(f"{stack.url('investigation')}/api/v1/investigations/{number}")
            return answer.json() if answer.status_code == 200 else None

        opened = await wait_for(case)
        assert opened["state"] == "opened"
        registered_at = datetime.fromisoformat(record["registered_at"])
        received_at = datetime.fromisoformat(record["received_at"])
        due = {d["milestone"]: datetime.fromisoformat(d["due_at"]) for d in opened["deadlines"]}
        assert due["first_response"] == registered_at + timedelta(hours=24)  # seed 001 §1.2.1
        assert due["handling_proposal"] == received_at + timedelta(hours=48)  # seed 004 §3.2
        assert due["close"] == registered_at + timedelta(days=15)  # out of province, seed 000 §4.2.1
        assert due["preliminary_report"] == received_at + timedelta(days=3)  # 8D asked, seed 001 §1.4.3
        assert opened["history"][0]["action"] == "open"

        # notification recorded the in-app notices of both events
        async def notices() -> list[dict[str, Any]]:
            answer = await client.get(f"{stack.url('notification')}/api/v1/notifications", params={"complaint": number})
            found: list[dict[str, Any]] = answer.json()
            return found if {n["event_type"] for n in found} >= {"complaint.registered", "investigation.opened"} else []

        sent = await wait_for(notices)
        roles = {(n["event_type"], n["recipient_role"], n["urgent"]) for n in sent}
        assert roles == {
            ("complaint.registered", "quality_engineer", False),
            ("complaint.registered", "rd_after_sales", False),
            ("complaint.registered", "quality_manager", True),  # batch return: quality head at once
            ("investigation.opened", "quality_engineer", False),
            ("investigation.opened", "customer_service", False),
        }
        assert all(n["channel"] == "in_app" and n["status"] == "delivered" for n in sent)

        # one trace: HTTP request -> outbox -> broker -> investigation -> broker -> notification
        def trace_of_post() -> str | None:
            for span in stack.spans():
                if span["kind"] == "SpanKind.SERVER" and span["name"] == "POST /api/v1/complaints":
                    return str(span["context"]["trace_id"])
            return None

        trace_id = trace_of_post()
        assert trace_id is not None
        in_trace = [s for s in stack.spans() if s["context"]["trace_id"] == trace_id]
        kinds = {(s["resource"]["attributes"]["service.name"], s["kind"]) for s in in_trace}
        assert {
            ("intake", "SpanKind.SERVER"),
            ("intake", "SpanKind.PRODUCER"),
            ("investigation", "SpanKind.CONSUMER"),
            ("investigation", "SpanKind.PRODUCER"),
            ("notification", "SpanKind.CONSUMER"),
        } <= kinds
        told = [s for s in in_trace if s["resource"]["attributes"]["service.name"] == "notification"]
        # complaint.registered and investigation.opened consumed; the notification.delivered
        # events of their in-app notices continue the same trace
        assert len([s for s in told if s["kind"] == "SpanKind.CONSUMER"]) == 2
        assert ("notification", "SpanKind.PRODUCER") in kinds

        # penalty: a responsibility determination from the exchange opens an assessment
        determination = new_event(
            type="investigation.responsibility_determined",
            source="/services/investigation",
            factory="F01",
            subject=number,
            data={
                "number": number,
                "factory": "F01",
                "determined_at": record["registered_at"],
                "accident_class": "management_general",
                "loss_amount": "12345.60",
                "parties": [
                    {"kind": "role", "name": "shipping QC", "role": "shipping_qc", "share": "70"},
                    {"kind": "role", "name": "line QC", "role": "line_qc", "share": "30"},
                ],
                "rule_codes": ["split.visible_defect"],
            },
        )
        await publish(broker_ns, determination.routing_key, determination.to_json(), message_id=str(determination.id))

        async def assessments() -> list[dict[str, Any]]:
            answer = await client.get(f"{stack.url('penalty')}/api/v1/assessments", params={"complaint": number})
            found: list[dict[str, Any]] = answer.json()
            return found

        [assessment] = await wait_for(assessments)
        assert assessment["status"] == "draft"
        assert Decimal(assessment["determination"]["loss_amount"]) == Decimal("12345.60")
        assert [p["share"] for p in assessment["determination"]["parties"]] == ["70", "30"]
        # seed 000 §4.3.3.2: QC parties of a management-class accident pay compensation × the QC
        # table's (illustrative) coefficient × share; the unknown rule code is a warning, not a line
        assert [Decimal(x["amount"]) for x in assessment["lines"]] == [
            Decimal(v) for v in ("172.84", "43.21", "74.07", "18.52")
        ]
        assert {x["rule_code"] for x in assessment["lines"]} == {"4.3.3.2"}
        assert any("split.visible_defect" in w for w in assessment["warnings"])

        # every state change left an audit row in the service that made it (who / when / what / why)
        expected_actions = {
            "intake": ["register"],
            "investigation": ["open"],
            # registration, opening, the department head told of the determination and of the
            # draft assessment (DOMAIN.md §5)
            "notification": ["notify", "notify", "notify", "notify"],
            "penalty": ["assess"],
        }
        for service, actions in expected_actions.items():

            async def audit_trail(service: str = service, actions: list[str] = actions) -> list[dict[str, Any]]:
                answer = await client.get(f"{stack.url(service)}/api/v1/audit", params={"complaint": number})
                found: list[dict[str, Any]] = answer.json()
                # notification also audits the deadline timers it schedules ("schedule")
                told = [entry for entry in found if entry["action"] != "schedule"]
                return found if [entry["action"] for entry in told] == actions else []

            trail = await wait_for(audit_trail)
            assert all(entry["actor"] and entry["at"] and entry["after"] for entry in trail)
            if service == "notification":
                # the opened case's deadlines became reminder and escalation timers
                assert "schedule" in [entry["action"] for entry in trail]
        assert trail[0]["reason"].startswith("investigation.responsibility_determined")

        # 50 concurrent registrations in the same factory and month: 50 consecutive numbers
        answers = await asyncio.gather(
            *(
                client.post(f"{stack.url('intake')}/api/v1/complaints", json={**COMPLAINT, "external_ref": f"CRM-{i}"})
                for i in range(50)
            )
        )
        assert {a.status_code for a in answers} == {201}
        serials = sorted(int(a.json()["number"].rsplit("-", 1)[1]) for a in answers)
        assert serials == list(range(2, 52))

        # health, readiness, metrics and the message docs answer on every service
        for service in SERVICES:
            ready = await client.get(f"{stack.url(service)}/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
            metrics = await client.get(f"{stack.url(service)}/metrics")
            assert "cqm_outbox_pending" in metrics.text
            asyncapi = (await client.get(f"{stack.url(service)}/asyncapi.json")).json()
            assert asyncapi["asyncapi"].startswith("3.")
