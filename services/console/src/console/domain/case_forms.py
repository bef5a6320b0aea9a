"""The 8D case page's step forms as quality staff fill them in, turned into the investigation
service's step bodies (`POST /api/v1/investigations/{number}/{step}`), and the service's
refusals turned back into messages beside the form's fields (pure: no web, no network).

Lists are repeated rows with indexed names (`parties-0-name`, `actions-1-due`, `lots-2-lot`);
a row left blank is skipped. Free lists (team, documents) are one entry per line, a 5-why chain
is one line with its whys separated by `>` or `→`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from console.domain.labels import Language

Fields = Mapping[str, list[str]]

# The steps a person takes through the API, in the service's order (STEPS of investigation).
STEPS = (
    "triage",
    "containment",
    "root_cause",
    "responsibility",
    "dispute",
    "ruling",
    "actions",
    "verification",
    "standardisation",
    "reply",
    "follow_up",
    "close",
    "reopen",
    "onsite",
    "training",
)

# Who may take each step (investigation's permissions.py: investigations:work, :dispute, :rule, :reply).
_WORK = frozenset({"quality_engineer", "quality_manager"})
STEP_ROLES: dict[str, frozenset[str]] = {
    **{step: _WORK for step in STEPS},
    "dispute": frozenset({"department_head"}),
    "ruling": frozenset({"production_operations"}),
    "reply": frozenset({"customer_service", "quality_engineer", "quality_manager"}),
    "follow_up": frozenset({"customer_service", "quality_engineer", "quality_manager"}),
}
AUDIT_ROLES = frozenset({"auditor", "quality_manager", "admin"})

# Choices of the forms (the service's enumerations).
CATEGORIES = ("quality", "human_factors", "price", "service", "maintenance", "legal", "help", "consultation")
SEVERITIES = ("urgent", "critical", "major", "moderate", "minor")
SPECIALS = ("process_abnormality", "hazardous_substance")
SCOPE_KINDS = ("shipped", "wip", "warehouse")
DISPOSITIONS = ("rework", "concession", "scrap", "return", "exchange", "sorting")
FISHBONE = ("man", "machine", "material", "method", "measurement", "environment")
CAUSE_CLASSES = ("technical_major", "technical_general", "management_major", "management_general", "communication")
PARTY_KINDS = ("person", "department", "role", "supplier")
PARTY_ROLES = ("shipping_qc", "line_qc", "process_owner", "next_process", "station_leader")
CRACKS = ("none", "seen_in_factory", "found_outside")
DISPUTE_KINDS = ("objection", "market_cause")
ACTION_KINDS = ("temporary", "permanent")
REPLY_KINDS = ("preliminary", "final")
ONSITE = ("arrived", "sheet_returned", "returned", "report_sent")
QC_FACTS = ("measured", "visible_at_once", "qc_log_record")
PRODUCT_STAGES = ("series", "prototype", "new_product")

# The main path of the 8D case as the step strip shows it, and how far each state has come.
STRIP = ("triage", "containment", "root_cause", "responsibility", "actions", "verification", "reply", "close")
_REACHED = {
    "opened": 0,
    "reopened": 0,
    "triaged": 1,
    "contained": 2,
    "root_caused": 3,
    "responsibility_determined": 4,
    "disputed": 3,  # the determination is in question again
    "actions_open": 5,
    "verified": 6,
    "replied": 7,
    "closed": 8,
}

_ROW = re.compile(r"^([a-z_]+)-(\d+)-([a-z_]+)$")
_MAX_ROWS = 50
_ALWAYS_SET = frozenset({"kind", "product_stage"})
_CHAIN = re.compile(r"\s*(?:>|→|->|＞)\s*")

_MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("必填", "required"),
    "choice": ("请选择有效的选项", "choose one of the options"),
    "integer": ("请输入非负整数", "a whole number, 0 or more"),
    "share": ("请输入 0–100 之间的百分比,最多两位小数", "a percentage above 0 and up to 100, two decimals at most"),
    "amount": ("请输入金额,最多两位小数", "an amount, two decimals at most"),
    "date": ("日期格式不正确", "not a valid date"),
    "datetime": ("时间格式不正确", "not a valid date and time"),
    "one_row": ("至少填写一行", "fill in at least one row"),
    "one_choice": ("至少选择一项", "choose at least one"),
    "row": ("此行未填写完整", "this row is incomplete"),
    "too_long": ("内容过长", "too long"),
}


class FormInvalid(Exception):
    """The form cannot become a body: field name → message (shown beside the field)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class StepBody:
    """A step's JSON body, and where each list item came from in the form (`parties.0` → `parties-2`)."""

    step: str
    body: dict[str, Any]
    rows: dict[str, str] = field(default_factory=dict)


