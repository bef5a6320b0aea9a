"""The AsyncAPI document of a service, describing messages as they are on the wire.

FastStream documents its publishers and subscribers with the Python payload as the whole
message. On the wire every message is a CloudEvents 1.0 envelope in JSON structured mode
(`application/cloudevents+json`, CONTRACT.md "Messages"), persistent, published to the topic
exchange with the routing key `<type>.<factory, lower case>`. `describe_cloudevents` rewrites
the generated document accordingly, in one place, for published and consumed messages alike.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from cqm_shared.contracts.envelope import CONTENT_TYPE, FACTORY_PATTERN
from cqm_shared.contracts.events import EVENT_PAYLOADS

# CONTRACT.md "Event types": who produces what. A service's document declares the events it
# produces even before their payload has a model ("payload schema to follow").
CONTRACT_PRODUCERS: dict[str, str] = {
    "complaint.submitted": "external",
    "complaint.registered": "intake",
    "complaint.rejected": "intake",
    "complaint.amended": "intake",
    "complaint.withdrawn": "intake",
    "investigation.opened": "investigation",
    "investigation.triaged": "investigation",
    "investigation.containment_recorded": "investigation",
    "investigation.responsibility_determined": "investigation",
    "investigation.responsibility_disputed": "investigation",
    "investigation.dispute_ruled": "investigation",
    "investigation.action_added": "investigation",
    "investigation.action_verified": "investigation",
    "investigation.customer_replied": "investigation",
    "investigation.closed": "investigation",
    "investigation.reopened": "investigation",
    "penalty.assessed": "penalty",
    "penalty.appealed": "penalty",
    "penalty.finalized": "penalty",
    "penalty.period_closed": "penalty",
    "sla.warning": "notification",
    "sla.breached": "notification",
    "notification.delivered": "notification",
    "notification.failed": "notification",
}

ENVELOPE = "CloudEvent"
DATA_VERSION = 1
TO_FOLLOW = "payload schema to follow"
_FACTORY_SUFFIX = ".{factory}"
_PERSISTENT = 2  # AMQP delivery mode

# The attributes of `contracts.envelope.CloudEvent`, as CONTRACT.md names them.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "CloudEvents 1.0 envelope (JSON structured mode)",
    "description": "Every message of the suite; extension attributes other than these may be present.",
    "required": ["specversion", "id", "type", "source", "time", "factory", "data"],
    "properties": {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "format": "uuid", "description": "unique per event; the idempotency key"},
        "type": {"type": "string", "description": "the event type, e.g. complaint.registered"},
        "source": {
            "type": "string",
            "minLength": 1,
            "description": "the producer: /services/<service> or the external system's URI",
        },
        "time": {"type": "string", "format": "date-time", "description": "when it happened (RFC 3339, UTC)"},
        "subject": {"type": "string", "description": "the complaint number, once it has one"},
        "datacontenttype": {"type": "string", "default": "application/json", "description": "media type of `data`"},
        "dataversion": {"type": "integer", "minimum": 1, "description": "schema version of `data`"},
        "factory": {
            "type": "string",
            "pattern": FACTORY_PATTERN,
            "description": "extension: factory code, upper case; lower-cased in the routing key",
        },
        "traceparent": {
            "type": "string",
            "description": "extension: W3C trace context, so traces continue across the broker",
        },
        "data": {"type": "object", "description": "the payload"},
    },
    "additionalProperties": True,
}

FACTORY_PARAMETER: dict[str, Any] = {
    "description": "the event's `factory` attribute in lower case, e.g. f01 (a factory deployment binds `*.*.f01`)",
    "examples": ["f01"],
}


def published_events(service: str, documented: Iterable[str] = ()) -> dict[str, type[BaseModel] | None]:
    """What `service` publishes: its events in the contract and those it documents itself,
    each with its payload model when it has one (dataversion 1)."""
    types = [t for t, producer in CONTRACT_PRODUCERS.items() if producer == service]
    types += [t for t in documented if t not in types]
    return {t: EVENT_PAYLOADS.get((t, DATA_VERSION)) for t in types}


def documented_publications(document: Mapping[str, Any]) -> list[str]:
    """Event types of the publishers FastStream documented (channel address `<type>.{factory}`)."""
    found = []
    for channel in document.get("channels", {}).values():
        address = str(channel.get("address", ""))
        if address.endswith(_FACTORY_SUFFIX):
            found.append(address.removesuffix(_FACTORY_SUFFIX))
    return found


def describe_cloudevents(
    document: dict[str, Any],
    *,
    published: Mapping[str, type[BaseModel] | None],
    consumed: Mapping[str, Sequence[str]],
    exchange: str,
) -> dict[str, Any]:
    """Make every message of `document` the CloudEvent it is on the wire.

    `published`: event type -> payload model (None: a generic `data`, schema to follow);
    each gets a channel `<type>.{factory}` with its `factory` parameter and a send operation.
    `consumed`: queue name -> the event types its subscriber accepts.
    """
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    messages = components.setdefault("messages", {})
    channels = document.setdefault("channels", {})
    operations = document.setdefault("operations", {})
    schemas[ENVELOPE] = copy.deepcopy(ENVELOPE_SCHEMA)
    document["defaultContentType"] = CONTENT_TYPE
    servers = [{"$ref": f"#/servers/{name}"} for name in document.get("servers", {})]

    for event_type, model in published.items():
        channel_name = _channel_named(channels, f"{event_type}{_FACTORY_SUFFIX}") or event_type
        channel = channels.setdefault(channel_name, {})
        message_refs = channel.get("messages") or {"Message": {"$ref": f"#/components/messages/{event_type}:Message"}}
        message_key, message_ref = next(iter(message_refs.items()))
        message_name = message_ref["$ref"].rsplit("/", 1)[1]
        existing = messages.get(message_name, {}).get("payload")
        data = _data_schema(schemas, model, existing)
        messages[message_name] = {**messages.get(message_name, {}), **_message(schemas, event_type, data)}
        channel.update(
            {
                "address": f"{event_type}{_FACTORY_SUFFIX}",
                "description": channel.get("description") or f"CloudEvent `{event_type}` published via the outbox",
                "messages": {message_key: message_ref},
                "parameters": {"factory": copy.deepcopy(FACTORY_PARAMETER)},
                "bindings": channel.get("bindings") or _exchange_binding(exchange),
                "servers": channel.get("servers") or servers,
            }
        )
        operation = operations.setdefault(
            channel_name,
            {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_name}"},
                "messages": [{"$ref": f"#/channels/{channel_name}/messages/{message_key}"}],
            },
        )
        binding = operation.setdefault("bindings", {}).setdefault("amqp", {"bindingVersion": "0.3.0"})
        binding.update({"cc": [f"{event_type}{_FACTORY_SUFFIX}"], "deliveryMode": _PERSISTENT})

    for queue, event_types in consumed.items():
        message = messages.get(f"{queue}:SubscribeMessage")
        if message is None:
            continue
        refs = []
        for event_type in event_types:
            data = _data_schema(schemas, EVENT_PAYLOADS.get((event_type, DATA_VERSION)), None)
            envelope = _envelope(schemas, event_type, data)
            refs.append({"$ref": f"#/components/schemas/{envelope}"})
        message.update(
            {
                "payload": refs[0] if len(refs) == 1 else {"oneOf": refs},
                "contentType": CONTENT_TYPE,
                "summary": f"CloudEvents 1.0, structured JSON, of type {', '.join(event_types)}, "
                f"dataversion {DATA_VERSION}",
            }
        )
    _drop_unused(schemas, document, "EmptyPayload")  # FastStream's placeholder for raw subscribers
    return document


def _channel_named(channels: Mapping[str, Any], address: str) -> str | None:
    return next((name for name, channel in channels.items() if channel.get("address") == address), None)


def _data_schema(schemas: dict[str, Any], model: type[BaseModel] | None, existing: Any) -> dict[str, Any]:
    """A reference to the payload model's schema, else what was documented, else a generic object."""
    if model is not None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    if isinstance(existing, dict) and existing:
        ref = str(existing.get("$ref", ""))
        if not ref.startswith(f"#/components/schemas/{ENVELOPE}"):
            return existing  # the payload FastStream documented from the publisher's schema
        described = schemas.get(ref.rsplit("/", 1)[1], {}).get("allOf", [])
        if len(described) == 2:  # described before: keep its `data`
            return dict(described[1]["properties"]["data"])
    return {"type": "object", "description": TO_FOLLOW}


