"""Public message contracts: the CloudEvents envelope and the versioned payloads (CONTRACT.md)."""

from cqm_shared.contracts.envelope import CloudEvent, EventValidationError, new_event
from cqm_shared.contracts.events import EVENT_PAYLOADS, parse_payload, payload_model

__all__ = [
    "EVENT_PAYLOADS",
    "CloudEvent",
    "EventValidationError",
    "new_event",
    "parse_payload",
    "payload_model",
]
