"""The complaint pages' forms as plain data: what the browser posts (flat fields named by the
contract's dotted paths, e.g. `customer.phone`) becomes intake's JSON body, and intake's field
errors find their way back beside the fields. No I/O: the pages call these, the unit tests too.

Dates typed in the browser are the factory's local time (the console's display time zone); the
services take RFC 3339 with an offset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from console.domain.labels import Language

CHANNELS = ("phone", "email", "fax", "letter", "wechat", "portal", "onsite", "consumer_association", "system")
REQUEST_KINDS = ("reply", "report_8d", "onsite", "exchange", "return", "sorting", "concession", "compensation")
REGIONS = ("domestic", "foreign")
PROVINCES = ("in", "out")
STATUSES = ("registered", "withdrawn")
SEVERITIES = ("urgent", "critical", "major", "moderate", "minor")

# The form's inputs, named by the body's dotted paths (errors come back under the same names).
TEXT_FIELDS = (
    "factory",
    "channel",
    "external_ref",
    "customer.company",
    "customer.contact_name",
    "customer.gender",
    "customer.phone",
    "customer.email",
    "customer.im",
    "product.model",
    "product.specification",
    "product.part_number",
    "product.order_number",
    "defect_type",
    "phenomenon",
    "current_state",
    "customer_request.kind",
    "customer_request.note",
    "market.region",
    "market.province",
    "first_owner",
    "product_line",
)
DATE_FIELDS = ("product.ship_date", "customer_request.deadline")
DATETIME_FIELDS = ("received_at",)
INTEGER_FIELDS = ("product.quantity_shipped", "product.quantity_defective")
LIST_FIELDS = ("product.lot_numbers",)
FLAG_FIELDS = ("batch_return",)
FIELDS = TEXT_FIELDS + DATE_FIELDS + DATETIME_FIELDS + INTEGER_FIELDS + LIST_FIELDS + FLAG_FIELDS

# What a correction (划改) may change: intake's AmendableFields. Nested objects go whole.
AMENDABLE = (
    "channel",
    "received_at",
    "customer",
    "product",
    "phenomenon",
    "customer_request",
    "market",
    "batch_return",
    "first_owner",
    "product_line",
    "current_state",
)
GENERAL = ""  # the key of errors that belong to no one field

_LOCAL_DATETIME = "%Y-%m-%dT%H:%M"
_LIST_SPLIT = re.compile(r"[\s,，;；、]+")

_MESSAGES: dict[str, tuple[str, str]] = {
    "integer": ("请填写不小于 0 的整数", "enter a whole number, 0 or more"),
    "date": ("日期格式应为 年-月-日", "enter a date as yyyy-mm-dd"),
    "datetime": ("时间格式应为 年-月-日 时:分", "enter a time as yyyy-mm-dd hh:mm"),
    "reason": ("请填写原因", "give a reason"),
    "no_change": ("没有修改任何字段", "nothing was changed"),
}


# intake's messages for the form's cross-field rules, as Chinese users read them.
_KNOWN_ERRORS = {
    "customer.phone or customer.email is required": "电话与电子邮件至少填写一项",
    "product.part_number or product.model is required": "型号与料号至少填写一项",
    "quantity_defective must not exceed quantity_shipped": "不良数量不能大于交货数量",
    "received_at must not be in the future": "接收时间不能晚于现在",
    "product.ship_date must not be in the future": "交运日期不能晚于今天",
    "Field required": "必填",
}


def localise(text: str, lang: Language) -> str:
    """A known service message in the user's language (others as the service said them)."""
    if lang != "zh":
        return text
    core = text.removeprefix("Value error, ")
    return _KNOWN_ERRORS.get(core, text)


def message(code: str, lang: Language) -> str:
    zh, en = _MESSAGES[code]
    return zh if lang == "zh" else en


