"""The CloudEvents envelope (CONTRACT.md "Messages")."""

from __future__ import annotations

import json

import pytest

from cqm_shared.contracts import CloudEvent, EventValidationError, new_event, parse_payload
from cqm_shared.contracts.events import InvestigationOpened, ResponsibilityDetermined


def test_routing_key_is_type_and_lower_case_factory() -> None:
    event = new_event(type="complaint.registered", source="/services/intake", factory="F01", data={})
    assert event.routing_key == "complaint.registered.f01"


def test_round_trip_keeps_every_attribute() -> None:
    event = new_event(
        type="complaint.registered",
        source="/services/intake",
        factory="F02",
        subject="F02-2611-0001",
        data={"a": 1},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["dataversion"] == 1
    assert body["time"].endswith("Z") or "+00:00" in body["time"]
    assert CloudEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"not json", "json"),
        (
            b'{"specversion": "0.3", "id": "7d0c2f8e-8a38-4b51-9b86-1f1bd4b4a2a1", "type": "a.b", '
            b'"source": "/x", "time": "2026-11-21T08:00:00Z", "factory": "F01", "data": {}}',
            "specversion",
        ),
        (
            b'{"specversion": "1.0", "id": "7d0c2f8e-8a38-4b51-9b86-1f1bd4b4a2a1", "type": "a.b", '
            b'"source": "/x", "time": "2026-11-21T08:00:00Z", "data": {}}',
            "factory",
        ),
        (
            b'{"specversion": "1.0", "id": "nope", "type": "a.b", '
            b'"source": "/x", "time": "2026-11-21T08:00:00Z", "factory": "F01", "data": {}}',
            "id",
        ),
    ],
)
def test_malformed_messages_are_rejected_with_reason(body: bytes, fragment: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        CloudEvent.from_json(body)
    assert fragment in str(caught.value).lower()


def test_unknown_schema_version_is_refused() -> None:
    event = new_event(type="investigation.opened", source="/x", factory="F01", data={}, dataversion=9)
    with pytest.raises(EventValidationError, match="v9"):
        parse_payload(event, InvestigationOpened)


def test_responsibility_shares_must_sum_to_100() -> None:
    # DOMAIN.md §3.5: parties with percentage shares that sum to 100 %
    data = {
        "number": "F01-2611-0001",
        "factory": "F01",
        "determined_at": "2026-11-21T08:00:00Z",
        "accident_class": "management_general",
        "loss_amount": "1000.00",
        "parties": [
            {"kind": "role", "name": "line QC", "share": "70"},
            {"kind": "role", "name": "process owner", "share": "20"},
        ],
    }
    event = new_event(type="investigation.responsibility_determined", source="/x", factory="F01", data=data)
    with pytest.raises(EventValidationError, match="sum to 100"):
        parse_payload(event, ResponsibilityDetermined)
    data["parties"][1]["share"] = "30"  # type: ignore[index]
    event = new_event(type="investigation.responsibility_determined", source="/x", factory="F01", data=data)
    parsed = parse_payload(event, ResponsibilityDetermined)
    assert sum(p.share for p in parsed.parties) == 100
