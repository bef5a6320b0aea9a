"""The investigation API answers from the case: its version (ETag), deadlines with their state,
and the complaint facts investigation keeps (not the whole public record)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from fastapi import FastAPI

from investigation.adapters.orm import cases
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, publish, running_service, wait_for
from tests.integration.events import registered


async def opened(app: FastAPI, number: str) -> bool:
    async with app.state.runtime.sessions() as session:
        found = await session.execute(sa.select(cases.c.number).where(cases.c.number == number))
        return found.first() is not None


async def test_a_case_is_read_with_its_version_deadlines_and_kept_facts(
    sqlite_url: str, broker_ns: BrokerNamespace
) -> None:
    event = registered(
        number="F01-2611-0301",
        market={"region": "domestic", "province": "out"},
        customer_request={"kind": "report_8d"},
        batch_return=True,
    )
    async with running_service("investigation", sqlite_url, broker_ns) as app:
        await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))
        await wait_for(lambda: opened(app, "F01-2611-0301"))
        async with asgi_client(app, auth("quality_engineer", "F01")) as client:
            answer = await client.get("/api/v1/investigations/F01-2611-0301")
        async with asgi_client(app, auth("quality_engineer", "F02")) as client:
            hidden = await client.get("/api/v1/investigations/F01-2611-0301")

    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert answer.headers["etag"] == '"1"' and case["version"] == 1
    assert (case["state"], case["factory"]) == ("opened", "F01")
    registered_at = datetime.fromisoformat(event.data["registered_at"])
    deadlines = {d["milestone"]: d for d in case["deadlines"]}
    assert datetime.fromisoformat(deadlines["close"]["due_at"]) == registered_at + timedelta(days=15)
    assert deadlines["close"]["source"].startswith("seed 000 §4.2.1")
    assert "preliminary_report" in deadlines
    assert {(d["state"], d["met_at"], d["cancelled_at"]) for d in deadlines.values()} == {("pending", None, None)}
    complaint = case["complaint"]
    assert complaint == {
        "number": "F01-2611-0301",
        "factory": "F01",
        "received_at": complaint["received_at"],
        "registered_at": complaint["registered_at"],
        "customer": {"company": "华东建工"},  # the contact person and phone stay with intake
        "product": {"part_number": "PC-100", "model": None},
        "phenomenon": "露筋 exposed rebar",
        "customer_request": {"kind": "report_8d"},
        "market": {"region": "domestic", "province": "out"},
        "batch_return": True,
        "quantity_defective": 2,
    }
    assert datetime.fromisoformat(complaint["registered_at"]) == registered_at
    assert [(h["action"], h["to_state"]) for h in case["history"]] == [("open", "opened")]
    assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