@dataclass(frozen=True)
class Converted:
    """A request body, or the errors (dotted field → message) that keep it from being sent."""

    body: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        _put(body.setdefault(head, {}), rest, value)
    else:
        body[head] = value


def local_datetime(text: str, zone: ZoneInfo) -> datetime:
    """A `datetime-local` input's value (factory time) as an aware time."""
    return datetime.strptime(text.strip()[:16], _LOCAL_DATETIME).replace(tzinfo=zone)


def to_local_input(value: object, zone: ZoneInfo) -> str:
    """An RFC 3339 time from a service as a `datetime-local` input's value."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return at.astimezone(zone).strftime(_LOCAL_DATETIME) if at.tzinfo else at.strftime(_LOCAL_DATETIME)


def complaint_body(values: Mapping[str, str], zone: ZoneInfo, lang: Language) -> Converted:
    """The new-complaint form → ComplaintForm JSON. Empty inputs are left out (the contract's
    defaults apply); `defect_type` is sent only when filled."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in TEXT_FIELDS:
        text = (values.get(name) or "").strip()
        if text:
            _put(body, name, text)
    for name in DATE_FIELDS:
        text = (values.get(name) or "").strip()
        if not text:
            continue
        try:
            _put(body, name, date.fromisoformat(text).isoformat())
        except ValueError:
            errors[name] = message("date", lang)
    for name in DATETIME_FIELDS:
        text = (values.get(name) or "").strip()
        if not text:
            continue
        try:
            _put(body, name, local_datetime(text, zone).isoformat())
        except ValueError:
            errors[name] = message("datetime", lang)
    for name in INTEGER_FIELDS:
        text = (values.get(name) or "").strip().replace(",", "")
        if not text:
            continue
        if not text.isdigit():
            errors[name] = message("integer", lang)
            continue
        _put(body, name, int(text))
    for name in LIST_FIELDS:
        items = [x for x in _LIST_SPLIT.split(values.get(name) or "") if x]
        if items:
            _put(body, name, items)
    for name in FLAG_FIELDS:
        _put(body, name, (values.get(name) or "").lower() in ("on", "true", "1", "yes"))
    # A request note or deadline without its kind: the kind is what intake needs.
    request = body.get("customer_request")
    if isinstance(request, dict) and "kind" not in request:
        del body["customer_request"]
    # The contract requires customer and product; send them (empty) so intake names the fields.
    body.setdefault("customer", {})
    body.setdefault("product", {})
    return Converted(body, errors)