def fields_of(items: Iterable[tuple[str, object]]) -> dict[str, list[str]]:
    """A submitted form's (name, value) pairs as name → values (text only: files are not fields here)."""
    out: dict[str, list[str]] = {}
    for name, value in items:
        if isinstance(value, str):
            out.setdefault(name, []).append(value)
    return out


class _Reader:
    def __init__(self, fields: Fields, zone: ZoneInfo, language: Language) -> None:
        self.fields = fields
        self.zone = zone
        self.language = language
        self.errors: dict[str, str] = {}

    def fail(self, name: str, key: str) -> None:
        pair = _MESSAGES[key]
        self.errors.setdefault(name, pair[0] if self.language == "zh" else pair[1])

    def raw(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip()

    def text(self, name: str, *, required: bool = False, limit: int = 4000) -> str:
        value = self.raw(name)
        if required and not value:
            self.fail(name, "required")
        if len(value) > limit:
            self.fail(name, "too_long")
        return value

    def choice(self, name: str, options: Iterable[str], *, required: bool = True) -> str | None:
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, "required")
            return None
        if value not in options:
            self.fail(name, "choice")
            return None
        return value

    def yes_no(self, name: str) -> bool:
        value = self.raw(name)
        if value not in ("yes", "no"):
            self.fail(name, "required" if not value else "choice")
        return value == "yes"

    def flag(self, name: str) -> bool:
        return self.raw(name) in ("on", "yes", "true", "1")

    def many(self, name: str, options: Iterable[str]) -> list[str]:
        allowed = set(options)
        chosen = [v for v in self.fields.get(name, []) if v]
        if any(v not in allowed for v in chosen):
            self.fail(name, "choice")
        return [v for v in dict.fromkeys(chosen) if v in allowed]

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, "required")
            return None
        if not value.isdigit():
            self.fail(name, "integer")
            return None
        return int(value)

    def decimal(self, name: str, *, share: bool = False, required: bool = False) -> str | None:
        value = self.raw(name).replace(",", "").removesuffix("%").strip()
        if not value:
            if required:
                self.fail(name, "required")
            return None
        try:
            amount = Decimal(value)
        except InvalidOperation:
            amount = Decimal("NaN")
        exponent = amount.as_tuple().exponent
        ok = amount.is_finite() and isinstance(exponent, int) and exponent >= -2 and amount >= 0
        if share:
            ok = ok and Decimal(0) < amount <= 100
        if not ok:
            self.fail(name, "share" if share else "amount")
            return None
        return format(amount.normalize(), "f") if amount == amount.to_integral() else str(amount)

    def moment(self, name: str) -> str | None:
        """`<input type=datetime-local>` in the factory's time → an aware ISO time."""
        value = self.raw(name)
        if not value:
            return None
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, "datetime")
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.zone)
        return at.isoformat()

    def day_end(self, name: str, *, required: bool = False) -> str | None:
        """`<input type=date>`: due by the end of that day in the factory's time."""
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, "required")
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.fail(name, "date")
            return None
        return datetime.combine(day, time(23, 59), tzinfo=self.zone).isoformat()

    def lines(self, name: str) -> list[str]:
        return [line.strip() for line in self.raw_block(name).splitlines() if line.strip()]

    def raw_block(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0]

    def rows(self, group: str, columns: Iterable[str]) -> list[int]:
        """The indices of group's rows with anything filled in (hidden kinds alone do not count)."""
        wanted = set(columns)
        found: set[int] = set()
        for name, values in self.fields.items():
            match = _ROW.match(name)
            if match and match.group(1) == group and match.group(3) in wanted and any(v.strip() for v in values):
                index = int(match.group(2))
                if index < _MAX_ROWS:
                    found.add(index)
        return sorted(found)

    def finish(self, step: str, body: dict[str, Any], rows: dict[str, str] | None = None) -> StepBody:
        if self.errors:
            raise FormInvalid(self.errors)
        return StepBody(step, body, rows or {})