def _envelope(schemas: dict[str, Any], event_type: str, data: dict[str, Any]) -> str:
    """The named schema of one event type's envelope: the common attributes plus its `type` and `data`."""
    name = f"{ENVELOPE}.{event_type}"
    schemas[name] = {
        "title": f"{event_type} (CloudEvents 1.0)",
        "allOf": [
            {"$ref": f"#/components/schemas/{ENVELOPE}"},
            {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "type": {"const": event_type},
                    "dataversion": {"const": DATA_VERSION},
                    "data": data,
                },
            },
        ],
    }
    return name


def _message(schemas: dict[str, Any], event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    summary = f"CloudEvents 1.0, structured JSON, of type {event_type}, dataversion {DATA_VERSION}"
    if data.get("description") == TO_FOLLOW:
        summary += f"; {TO_FOLLOW}"
    return {
        "name": event_type,
        "title": event_type,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": f"#/components/schemas/{_envelope(schemas, event_type, data)}"},
        "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": event_type, "bindingVersion": "0.3.0"}},
    }


def _exchange_binding(exchange: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "bindingVersion": "0.3.0",
            "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
        }
    }


def _drop_unused(schemas: dict[str, Any], document: Mapping[str, Any], name: str) -> None:
    """Remove schema `name` when nothing else in the document refers to it."""
    if name not in schemas:
        return
    rest = {k: v for k, v in schemas.items() if k != name}
    others = {**document, "components": {**document["components"], "schemas": rest}}
    if f'"#/components/schemas/{name}"' not in json.dumps(others):
        del schemas[name]