def record_values(record: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    """A registered record as the form's values (to correct it, 划改)."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value: Any = record
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if name in DATETIME_FIELDS:
            out[name] = to_local_input(value, zone)
        elif name in LIST_FIELDS:
            out[name] = ", ".join(str(x) for x in value or [])
        elif name in FLAG_FIELDS:
            out[name] = "on" if value else ""
        else:
            out[name] = "" if value is None else str(value)
    return out


def _normal(value: Any) -> Any:
    """A value as compared for a correction: empty parts dropped, times to the minute."""
    if isinstance(value, Mapping):
        kept = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _same_minute(a: object, b: object) -> bool:
    try:
        first = datetime.fromisoformat(str(a).replace("Z", "+00:00"))
        second = datetime.fromisoformat(str(b).replace("Z", "+00:00"))
    except ValueError:
        return False
    return first.replace(second=0, microsecond=0) == second.replace(second=0, microsecond=0)


def amendment_body(values: Mapping[str, str], record: Mapping[str, Any], zone: ZoneInfo, lang: Language) -> Converted:
    """The correction form → intake's Amendment: only the fields whose value changed (a nested
    object whole), with the required reason."""
    converted = complaint_body(values, zone, lang)
    errors = dict(converted.errors)
    reason = (values.get("reason") or "").strip()
    if not reason:
        errors["reason"] = message("reason", lang)
    changes: dict[str, Any] = {}
    for name in AMENDABLE:
        new = _normal(converted.body.get(name))
        old = _normal(record.get(name))
        if name == "batch_return":
            new, old = bool(new), bool(old)
        elif name == "market":
            new, old = {"region": "domestic", **(new or {})}, {"region": "domestic", **(old or {})}
        if name == "received_at" and (new is None or _same_minute(new, old)):
            continue
        if new == old or (new in (None, {}) and old in (None, {})):
            continue
        changes[name] = converted.body.get(name) if new not in (None, {}) else None
    if not changes and not errors:
        errors[GENERAL] = message("no_change", lang)
    return Converted({"changes": changes, "reason": reason}, errors)


def form_errors(errors: Mapping[str, str], fields: tuple[str, ...] = FIELDS, lang: Language = "en") -> dict[str, str]:
    """intake's field errors placed on the form's inputs.

    A rule over several fields is reported on their object (`customer`: "customer.phone or
    customer.email is required"; `product`: "quantity_defective must not exceed
    quantity_shipped"; the body: "received_at must not be in the future"): it goes beside the
    first field its message names. What names no input stays GENERAL (shown above the form).
    """
    known = set(fields)
    out: dict[str, str] = {}
    for path, text in errors.items():
        parts = [p for p in path.split(".") if p and not p.isdigit()]
        if path.startswith("changes."):
            parts = parts[1:]
        name = ".".join(parts)
        if name in known:
            out.setdefault(name, localise(text, lang))
            continue
        prefix = "" if name in ("", "(body)") else name + "."
        candidates = [f for f in fields if f.startswith(prefix)]
        best: tuple[int, str] | None = None
        for candidate in candidates:
            for needle in (candidate, candidate.rsplit(".", 1)[-1]):
                at = text.find(needle)
                if at >= 0 and (best is None or at < best[0]):
                    best = (at, candidate)
                    break
        target = best[1] if best else GENERAL
        text = localise(text, lang)
        if target == GENERAL and name and name not in ("(body)",):
            text = f"{name}: {text}"
        out.setdefault(target, text)
    return out


def search_params(query: Mapping[str, str], zone: ZoneInfo) -> dict[str, str]:
    """The search form's filters → intake's query (dates are the factory's whole local days;
    intake's `to` is exclusive)."""
    out: dict[str, str] = {}
    for name in ("factory", "status", "customer", "part", "severity", "q", "cursor"):
        text = (query.get(name) or "").strip()
        if text:
            out[name] = text.upper() if name == "factory" else text
    for name, shift in (("from", 0), ("to", 1)):
        text = (query.get(name) or "").strip()
        if not text:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=shift)
        out[name] = start.isoformat()
    return out


def filters_of(query: Mapping[str, str]) -> dict[str, str]:
    """The filters as the page's own links carry them (no cursor)."""
    names = ("factory", "status", "customer", "part", "severity", "q", "from", "to")
    return {n: (query.get(n) or "").strip() for n in names if (query.get(n) or "").strip()}


def default_factory(factories: tuple[str, ...]) -> str:
    """The factory the new-complaint form preselects: the user's first one."""
    own = [f for f in factories if f != "*"]
    return own[0] if own else ""


def is_image(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in ("image/png", "image/jpeg", "image/gif", "image/webp")


def display_value(value: object) -> str:
    """A corrected value as the history shows it (nested values flattened, empties as —)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {display_value(v)}" for k, v in value.items() if v not in (None, "", [], {})) or "—"
    if isinstance(value, list):
        return ", ".join(display_value(v) for v in value)
    return str(value)


def history_rows(revisions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """intake's revisions, newest first, each change with its original and corrected value."""
    out = []
    for revision in reversed(revisions):
        changes = [
            {
                "field": str(c.get("field", "")),
                "before": display_value(c.get("before")),
                "after": display_value(c.get("after")),
            }
            for c in revision.get("changes") or []
        ]
        out.append({**revision, "changes": changes})
    return out