def _with_reason(r: _Reader, body: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    reason = r.text("reason", required=required, limit=2000)
    if reason or required:
        body["reason"] = reason
    return body


def _parties(r: _Reader, rows: dict[str, str]) -> list[dict[str, Any]]:
    parties: list[dict[str, Any]] = []
    for i in r.rows("parties", ("name", "share", "department", "role")):
        prefix = f"parties-{i}"
        party: dict[str, Any] = {
            "kind": r.choice(f"{prefix}-kind", PARTY_KINDS) or "person",
            "name": r.text(f"{prefix}-name", required=True, limit=200),
            "share": r.decimal(f"{prefix}-share", share=True, required=True),
        }
        for optional in ("department", "role"):
            value = r.text(f"{prefix}-{optional}", limit=200)
            if value:
                party[optional] = value
        rows[f"parties.{len(parties)}"] = prefix
        parties.append(party)
    return parties


def triage(r: _Reader) -> StepBody:
    body: dict[str, Any] = {
        "valid": r.yes_no("valid"),
        "category": r.choice("category", CATEGORIES),
        "severity": r.choice("severity", SEVERITIES),
        "our_fault": r.yes_no("our_fault"),
        "difficult": r.flag("difficult"),
    }
    special = r.choice("special", SPECIALS, required=False)
    if special:
        body["special"] = special
    department = r.text("responsible_department", limit=200)
    if department:
        body["responsible_department"] = department
    dispatch = [d.strip() for d in re.split(r"[,,、\n]", r.raw_block("dispatch")) if d.strip()]
    if dispatch:
        body["dispatch"] = dispatch
    arrive_by = r.moment("arrive_by")
    if arrive_by:
        body["arrive_by"] = arrive_by
    note = r.text("note")
    if note:
        body["note"] = note
    return r.finish("triage", _with_reason(r, body))


def containment(r: _Reader) -> StepBody:
    scope: list[dict[str, Any]] = []
    rows: dict[str, str] = {}
    for i in r.rows("scope", ("quantity", "note")):
        prefix = f"scope-{i}"
        item: dict[str, Any] = {
            "kind": r.choice(f"{prefix}-kind", SCOPE_KINDS),
            "quantity": r.integer(f"{prefix}-quantity", required=True),
        }
        note = r.text(f"{prefix}-note")
        if note:
            item["note"] = note
        rows[f"scope.{len(scope)}"] = prefix
        scope.append(item)
    if not scope:
        r.fail("scope", "one_row")
    dispositions = r.many("dispositions", DISPOSITIONS)
    if not dispositions:
        r.fail("dispositions", "one_choice")
    body: dict[str, Any] = {
        "scope": scope,
        "dispositions": dispositions,
        "actions": r.text("actions"),
        "production_stop": r.flag("production_stop"),
    }
    recall = r.raw("recall")
    if recall in ("yes", "no"):
        recall_body: dict[str, Any] = {
            "recall": recall == "yes",
            "decided_by": r.text("recall_decided_by", required=True, limit=200),
        }
        recall_note = r.text("recall_note")
        if recall_note:
            recall_body["note"] = recall_note
        body["recall"] = recall_body
    elif recall:
        r.fail("recall", "choice")
    note = r.text("note")
    if note:
        body["note"] = note
    return r.finish("containment", _with_reason(r, body), rows)


def root_cause(r: _Reader) -> StepBody:
    chains = [[why for why in _CHAIN.split(line) if why] for line in r.lines("why_chains")]
    fishbone = [
        {"category": category, "cause": cause[:200]}
        for category in FISHBONE
        for cause in r.lines(f"fishbone-{category}")
    ]
    body: dict[str, Any] = {
        "occurrence_cause": r.text("occurrence_cause", required=True),
        "escape_cause": r.text("escape_cause", required=True),
        "team": [member[:200] for member in r.lines("team")],
        "problem": r.text("problem"),
        "why_chains": [[why[:200] for why in chain] for chain in chains if chain],
        "fishbone": fishbone,
        "prevention": r.text("prevention"),
    }
    return r.finish("root_cause", _with_reason(r, body))


def qc_facts(r: _Reader) -> dict[str, Any]:
    facts: dict[str, Any] = {name: r.flag(f"qc_facts-{name}") for name in QC_FACTS}
    facts["crack"] = r.choice("qc_facts-crack", CRACKS, required=False) or "none"
    return facts


def responsibility(r: _Reader) -> StepBody:
    rows: dict[str, str] = {}
    parties = _parties(r, rows)
    if not parties:
        r.fail("parties", "one_row")
    findings: list[dict[str, Any]] = []
    for i in r.rows("findings", ("code", "occurrences", "pieces", "party")):
        prefix = f"findings-{i}"
        finding: dict[str, Any] = {
            "code": r.text(f"{prefix}-code", required=True, limit=40),
            "occurrences": r.integer(f"{prefix}-occurrences") or 1,
        }
        pieces = r.integer(f"{prefix}-pieces")
        if pieces:
            finding["pieces"] = pieces
        party = r.text(f"{prefix}-party", limit=200)
        if party:
            finding["party"] = party
        stage = r.choice(f"{prefix}-product_stage", PRODUCT_STAGES, required=False)
        if stage:
            finding["product_stage"] = stage
        if r.flag(f"{prefix}-serious"):
            finding["degree"] = "serious"
        rows[f"findings.{len(findings)}"] = prefix
        findings.append(finding)
    body: dict[str, Any] = {
        "parties": parties,
        "cause_class": r.choice("cause_class", CAUSE_CLASSES),
        "loss_amount": r.decimal("loss_amount") or "0",
        "customer_may_end": r.flag("customer_may_end"),
        "reputation_severe": r.flag("reputation_severe"),
        "qc_facts": qc_facts(r),
        "findings": findings,
    }
    override = r.text("override_reason", limit=2000)
    if override:
        body["override_reason"] = override
    return r.finish("responsibility", _with_reason(r, body), rows)


def dispute(r: _Reader) -> StepBody:
    body = {
        "kind": r.choice("kind", DISPUTE_KINDS),
        "department": r.text("department", required=True, limit=200),
        "reason": r.text("reason", required=True, limit=2000),
    }
    return r.finish("dispute", body)


def ruling(r: _Reader) -> StepBody:
    rows: dict[str, str] = {}
    body: dict[str, Any] = {"upheld": r.yes_no("upheld"), "reason": r.text("reason", required=True, limit=2000)}
    if r.flag("change_parties"):
        body["parties"] = _parties(r, rows)
        if not body["parties"]:
            r.fail("parties", "one_row")
    return r.finish("ruling", body, rows)


def actions(r: _Reader) -> StepBody:
    items: list[dict[str, Any]] = []
    rows: dict[str, str] = {}
    for i in r.rows("actions", ("description", "owner", "due")):
        prefix = f"actions-{i}"
        items.append(
            {
                "kind": r.choice(f"{prefix}-kind", ACTION_KINDS),
                "description": r.text(f"{prefix}-description", required=True),
                "owner": r.text(f"{prefix}-owner", required=True, limit=200),
                "due_at": r.day_end(f"{prefix}-due", required=True),
            }
        )
        rows[f"actions.{len(items) - 1}"] = prefix
    if not items:
        r.fail("actions", "one_row")
    return r.finish("actions", _with_reason(r, {"actions": items}), rows)


def verification(r: _Reader) -> StepBody:
    lots: list[dict[str, Any]] = []
    rows: dict[str, str] = {}
    for i in r.rows("lots", ("lot",)):
        prefix = f"lots-{i}"
        lot: dict[str, Any] = {
            "lot": r.text(f"{prefix}-lot", required=True, limit=200),
            "defect_found": r.flag(f"{prefix}-defect"),
        }
        checked = r.moment(f"{prefix}-checked_at")
        if checked:
            lot["checked_at"] = checked
        rows[f"lots.{len(lots)}"] = prefix
        lots.append(lot)
    if not lots:
        r.fail("lots", "one_row")
    body = {"action_id": r.text("action_id", required=True, limit=20), "lots": lots}
    return r.finish("verification", _with_reason(r, body), rows)


def standardisation(r: _Reader) -> StepBody:
    documents = [d[:200] for d in r.lines("documents")]
    if not documents:
        r.fail("documents", "required")
    return r.finish("standardisation", _with_reason(r, {"documents": documents}))


def reply(r: _Reader) -> StepBody:
    body: dict[str, Any] = {
        "kind": r.choice("kind", REPLY_KINDS),
        "content": r.text("content", required=True, limit=20000),
    }
    channel = r.text("channel", limit=40)
    if channel:
        body["channel"] = channel
    return r.finish("reply", _with_reason(r, body))


def follow_up(r: _Reader) -> StepBody:
    body: dict[str, Any] = {"satisfied": r.yes_no("satisfied"), "accepted": r.yes_no("accepted")}
    note = r.text("note")
    if note:
        body["note"] = note
    return r.finish("follow_up", _with_reason(r, body))


def close(r: _Reader) -> StepBody:
    return r.finish("close", _with_reason(r, {}))


def reopen(r: _Reader) -> StepBody:
    return r.finish("reopen", _with_reason(r, {}, required=True))


def onsite(r: _Reader) -> StepBody:
    body: dict[str, Any] = {"what": r.choice("what", ONSITE)}
    at = r.moment("at")
    if at:
        body["at"] = at
    return r.finish("onsite", _with_reason(r, body))


def training(r: _Reader) -> StepBody:
    body: dict[str, Any] = {"attendees": r.integer("attendees") or 0}
    note = r.text("note")
    if note:
        body["note"] = note
    at = r.moment("at")
    if at:
        body["at"] = at
    return r.finish("training", _with_reason(r, body))


_BUILDERS = {
    "triage": triage,
    "containment": containment,
    "root_cause": root_cause,
    "responsibility": responsibility,
    "dispute": dispute,
    "ruling": ruling,
    "actions": actions,
    "verification": verification,
    "standardisation": standardisation,
    "reply": reply,
    "follow_up": follow_up,
    "close": close,
    "reopen": reopen,
    "onsite": onsite,
    "training": training,
}


def step_body(step: str, fields: Fields, *, zone: ZoneInfo, language: Language = "zh") -> StepBody:
    """The step's JSON body from its form; FormInvalid names the fields to correct."""
    builder = _BUILDERS.get(step)
    if builder is None:
        raise KeyError(step)
    return builder(_Reader(fields, zone, language))


def facts_body(fields: Fields) -> dict[str, Any]:
    """The QC facts the responsibility proposal is asked for (from the facts form's query)."""
    reader = _Reader(fields, ZoneInfo("UTC"), "zh")
    facts = qc_facts(reader)
    if reader.errors:
        facts["crack"] = "none"
    return facts


def form_errors(step: str, api_errors: Mapping[str, str], rows: Mapping[str, str] | None = None) -> dict[str, str]:
    """The service's field errors (dotted paths of the body) as the form's field names."""
    rows = rows or {}
    out: dict[str, str] = {}
    for path, message in api_errors.items():
        name = _form_name(step, path, message, rows)
        if name:
            out.setdefault(name, message)
    return out


def _form_name(step: str, path: str, message: str, rows: Mapping[str, str]) -> str:
    if not path or path == "(body)":
        return ""
    lowered = message.lower()
    if step == "responsibility" and path == "parties" and ("override" in lowered or "give the reason" in lowered):
        return "override_reason"
    parts = path.split(".")
    if step == "verification" and parts[0] == "lots" and len(parts) == 2 and not parts[1].isdigit():
        return "lots"  # lots.checked_at: a lot's time (which one is not said)
    if len(parts) >= 2 and parts[1].isdigit():
        prefix = rows.get(f"{parts[0]}.{parts[1]}", f"{parts[0]}-{parts[1]}")
        rest = parts[2:]
        if step == "actions" and rest == ["due_at"]:
            rest = ["due"]
        if step == "verification" and rest == ["defect_found"]:
            rest = ["defect"]
        return "-".join([prefix, *rest])
    if parts[0] == "qc_facts" and len(parts) > 1:
        return f"qc_facts-{parts[1]}"
    if parts[0] == "recall" and len(parts) > 1:
        return f"recall_{parts[1]}" if parts[1] != "recall" else "recall"
    return parts[0]


# -- what the page offers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    step: str
    may: bool  # the user's roles may take it
    roles: tuple[str, ...]  # who may (shown when the user may not)


def offers(next_steps: Iterable[str], roles: Iterable[str]) -> list[Offer]:
    """The allowed next steps as forms: those the user's roles may take, and who else may."""
    mine = set(roles)
    out: list[Offer] = []
    for step in next_steps:
        allowed = STEP_ROLES.get(step)
        if allowed is None:  # amend and withdraw come from the complaint, not from a person here
            continue
        out.append(Offer(step, bool(allowed & mine), tuple(sorted(allowed))))
    return out


def may_read_audit(roles: Iterable[str]) -> bool:
    return bool(AUDIT_ROLES & set(roles))


@dataclass(frozen=True)
class StripStep:
    step: str
    status: str  # done, current, ahead


def strip(state: str, history_actions: Iterable[str]) -> list[StripStep]:
    """The 8D main path: done / current / ahead from the case's state (or its history when withdrawn)."""
    reached = _REACHED.get(state)
    if reached is None:
        taken = set(history_actions)
        return [StripStep(s, "done" if s in taken else "ahead") for s in STRIP]
    out = []
    for i, step in enumerate(STRIP):
        status = "done" if i < reached else "current" if i == reached else "ahead"
        out.append(StripStep(step, status))
    return out


# -- what the forms show before anyone types ----------------------------------------------------


@dataclass
class FormState:
    """One step form's values and errors, as the template reads them."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "yes", "true", "1")

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    def rows(self, group: str, minimum: int) -> range:
        """Row indices to show: the filled ones and at least one blank beyond them, `minimum` at least."""
        highest = -1
        for name, values in self.fields.items():
            match = _ROW.match(name)
            if not match or match.group(1) != group or match.group(3) in _ALWAYS_SET:
                continue  # a select that always has a value does not make a row filled
            if any(v.strip() for v in values):
                highest = max(highest, int(match.group(2)))
        return range(min(max(minimum, highest + 2), _MAX_ROWS))


def _set(fields: dict[str, list[str]], name: str, value: object) -> None:
    if value is not None and value != "":
        fields[name] = [str(value)]


def party_fields(
    parties: Iterable[Mapping[str, Any]], *, names: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Parties (the current ones, or a proposal's roles) as the rows of a parties table."""
    fields: dict[str, list[str]] = {}
    for i, party in enumerate(parties):
        prefix = f"parties-{i}"
        role = party.get("role")
        name = party.get("name")
        if party.get("kind") == "role" and names and role in names and name == role:
            name = names[str(role)]  # a proposal names the role: show it as people read it
        _set(fields, f"{prefix}-kind", party.get("kind"))
        _set(fields, f"{prefix}-name", name)
        _set(fields, f"{prefix}-role", role)
        _set(fields, f"{prefix}-department", party.get("department"))
        _set(fields, f"{prefix}-share", party.get("share"))
    return fields


def defaults(
    step: str,
    case: Mapping[str, Any],
    *,
    proposal: Mapping[str, Any] | None = None,
    facts: Mapping[str, Any] | None = None,
    role_names: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """A step form's starting values from the case (and the split proposal for responsibility)."""
    records: Mapping[str, Any] = case.get("records") or {}
    triaged: Mapping[str, Any] = records.get("triage") or {}
    fields: dict[str, list[str]] = {}
    if step == "triage":
        fields = {"valid": ["yes"], "our_fault": ["yes"], "category": ["quality"]}
        _set(fields, "severity", triaged.get("severity"))
        _set(fields, "responsible_department", triaged.get("responsible_department"))
    elif step == "containment":
        fields = {f"scope-{i}-kind": [kind] for i, kind in enumerate(SCOPE_KINDS)}
    elif step == "responsibility":
        fields = party_fields((proposal or {}).get("parties") or [], names=role_names)
        for name in QC_FACTS:
            if (facts or {}).get(name):
                fields[f"qc_facts-{name}"] = ["on"]
        _set(fields, "qc_facts-crack", (facts or {}).get("crack"))
        fields["cause_class"] = ["management_general"]
    elif step == "dispute":
        parties = case.get("parties") or []
        department = triaged.get("responsible_department") or next(
            (p.get("department") for p in parties if p.get("department")), None
        )
        fields = {"kind": ["objection"]}
        _set(fields, "department", department)
    elif step == "ruling":
        fields = party_fields(case.get("parties") or [])
        fields["upheld"] = ["yes"]
    elif step == "actions":
        fields = {"actions-0-kind": ["temporary"], "actions-1-kind": ["permanent"]}
    elif step == "reply":
        fields = {"kind": ["final" if case.get("state") == "verified" else "preliminary"]}
    elif step == "follow_up":
        fields = {"satisfied": ["yes"], "accepted": ["yes"]}
    elif step == "onsite":
        onsite: Mapping[str, Any] = records.get("onsite") or {}
        order = ("arrived", "sheet_returned", "returned", "report_sent")
        done = {"arrived": "arrived_at", "sheet_returned": "sheet_returned_at", "returned": "returned_at"}
        upcoming = next((w for w in order if w == "report_sent" or not onsite.get(done[w])), "arrived")
        fields = {"what": [upcoming]}
    return fields
