"""Events as other services or systems would put them on the exchange."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cqm_shared.contracts.envelope import CloudEvent, new_event


def registered(number: str = "F01-2611-0042", factory: str = "F01", **overrides: Any) -> CloudEvent:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "number": number,
        "status": "registered",
        "factory": factory,
        "channel": "system",
        "received_at": now.isoformat(),
        "registered_at": now.isoformat(),
        "customer": {"company": "华东建工", "contact_name": "王工", "phone": "13800000000"},
        "product": {"part_number": "PC-100", "quantity_shipped": 100, "quantity_defective": 2},
        "phenomenon": "露筋 exposed rebar",
        "market": {"region": "domestic", "province": "in"},
    }
    data.update(overrides)
    return new_event(type="complaint.registered", source="/services/intake", factory=factory, subject=number, data=data)
