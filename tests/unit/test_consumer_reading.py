"""What the thin consumer accepts before any handler runs (CONTRACT.md "Messages").

Both content modes of the CloudEvents AMQP binding are read; an unsupported `dataversion`
is refused with a reason (the consumer dead-letters it) instead of being read as another
version.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from cqm_shared.clock import SystemClock
from cqm_shared.contracts.complaint import ComplaintForm
from cqm_shared.contracts.envelope import CONTENT_TYPE, EventValidationError
from cqm_shared.messaging.consumer import EventConsumer, Handles
from cqm_shared.messaging.topology import Topology

FORM: dict[str, Any] = {
    "factory": "F01",
    "channel": "system",
    "customer": {"company": "华东建工", "contact_name": "王工", "phone": "13800000000"},
    "product": {"part_number": "PC-100"},
    "phenomenon": "露筋 exposed rebar",
}
ENVELOPE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "6f1c2f0e-4a51-4f0a-9a39-0c5d8f1f7e21",
    "type": "complaint.submitted",
    "source": "crm://erp-01",
    "time": "2026-11-21T08:30:00Z",
    "factory": "F01",
    "dataversion": 1,
    "data": FORM,
}


async def _nothing(uow: Any, message: Any) -> None:
    return None


def consumer() -> EventConsumer:
    return EventConsumer(
        queue_name="intake.submissions",
        consumer_id="intake.submissions",
        handlers={"complaint.submitted": Handles(_nothing)},
        units_of_work=None,  # type: ignore[arg-type]  # reading needs no unit of work
        sessions=None,  # type: ignore[arg-type]
        inbox=None,  # type: ignore[arg-type]
        broker=None,  # type: ignore[arg-type]
        topology=Topology(),
        clock=SystemClock(),
        retry_backoff=0,
        database=None,  # type: ignore[arg-type]
    )


def raw(body: bytes, headers: dict[str, Any] | None = None, content_type: str | None = CONTENT_TYPE) -> Any:
    return SimpleNamespace(body=body, headers=headers or {}, content_type=content_type)


def test_structured_mode_is_read_with_the_payload_model_of_its_version() -> None:
    event, model = consumer().read(raw(json.dumps(ENVELOPE).encode()))
    assert (event.type, event.dataversion, model) == ("complaint.submitted", 1, ComplaintForm)
    assert event.data == FORM


@pytest.mark.parametrize("prefix", ["cloudEvents:", "cloudEvents_", "ce-", "ce_"])
def test_binary_mode_attributes_in_headers_and_data_as_body(prefix: str) -> None:
    headers = {f"{prefix}{k}": v for k, v in ENVELOPE.items() if k != "data"}
    event, model = consumer().read(raw(json.dumps(FORM).encode(), headers, "application/json"))
    assert (str(event.id), event.source, event.factory, model) == (ENVELOPE["id"], "crm://erp-01", "F01", ComplaintForm)
    assert event.data == FORM


def test_binary_mode_with_text_version_header_is_read_as_that_version() -> None:
    headers = {f"cloudEvents:{k}": str(v).encode() for k, v in ENVELOPE.items() if k != "data"}
    event, _ = consumer().read(raw(json.dumps(FORM).encode(), headers, "application/json"))
    assert event.dataversion == 1


def test_binary_mode_refuses_data_that_is_not_json() -> None:
    headers = {f"ce-{k}": v for k, v in ENVELOPE.items() if k != "data"}
    with pytest.raises(EventValidationError, match="must be JSON"):
        consumer().read(raw(b"<xml/>", headers, "application/xml"))


def test_an_unsupported_dataversion_is_refused_with_the_reason() -> None:
    """Regression: a complaint.submitted with dataversion 99 was registered as version 1."""
    with pytest.raises(EventValidationError, match=r"unsupported dataversion: complaint\.submitted v99; .* reads v1"):
        consumer().read(raw(json.dumps({**ENVELOPE, "dataversion": 99}).encode()))


def test_an_event_type_the_queue_does_not_handle_is_refused() -> None:
    with pytest.raises(EventValidationError, match=r"no handler for event type complaint\.registered"):
        consumer().read(raw(json.dumps({**ENVELOPE, "type": "complaint.registered"}).encode()))
