"""Intake, complete (issue 4): events from other systems, repeats, corrections, search,
export, statistics, on the real broker and both databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintForm
from cqm_shared.contracts.envelope import CloudEvent, new_event
from cqm_shared.messaging.consumer import REASON_HEADER
from cqm_shared.messaging.outbox import pending_count
from intake.adapters.orm import complaints, rejected_submissions
from intake.service.handlers import register_complaint
from intake.service.unit_of_work import IntakeUnitOfWork
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, drain, drain_all, publish, running_service, unit_of_work, wait_for
from tests.integration.test_numbering import form


def client(app: FastAPI, roles: str = "customer_service", factories: str = "*") -> httpx.AsyncClient:
    return asgi_client(app, auth(roles, factories))


async def bind_probe(ns: BrokerNamespace, *keys: str) -> str:
    name = f"{ns.queue_prefix}probe"
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(ns.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        for key in keys:
            await queue.bind(exchange, key)
    return name


@pytest.fixture
async def intake(database_url: str, broker_ns: BrokerNamespace) -> AsyncIterator[FastAPI]:
    async with running_service("intake", database_url, broker_ns) as app:
        yield app


async def count(app: FastAPI, table: sa.Table) -> int:
    async with app.state.runtime.sessions() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def submitted(data: dict[str, Any], *, source: str = "https://crm.example.com", factory: str = "F01") -> CloudEvent:
    return new_event(type="complaint.submitted", source=source, factory=factory, data=data)


# -- events from other systems (CONTRACT.md complaint.submitted / complaint.rejected) ------------------


async def test_a_submission_retried_three_times_registers_one_complaint(
    intake: FastAPI, broker_ns: BrokerNamespace
) -> None:
    probe = await bind_probe(broker_ns, "complaint.registered.*")
    data = {**form("F01"), "channel": "system", "external_ref": "CRM-2026-004711"}
    first = submitted(data)
    # the sender retries: the same event id twice, then a new id with the same external_ref
    for event in (first, first, submitted(data)):
        await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))
    # A positive barrier instead of a pause: the consumer has counted a final outcome for each of
    # the three deliveries (they may be handled concurrently, so a later marker message would not
    # prove the earlier ones done), and the outbox is empty, so every registration they caused
    # has been confirmed by the broker, i.e. routed to the probe queue.
    queue = f"{broker_ns.queue_prefix}intake.submissions"

    async def all_handled_and_relayed() -> bool:
        handled = sum(
            REGISTRY.get_sample_value("cqm_events_consumed_total", {"queue": queue, "outcome": outcome}) or 0.0
            for outcome in ("processed", "duplicate", "ignored", "dead_lettered")
        )
        async with intake.state.runtime.sessions() as session:
            pending = await pending_count(session, intake.state.runtime.tables.outbox)
        return handled >= 3 and pending == 0

    await wait_for(all_handled_and_relayed, timeout=20)
    assert await count(intake, complaints) == 1
    [message] = await drain_all(broker_ns, probe)
    record = CloudEvent.from_json(message.body).data
    assert record["external_ref"] == "CRM-2026-004711" and record["channel"] == "system"
    async with client(intake, "auditor", "F01") as c:
        [entry] = (await c.get("/api/v1/audit", params={"complaint": record["number"]})).json()
    assert entry["actor"] == "system:https://crm.example.com"


async def test_the_same_reference_from_another_sender_is_another_complaint(
    intake: FastAPI, broker_ns: BrokerNamespace
) -> None:
    probe = await bind_probe(broker_ns, "complaint.registered.*")
    data = {**form("F01"), "external_ref": "REF-1"}
    for source in ("https://crm.example.com", "https://erp.example.com"):
        event = submitted(data, source=source)
        await publish(broker_ns, event.routing_key, event.to_json())
    assert len(await drain(broker_ns, probe, expect=2, timeout=15)) == 2


async def test_an_invalid_submission_is_answered_with_complaint_rejected(
    intake: FastAPI, broker_ns: BrokerNamespace
) -> None:
    probe = await bind_probe(broker_ns, "complaint.rejected.*")
    bad = {
        **form("F01"),
        "external_ref": "CRM-BAD-1",
        "product": {"part_number": "P", "quantity_shipped": 1, "quantity_defective": 5},
    }
    bad["customer"] = {"company": "A", "contact_name": "B"}
    event = submitted(bad)
    unknown_factory = submitted({**form("F09")}, factory="F09")
    for e in (event, unknown_factory):
        await publish(broker_ns, e.routing_key, e.to_json(), message_id=str(e.id))
    answers = [CloudEvent.from_json(m.body) for m in await drain(broker_ns, probe, expect=2, timeout=15)]
    by_original = {a.data["original_event_id"]: a for a in answers}
    rejected = by_original[str(event.id)]
    assert rejected.type == "complaint.rejected" and rejected.routing_key == "complaint.rejected.f01"
    assert rejected.data["external_ref"] == "CRM-BAD-1"
    fields = {e["field"] for e in rejected.data["errors"]}
    assert {"customer", "product"} <= fields
    assert by_original[str(unknown_factory.id)].data["errors"] == [
        {"field": "factory", "message": "unknown factory F09"}
    ]
    assert await count(intake, complaints) == 0
    assert await count(intake, rejected_submissions) == 2  # nothing is lost


# -- repeats (DOMAIN.md §2: same customer + order + part within a window) ---------------------------


async def test_repeats_are_linked_flagged_and_not_double_counted(intake: FastAPI) -> None:
    policies = intake.state.policies
    base = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    async def at(moment: datetime, company: str, order: str = "SO-1", part: str = "PC-1") -> str:
        data = {
            **form("F01"),
            "customer": {"company": company, "contact_name": "王", "phone": "13800000000"},
            "product": {"part_number": part, "order_number": order},
        }
        registration = await register_complaint(
            unit_of_work(intake, IntakeUnitOfWork, at=moment), policies, ComplaintForm.model_validate(data), source="/t"
        )
        return registration.complaint.number

    first = await at(base, "华东建工 Ltd.")
    again = await at(base + timedelta(days=3), "华东建工ＬＴＤ")  # full-width, other punctuation: same customer
    third = await at(base + timedelta(days=10), "华东建工 ltd")
    other_part = await at(base + timedelta(days=4), "华东建工 Ltd.", part="PC-2")
    later = await at(base + timedelta(days=45), "华东建工 Ltd.")  # outside the 30-day window (policy)
    async with client(intake) as c:

        def repeat_of(number: str) -> Any:
            return c.get(f"/api/v1/complaints/{number}")

        assert (await repeat_of(first)).json()["repeat_of"] is None
        assert (await repeat_of(again)).json()["repeat_of"] == first
        assert (await repeat_of(third)).json()["repeat_of"] == first  # linked to the first of the chain
        assert (await repeat_of(other_part)).json()["repeat_of"] is None
        assert (await repeat_of(later)).json()["repeat_of"] is None
        stats = (await c.get("/api/v1/stats/complaints", params={"factory": "F01"})).json()
        assert stats["complaints"] == 3 and stats["repeats"] == 2
        assert stats["by_month"] == {"2026-11": 2, "2026-12": 1}
        page = (await c.get("/api/v1/complaints", params={"include_repeats": "false", "limit": 50})).json()
        assert {i["number"] for i in page["items"]} == {first, other_part, later}


# -- corrections and withdrawal (DOMAIN.md §7: corrections keep the original) ------------------------


async def test_amendments_keep_the_original_and_are_published(intake: FastAPI, broker_ns: BrokerNamespace) -> None:
    probe = await bind_probe(broker_ns, "complaint.amended.*", "complaint.withdrawn.*")
    async with client(intake) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
        product = {"part_number": "PC-0", "quantity_shipped": 10, "quantity_defective": 3}
        amended = await c.post(
            f"/api/v1/complaints/{number}/amendments",
            json={
                "changes": {"product": product, "phenomenon": "裂缝 crack"},
                "reason": "客户更正数量 customer corrected",
            },
        )
        assert amended.status_code == 200, amended.text
        changes = {ch["field"]: (ch["before"], ch["after"]) for ch in amended.json()["changes"]}
        assert changes["product.quantity_defective"] == (1, 3)
        assert changes["phenomenon"] == ("尺寸超差 dimension out of tolerance", "裂缝 crack")
        assert "product.part_number" not in changes  # unchanged leaves are not listed
        current = (await c.get(f"/api/v1/complaints/{number}")).json()
        assert current["product"]["quantity_defective"] == 3 and current["defect_rate"] == "30.00"
        history = (await c.get(f"/api/v1/complaints/{number}/history")).json()
        [revision] = history["revisions"]
        assert revision["revision"] == 1 and revision["reason"].startswith("客户更正数量")
        assert revision["record_before"]["product"]["quantity_defective"] == 1  # the original is kept
        refused = await c.post(
            f"/api/v1/complaints/{number}/amendments",
            json={
                "changes": {"product": {"part_number": "P", "quantity_shipped": 1, "quantity_defective": 2}},
                "reason": "x",
            },
        )
        assert refused.status_code == 422
        fixed = await c.post(
            f"/api/v1/complaints/{number}/amendments", json={"changes": {"factory": "F02"}, "reason": "x"}
        )
        assert fixed.status_code == 422  # not an amendable field
        withdrawn = await c.post(f"/api/v1/complaints/{number}/withdrawal", json={"reason": "客户撤回 withdrawn"})
        assert withdrawn.json()["status"] == "withdrawn"
        assert (await c.post(f"/api/v1/complaints/{number}/withdrawal", json={"reason": "again"})).status_code == 409
        late = await c.post(
            f"/api/v1/complaints/{number}/amendments", json={"changes": {"current_state": "x"}, "reason": "x"}
        )
        assert late.status_code == 409
        assert [r["action"] for r in (await c.get(f"/api/v1/complaints/{number}/history")).json()["revisions"]] == [
            "amend",
            "withdraw",
        ]
    events = [CloudEvent.from_json(m.body) for m in await drain(broker_ns, probe, expect=2, timeout=15)]
    assert [e.type for e in events] == ["complaint.amended", "complaint.withdrawn"]
    assert events[0].data["changes"] and events[0].data["record"]["product"]["quantity_defective"] == 3
    assert events[1].data["reason"] == "客户撤回 withdrawn"
    async with client(intake, "auditor") as c:
        trail = (await c.get("/api/v1/audit", params={"complaint": number})).json()
    assert [e["action"] for e in trail] == ["register", "amend", "withdraw"]
    assert trail[1]["before"]["product"]["quantity_defective"] == 1


# -- search, sort, pagination, export ----------------------------------------------------------------


async def test_search_filters_sort_paginate_and_export(intake: FastAPI, broker_ns: BrokerNamespace) -> None:
    async with client(intake) as c:
        numbers = []
        for i, (factory, company, part, text) in enumerate(
            [
                ("F01", "Acme Precast", "PC-100", "边角破损 chipped"),
                ("F01", "Beta Build", "PC-200", "露筋 exposed rebar"),
                ("F02", "Acme Precast", "PC-100", "裂缝 crack"),
                ("F01", "=cmd|' /C calc'!A0", "PC-300", "formula"),
            ]
        ):
            data = {
                **form(factory, i),
                "customer": {"company": company, "contact_name": "x", "phone": "13800000000"},
                "product": {"part_number": part},
                "phenomenon": text,
            }
            numbers.append((await c.post("/api/v1/complaints", json=data)).json()["number"])

        async def found(**params: Any) -> list[str]:
            page = (await c.get("/api/v1/complaints", params=params)).json()
            return [i["number"] for i in page["items"]]

        assert set(await found(customer="acme")) == {numbers[0], numbers[2]}
        assert await found(part="PC-200") == [numbers[1]]
        assert await found(q="REBAR") == [numbers[1]]
        assert await found(q="裂缝") == [numbers[2]]
        assert set(await found(factory="F02")) == {numbers[2]}
        assert await found(status="withdrawn") == []
        assert await found(sort="registered_at", limit=50) == sorted(numbers, key=lambda n: numbers.index(n))
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert await found(**{"from": future}) == []
        # walking the cursor visits every complaint once, newest first
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await c.get("/api/v1/complaints", params=params)).json()
            seen += [i["number"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(numbers))
        exported = await c.get("/api/v1/complaints/export.csv", params={"factory": "F01"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][0] == "编号 number" and [r[0] for r in rows[1:]] == [numbers[0], numbers[1], numbers[3]]
        assert rows[3][6].startswith("'=")  # a formula in a cell is defused
    # severity comes from triage (investigation.triaged)
    triaged = new_event(
        type="investigation.triaged",
        source="/services/investigation",
        factory="F01",
        subject=numbers[1],
        data={
            "number": numbers[1],
            "factory": "F01",
            "triaged_at": datetime.now(UTC).isoformat(),
            "valid": True,
            "category": "quality",
            "severity": "major",
        },
    )
    await publish(broker_ns, triaged.routing_key, triaged.to_json())
    async with client(intake, "quality_engineer", "F01") as c:

        async def major() -> list[str]:
            page = (await c.get("/api/v1/complaints", params={"severity": "major"})).json()
            return [i["number"] for i in page["items"]]

        assert await wait_for(major) == [numbers[1]]
        # a factory user exports only its own factory
        exported = await c.get("/api/v1/complaints/export.csv")
        assert numbers[2] not in exported.text


async def test_registration_by_http_is_idempotent_on_the_senders_reference(intake: FastAPI) -> None:
    async with client(intake, "integration", "F01") as c:
        data = {**form("F01"), "external_ref": "PORTAL-77"}
        answers = await asyncio.gather(*(c.post("/api/v1/complaints", json=data) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["number"] for a in answers}) == 1
    assert await count(intake, complaints) == 1


async def test_unknown_factory_is_a_field_error(intake: FastAPI) -> None:
    async with client(intake) as c:
        answer = await c.post("/api/v1/complaints", json=form("F09"))
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "factory", "message": "unknown factory F09", "type": "unknown_factory"}
        ]
        assert (await c.get("/api/v1/complaints", params={"factory": "F09"})).status_code == 422


def test_json_bodies_round_trip() -> None:
    # guard against a test helper drifting from the contract's form: every field the helper
    # sends is read as sent (a model instance is always truthy, so asserting it proved nothing)
    sent = json.loads(json.dumps(form("F01")))
    assert ComplaintForm.model_validate(sent).model_dump(mode="json", exclude_unset=True) == sent


async def test_asyncapi_documents_what_other_systems_send_and_receive(intake: FastAPI) -> None:
    async with client(intake) as c:
        document = (await c.get("/asyncapi.json")).json()
    channels = {c["address"]: name for name, c in document["channels"].items()}
    assert "complaint.submitted.*" in channels and "complaint.rejected.{factory}" in channels
    submitted = document["components"]["messages"][f"{channels['complaint.submitted.*']}:SubscribeMessage"]
    assert submitted["payload"] == {"$ref": "#/components/schemas/CloudEvent.complaint.submitted"}
    assert submitted["contentType"] == "application/cloudevents+json"
    envelope = document["components"]["schemas"]["CloudEvent.complaint.submitted"]
    assert envelope["allOf"][1]["properties"]["data"] == {"$ref": "#/components/schemas/ComplaintForm"}
    form_schema = document["components"]["schemas"]["ComplaintForm"]
    assert {"factory", "channel", "customer", "product", "phenomenon"} <= set(form_schema["required"])
    assert "Customer" in document["components"]["schemas"]


# -- the unit-of-work shape (issue 7): versions, envelopes, documented rules --------------------------


async def test_versions_etags_and_if_match_keep_two_editors_apart(intake: FastAPI) -> None:
    async with client(intake) as c:
        created = await c.post("/api/v1/complaints", json=form("F01"))
        number = created.json()["number"]
        assert created.headers["etag"] == '"1"' and created.json()["version"] == 1
        read = await c.get(f"/api/v1/complaints/{number}")
        assert read.headers["etag"] == '"1"' and read.json()["version"] == 1
        url = f"/api/v1/complaints/{number}"
        change = {"changes": {"current_state": "sorted"}, "reason": "new facts"}
        amended = await c.post(f"{url}/amendments", json=change, headers={"If-Match": '"1"'})
        assert amended.status_code == 200, amended.text
        assert amended.headers["etag"] == '"2"'
        stale = await c.post(f"{url}/amendments", json=change, headers={"If-Match": '"1"'})
        assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
        assert (stale.json()["expected_version"], stale.json()["version"]) == (1, 2)
        assert (await c.post(f"{url}/withdrawal", json={"reason": "x"}, headers={"If-Match": '"1"'})).status_code == 409
        assert (await c.post(f"{url}/amendments", json=change, headers={"If-Match": "soon"})).status_code == 422
        withdrawn = await c.post(f"{url}/withdrawal", json={"reason": "客户撤回"}, headers={"If-Match": '"2"'})
        assert withdrawn.status_code == 200 and withdrawn.headers["etag"] == '"3"'
        assert withdrawn.json()["version"] == 3 and withdrawn.json()["status"] == "withdrawn"
        refused = await c.post(f"{url}/amendments", json=change)
        assert refused.status_code == 409
        assert (refused.json()["state"], refused.json()["action"]) == ("withdrawn", "amend")
        assert "withdrawn" in refused.json()["detail"] and "amend" in refused.json()["detail"]
        history = (await c.get(f"{url}/history")).json()
        assert history["current"]["version"] == 3
        assert [r["action"] for r in history["revisions"]] == ["amend", "withdraw"]


async def test_a_submission_of_an_unsupported_dataversion_is_dead_lettered(
    intake: FastAPI, broker_ns: BrokerNamespace
) -> None:
    """It was registered as if it were version 1."""
    dlq = f"{broker_ns.queue_prefix}intake.submissions.dlq"
    future = json.loads(submitted({**form("F01"), "external_ref": "V99"}).to_json())
    future["dataversion"] = 99
    await publish(broker_ns, "complaint.submitted.f01", json.dumps(future).encode(), message_id=future["id"])
    [dead] = await drain(broker_ns, dlq, expect=1, timeout=15)
    reason = str(dead.headers[REASON_HEADER])
    assert "unsupported dataversion" in reason and "99" in reason
    assert json.loads(dead.body)["id"] == future["id"]
    assert await count(intake, complaints) == 0 and await count(intake, rejected_submissions) == 0


async def test_a_binary_mode_submission_is_registered(intake: FastAPI, broker_ns: BrokerNamespace) -> None:
    """CloudEvents AMQP binding, binary content mode: attributes as `cloudEvents:` properties, the form as body."""
    event = submitted({**form("F01"), "external_ref": "BIN-1"})
    headers: dict[str, Any] = {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": str(event.id),
        "cloudEvents:type": event.type,
        "cloudEvents:source": event.source,
        "cloudEvents:time": event.time.isoformat(),
        "cloudEvents:factory": "F01",
        "cloudEvents:dataversion": 1,
    }
    connection = await aio_pika.connect(broker_ns.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(broker_ns.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        body = json.dumps(event.data).encode()
        message = aio_pika.Message(body, content_type="application/json", headers=headers, message_id=str(event.id))
        await exchange.publish(message, routing_key=event.routing_key)

    async def registered() -> list[str]:
        async with intake.state.runtime.sessions() as session:
            found = sa.select(complaints.c.number, complaints.c.source).where(complaints.c.external_ref == "BIN-1")
            return [f"{r.number} {r.source}" for r in (await session.execute(found)).all()]

    [row] = await wait_for(registered)
    assert row.endswith(" https://crm.example.com")


async def test_the_export_streams_every_complaint_across_pages(database_url: str, broker_ns: BrokerNamespace) -> None:
    """It stopped silently at 50,000 rows; now every match is written, read in keyset pages
    (here of 2, all registered in the same microsecond: the number breaks the ties)."""
    clock = FakeClock(datetime(2026, 11, 21, 8, 30, tzinfo=UTC))
    async with running_service(
        "intake", database_url, broker_ns, app_kwargs={"clock": clock}, export_page_size=2
    ) as app:
        async with client(app) as c:
            for i in range(7):
                assert (await c.post("/api/v1/complaints", json=form("F01", i))).status_code == 201
            await c.post("/api/v1/complaints", json=form("F02", 9))
            exported = await c.get("/api/v1/complaints/export.csv", params={"factory": "F01"})
            everything = await c.get("/api/v1/complaints/export.csv")
        numbers = [r[0] for r in list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))[1:]]
        rows = list(csv.reader(io.StringIO(everything.content.decode("utf-8-sig"))))[1:]
        assert numbers == [f"F01-2611-{i:04d}" for i in range(1, 8)]  # every one, oldest first
        assert len(rows) == await count(app, complaints) == 8


async def test_triage_severity_is_a_revision_in_the_history(intake: FastAPI, broker_ns: BrokerNamespace) -> None:
    """The severity changed the complaint without a revision, so /history did not show it."""
    async with client(intake) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
    triaged = new_event(
        type="investigation.triaged",
        source="/services/investigation",
        factory="F01",
        subject=number,
        data={
            "number": number,
            "factory": "F01",
            "triaged_at": datetime.now(UTC).isoformat(),
            "valid": True,
            "category": "quality",
            "severity": "major",
            "actor": "user:qe-7",
        },
    )
    await publish(broker_ns, triaged.routing_key, triaged.to_json())
    async with client(intake, "quality_engineer", "F01") as c:

        async def revisions() -> list[dict[str, Any]]:
            history = (await c.get(f"/api/v1/complaints/{number}/history")).json()
            return list(history["revisions"])

        [revision] = await wait_for(revisions)
        current = (await c.get(f"/api/v1/complaints/{number}")).json()
    assert (revision["action"], revision["actor"], revision["revision"]) == ("severity", "user:qe-7", 1)
    assert revision["changes"] == [{"field": "severity", "before": None, "after": "major"}]
    assert revision["record_before"]["severity"] is None
    assert current["severity"] == "major" and current["version"] == 2
    async with client(intake, "auditor") as c:
        trail = (await c.get("/api/v1/audit", params={"complaint": number})).json()
    assert [e["action"] for e in trail] == ["register", "severity"]


async def test_the_documented_schema_and_the_behaviour_agree(intake: FastAPI) -> None:
    """What OpenAPI promises the server accepts, and what it refuses the schema states."""
    async with client(intake) as c:
        spec = (await c.get("/openapi.json")).json()
        schemas = spec["components"]["schemas"]
        # 100.0 is an integer to JSON Schema: a quantity sent so is read as 100
        assert schemas["Product"]["properties"]["quantity_shipped"]["anyOf"][0]["type"] == "integer"
        product = {"part_number": "PC-1", "quantity_shipped": 100.0, "quantity_defective": 2.0}
        whole = {**form("F01"), "product": product}
        created = await c.post("/api/v1/complaints", json=whole)
        assert created.status_code == 201, created.text
        assert created.json()["product"]["quantity_shipped"] == 100 and created.json()["defect_rate"] == "2.00"
        fraction = {**form("F01"), "product": {"part_number": "PC-1", "quantity_shipped": 100.5}}
        assert (await c.post("/api/v1/complaints", json=fraction)).status_code == 422
        number = created.json()["number"]
        # a correction names at least one field, and fields that cannot be empty are not nullable
        amendable = schemas["AmendableFields"]
        assert amendable["minProperties"] == 1
        assert "null" not in json.dumps(amendable["properties"]["channel"])
        for changes in ({}, {"channel": None}):
            answer = await c.post(f"/api/v1/complaints/{number}/amendments", json={"changes": changes, "reason": "x"})
            assert answer.status_code == 422, changes
        # attachments: the types, the non-empty rule and the refusals are in the document
        upload = spec["paths"]["/api/v1/complaints/{number}/attachments"]["post"]
        multipart = upload["requestBody"]["content"]["multipart/form-data"]
        assert set(multipart["encoding"]["file"]["contentType"].split(", ")) == {
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
        }
        body = schemas[multipart["schema"]["$ref"].rsplit("/", 1)[1]]
        assert body["required"] == ["file"] and body["properties"]["file"]["minLength"] == 1
        assert {"404", "409", "413", "415", "422"} <= set(upload["responses"])
        # an unknown complaint is 404 whatever the file (it was 422 for a missing or empty file)
        unknown = "/api/v1/complaints/F01-2611-0999/attachments"
        assert (await c.post(unknown, files={"file": ("e.png", b"", "image/png")})).status_code == 404
        assert (await c.post(unknown, data={"other": "x"}, files={"x": ("a", b"a")})).status_code == 404
