"""Repeats and corrections (划改) of a complaint record. Pure: no I/O.

DOMAIN.md §2: the same customer + order + part within a window is linked as a repeat and
not double counted. §7: records are never silently changed; a correction keeps the
original values beside the new ones.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cqm_shared.contracts.complaint import ComplaintFields, ComplaintForm, ComplaintRecord
from intake.domain.policy import IntakePolicy

# Fields of the record that are not the caller's to amend.
FIXED = frozenset({"factory", "number", "status", "registered_at", "external_ref", "repeat_of", "severity"})
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class FieldChange:
    """One field a revision changed (dotted path, e.g. product.quantity_defective), old and new value."""

    field: str
    before: Any = None
    after: Any = None


class InvalidAmendment(ValueError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def customer_key(company: str) -> str:
    """The company name as duplicates are matched: width-folded, case-folded, no punctuation."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", company).casefold())


def repeat_window_start(registered_at: datetime, policy: IntakePolicy) -> datetime:
    return registered_at - timedelta(days=policy.duplicate_window_days)


def repeat_key(record: ComplaintFields) -> tuple[str, str, str] | None:
    """(customer, order, part) when all three are known: only then can a repeat be told."""
    order, part = record.product.order_number, record.product.part_number
    if not order or not part:
        return None
    return customer_key(record.customer.company), order, part


def search_text(record: ComplaintRecord) -> str:
    p, c = record.product, record.customer
    parts = [
        record.number,
        c.company,
        c.contact_name,
        p.model,
        p.part_number,
        p.order_number,
        p.specification,
        record.phenomenon,
        record.current_state,
        *p.lot_numbers,
    ]
    return " ".join(x for x in parts if x).casefold()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    old, new = _flatten(before), _flatten(after)
    return [
        FieldChange(field=key, before=old.get(key), after=new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()]


def apply_changes(record: ComplaintRecord, changes: dict[str, Any]) -> tuple[ComplaintRecord, list[FieldChange]]:
    """The record with `changes` applied (top-level fields, nested objects replaced whole)."""
    if not changes:
        raise InvalidAmendment([{"field": "changes", "message": "name at least one field to correct"}])
    fixed = sorted(FIXED & changes.keys())
    if fixed:
        raise InvalidAmendment([{"field": f, "message": "cannot be amended"} for f in fixed])
    form_fields = set(ComplaintForm.model_fields)
    current = record.model_dump(mode="json", include=form_fields)
    merged = {**current, **changes}
    try:
        ComplaintForm.model_validate(merged)
    except ValidationError as exc:
        raise InvalidAmendment(_errors(exc)) from None
    try:
        updated = ComplaintRecord.model_validate({**record.model_dump(mode="json"), **changes})
    except ValidationError as exc:
        raise InvalidAmendment(_errors(exc)) from None
    updated = updated.model_copy(update={"defect_rate": updated.product.defect_rate})
    changed = diff(record.model_dump(mode="json"), updated.model_dump(mode="json"))
    if not changed:
        raise InvalidAmendment([{"field": "changes", "message": "nothing would change"}])
    return updated, changed
