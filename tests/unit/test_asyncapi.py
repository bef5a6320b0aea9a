"""The AsyncAPI documents describe messages as they are on the wire (issue "One way to change
state"; CONTRACT.md "Messages"): CloudEvents 1.0 structured JSON envelopes
(`application/cloudevents+json`) with `data` inside, routing keys `<type>.{factory}` with the
`factory` parameter, persistent delivery, and every event type a service produces per the
contract's event table, even before its payload has a model."""

from __future__ import annotations

import copy
import importlib
import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from cqm_shared.asyncapi import CONTRACT_PRODUCERS, ENVELOPE_SCHEMA, TO_FOLLOW, describe_cloudevents
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.envelope import CONTENT_TYPE, CloudEvent, new_event
from cqm_shared.contracts.events import ComplaintRejected
from tests.conftest import BrokerNamespace
from tests.helpers import service_settings

FORM = {
    "factory": "F01",
    "channel": "portal",
    "customer": {"company": "Acme Precast", "contact_name": "Zhang", "email": "zhang@example.com"},
    "product": {"part_number": "PC-1", "quantity_shipped": 10, "quantity_defective": 1},
    "phenomenon": "尺寸超差 dimension out of tolerance",
}


def faststream_document() -> dict[str, Any]:
    """The shape FastStream generates: a raw subscriber and a publisher documented with its model."""
    return {
        "asyncapi": "3.0.0",
        "defaultContentType": "application/json",
        "servers": {"development": {"host": "127.0.0.1:5672", "protocol": "amqp"}},
        "channels": {
            "intake.submissions": {
                "address": "complaint.submitted.*",
                "servers": [{"$ref": "#/servers/development"}],
                "messages": {"SubscribeMessage": {"$ref": "#/components/messages/intake.submissions:SubscribeMessage"}},
            },
            "complaint.rejected": {
                "address": "complaint.rejected.{factory}",
                "servers": [{"$ref": "#/servers/development"}],
                "messages": {"Message": {"$ref": "#/components/messages/complaint.rejected:Message"}},
            },
        },
        "operations": {
            "intake.submissions": {"action": "receive", "channel": {"$ref": "#/channels/intake.submissions"}},
            "complaint.rejected": {
                "action": "send",
                "channel": {"$ref": "#/channels/complaint.rejected"},
                "bindings": {"amqp": {"cc": ["complaint.rejected.{factory}"], "deliveryMode": 1}},
            },
        },
        "components": {
            "messages": {
                "intake.submissions:SubscribeMessage": {"payload": {"$ref": "#/components/schemas/EmptyPayload"}},
                "complaint.rejected:Message": {"payload": {"$ref": "#/components/schemas/ComplaintRejected"}},
            },
            "schemas": {
                "EmptyPayload": {"type": "null"},
                "ComplaintRejected": ComplaintRejected.model_json_schema(),
            },
        },
    }


def described(document: dict[str, Any] | None = None) -> dict[str, Any]:
    return describe_cloudevents(
        document or faststream_document(),
        published={"complaint.rejected": ComplaintRejected, "penalty.assessed": None},
        consumed={"intake.submissions": ["complaint.submitted", "investigation.triaged"]},
        exchange="complaints",
    )


def payload_validator(document: dict[str, Any], message: str) -> Draft202012Validator:
    """A validator of the message's payload, its `$ref`s resolved within the document."""
    payload = document["components"]["messages"][message]["payload"]
    return Draft202012Validator({**document, **payload}, format_checker=Draft202012Validator.FORMAT_CHECKER)


def wire(event: CloudEvent) -> Any:
    return json.loads(event.to_json())  # what the relay publishes


