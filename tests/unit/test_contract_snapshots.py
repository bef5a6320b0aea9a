"""The public message contract must not change by accident (CONTRACT.md: changing anything
named there is a breaking change; version it). Regenerate deliberately with
UPDATE_SNAPSHOTS=1 and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cqm_shared.contracts.events import EVENT_PAYLOADS

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


@pytest.mark.parametrize(("event_type", "version"), sorted(EVENT_PAYLOADS))
def test_payload_schema_matches_snapshot(event_type: str, version: int) -> None:
    schema = EVENT_PAYLOADS[(event_type, version)].model_json_schema(mode="validation")
    rendered = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = SNAPSHOTS / f"{event_type}.v{version}.schema.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot for {event_type} v{version}; run with UPDATE_SNAPSHOTS=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{event_type} v{version} changed: version it"