def test_published_messages_are_cloudevents_envelopes_with_their_payload() -> None:
    document = described()
    message = document["components"]["messages"]["complaint.rejected:Message"]
    assert message["contentType"] == CONTENT_TYPE == document["defaultContentType"]
    envelope = document["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
    base, specific = envelope["allOf"]
    assert base == {"$ref": "#/components/schemas/CloudEvent"}
    assert specific["properties"]["type"] == {"const": "complaint.rejected"}
    assert specific["properties"]["data"] == {"$ref": "#/components/schemas/ComplaintRejected"}
    assert set(ENVELOPE_SCHEMA["required"]) == {"specversion", "id", "type", "source", "time", "factory", "data"}

    validator = payload_validator(document, "complaint.rejected:Message")
    data = {"original_event_id": str(uuid.uuid4()), "errors": [{"field": "customer", "message": "required"}]}
    event = new_event(type="complaint.rejected", source="/services/intake", factory="F01", data=data)
    validator.validate(wire(event))
    # the defect: the document described only `data` as the whole message
    with pytest.raises(ValidationError):
        validator.validate(data)
    for broken in (
        {k: v for k, v in wire(event).items() if k != "specversion"},
        {**wire(event), "type": "complaint.registered"},
        {**wire(event), "factory": "f01"},
        {**wire(event), "data": {"errors": "none"}},
    ):
        with pytest.raises(ValidationError):
            validator.validate(broken)


def test_the_envelope_schema_names_every_attribute_of_the_envelope_model() -> None:
    assert set(ENVELOPE_SCHEMA["properties"]) == set(CloudEvent.model_fields)


def test_routing_keys_have_the_factory_parameter_and_delivery_is_persistent() -> None:
    document = described()
    for name in ("complaint.rejected", "penalty.assessed"):
        channel = document["channels"][name]
        assert channel["address"] == f"{name}.{{factory}}"
        assert set(channel["parameters"]) == {"factory"} and channel["parameters"]["factory"]["description"]
        assert channel["servers"] == [{"$ref": "#/servers/development"}]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "complaints"
        operation = document["operations"][name]
        assert operation["action"] == "send" and operation["channel"] == {"$ref": f"#/channels/{name}"}
        assert operation["bindings"]["amqp"]["deliveryMode"] == 2  # persistent, as the relay publishes
        assert operation["bindings"]["amqp"]["cc"] == [f"{name}.{{factory}}"]


def test_an_event_without_payload_model_is_an_envelope_with_data_to_follow() -> None:
    document = described()
    message = document["components"]["messages"]["penalty.assessed:Message"]
    assert TO_FOLLOW in message["summary"] and message["contentType"] == CONTENT_TYPE
    validator = payload_validator(document, "penalty.assessed:Message")
    event = new_event(type="penalty.assessed", source="/services/penalty", factory="F01", data={"anything": 1})
    validator.validate(wire(event))
    with pytest.raises(ValidationError):
        validator.validate({**wire(event), "type": "penalty.finalized"})


def test_consumed_messages_are_envelopes_of_each_accepted_type() -> None:
    document = described()
    message = document["components"]["messages"]["intake.submissions:SubscribeMessage"]
    assert message["contentType"] == CONTENT_TYPE
    assert message["payload"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/CloudEvent.complaint.submitted"},
            {"$ref": "#/components/schemas/CloudEvent.investigation.triaged"},
        ]
    }
    validator = payload_validator(document, "intake.submissions:SubscribeMessage")
    sent = new_event(type="complaint.submitted", source="https://crm.example.com", factory="F01", data=FORM)
    validator.validate(wire(sent))
    with pytest.raises(ValidationError):
        validator.validate(FORM)  # `data` alone is not what other systems send
    assert "EmptyPayload" not in document["components"]["schemas"]  # FastStream's placeholder, now unused


def test_describing_twice_changes_nothing() -> None:
    once = described()
    assert described(copy.deepcopy(once)) == once


SERVICES = ["intake", "investigation", "penalty", "notification"]


def build(service: str) -> FastAPI:
    create_app = importlib.import_module(f"{service}.main").create_app
    app: FastAPI = create_app(
        service_settings(service, "sqlite+aiosqlite:///:memory:", BrokerNamespace("amqp://guest:guest@127.0.0.1:5672/"))
    )
    return app


async def document_of(app: FastAPI) -> dict[str, Any]:
    route = next(r for r in app.routes if getattr(r, "path", None) == "/asyncapi.json")
    document: dict[str, Any] = await route.endpoint()  # type: ignore[attr-defined]
    return document


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_documents_its_messages_as_cloudevents(service: str) -> None:
    document = await document_of(build(service))
    messages = document["components"]["messages"]
    assert messages
    for name, message in messages.items():
        assert message["contentType"] == CONTENT_TYPE, name
        refs = message["payload"].get("oneOf", [message["payload"]])
        assert all(r["$ref"].startswith("#/components/schemas/CloudEvent.") for r in refs), name
    published = {
        c["address"].removesuffix(".{factory}"): c for c in document["channels"].values() if "{factory}" in c["address"]
    }
    # what CONTRACT.md's event table says this service produces, each with its factory parameter
    assert {t for t, producer in CONTRACT_PRODUCERS.items() if producer == service} <= set(published)
    assert all("factory" in c["parameters"] for c in published.values())


async def test_penalty_and_notification_declare_what_they_will_send() -> None:
    expected = {
        "penalty": {"penalty.assessed", "penalty.appealed", "penalty.finalized", "penalty.period_closed"},
        "notification": {"sla.warning", "sla.breached", "notification.delivered", "notification.failed"},
    }
    for service, types in expected.items():
        document = await document_of(build(service))
        addresses = {c["address"] for c in document["channels"].values()}
        assert {f"{t}.{{factory}}" for t in types} <= addresses, service


def test_registered_record_is_the_data_of_complaint_registered() -> None:
    document = describe_cloudevents(
        faststream_document(), published={"complaint.registered": ComplaintRecord}, consumed={}, exchange="complaints"
    )
    envelope = document["components"]["schemas"]["CloudEvent.complaint.registered"]
    assert envelope["allOf"][1]["properties"]["data"] == {"$ref": "#/components/schemas/ComplaintRecord"}
    assert "ComplaintRecord" in document["components"]["schemas"]
