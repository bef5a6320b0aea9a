"""The penalty pages' forms as plain data: appeal (申诉), the general manager's decision,
approval (审批/签准) and closing a month, each posted form → penalty's JSON body; and which of an
assessment's allowed actions the signed-in user's roles may take. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from console.domain.complaint_forms import GENERAL, Converted
from console.domain.labels import Language

PERIOD = re.compile(r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$")
FACTORY = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
ASSESSMENT_STATUSES = ("draft", "appealed", "approved", "superseded", "void")
LEDGER_FORMATS = ("csv", "xlsx")

# penalty's permission matrix (penalty/entrypoints/permissions.py) for the workflow's actions.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "appeal": frozenset({"department_head", "quality_manager", "admin"}),
    "decide_appeal": frozenset({"general_manager", "production_operations", "admin"}),
    "approve": frozenset({"production_operations", "general_manager", "quality_manager", "admin"}),
}
CLOSE_ROLES = frozenset({"production_operations", "hr", "admin"})
# The factory's policy (`approvers`) names the one role that takes each decision (and admin).
POLICY_DECISIONS = {"approve": "approve", "decide_appeal": "decide_appeal"}

_MESSAGES: dict[str, tuple[str, str]] = {
    "reason": ("请填写原因", "give a reason"),
    "amount": ("金额应为不小于 0 的数字,最多两位小数", "enter an amount of 0 or more, at most two decimals"),
    "upheld": ("请选择申诉是否成立", "choose whether the appeal is upheld"),
    "version": ("版本号无效,请刷新页面", "invalid version: reload the page"),
}


def message(code: str, lang: Language) -> str:
    zh, en = _MESSAGES[code]
    return zh if lang == "zh" else en


def permitted_actions(
    allowed: Iterable[str], roles: Iterable[str], approvers: Mapping[str, str] | None = None
) -> list[str]:
    """The allowed actions (the assessment's state) that these roles may take: the service's
    matrix, narrowed by the factory's policy where it is known (`approvers`)."""
    mine = set(roles)
    out = []
    for action in allowed:
        if not mine & ACTION_ROLES.get(action, frozenset()):
            continue
        which = POLICY_DECISIONS.get(action)
        if which and approvers and approvers.get(which) and "admin" not in mine and approvers[which] not in mine:
            continue
        out.append(action)
    return out


def may_close(roles: Iterable[str]) -> bool:
    return bool(set(roles) & CLOSE_ROLES)


def _version(values: Mapping[str, str], errors: dict[str, str], lang: Language) -> int | None:
    text = (values.get("expected_version") or "").strip()
    if not text:
        return None
    if not text.isdigit():
        errors[GENERAL] = message("version", lang)
        return None
    return int(text)


def _reason(values: Mapping[str, str], errors: dict[str, str], lang: Language, *, required: bool) -> str:
    reason = (values.get("reason") or "").strip()
    if required and not reason:
        errors["reason"] = message("reason", lang)
    return reason


def appeal_body(values: Mapping[str, str], lines: Iterable[str], lang: Language) -> Converted:
    """申诉: the contested line positions (none ticked = the whole assessment) and why."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "lines": sorted({int(x) for x in lines if x.strip().isdigit()}),
        "reason": _reason(values, errors, lang, required=True),
    }
    version = _version(values, errors, lang)
    if version is not None:
        body["expected_version"] = version
    return Converted(body, errors)


def _amount(text: str) -> Decimal | None:
    try:
        amount = Decimal(text.replace(",", "").replace("¥", "").strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount


def decision_body(values: Mapping[str, str], lang: Language) -> Converted:
    """The general manager's decision: upheld (with the decided amount of each line, fields
    `amount.<position>`, blank = unchanged) or dismissed, and why."""
    errors: dict[str, str] = {}
    upheld_text = (values.get("upheld") or "").strip()
    if upheld_text not in ("yes", "no"):
        errors["upheld"] = message("upheld", lang)
    upheld = upheld_text == "yes"
    amounts: dict[str, str] = {}
    for key, text in values.items():
        if not key.startswith("amount.") or not text.strip():
            continue
        position = key.removeprefix("amount.")
        amount = _amount(text)
        if not position.isdigit() or amount is None:
            errors[key] = message("amount", lang)
            continue
        amounts[str(int(position))] = f"{amount:.2f}"
    body: dict[str, Any] = {"upheld": upheld, "reason": _reason(values, errors, lang, required=True)}
    if upheld and amounts:
        body["amounts"] = amounts
    version = _version(values, errors, lang)
    if version is not None:
        body["expected_version"] = version
    return Converted(body, errors)


def approval_body(values: Mapping[str, str], lang: Language) -> Converted:
    """审批/签准: an optional note; final once given."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"reason": _reason(values, errors, lang, required=False)}
    version = _version(values, errors, lang)
    if version is not None:
        body["expected_version"] = version
    return Converted(body, errors)


def close_body(values: Mapping[str, str], lang: Language) -> Converted:
    errors: dict[str, str] = {}
    return Converted({"reason": _reason(values, errors, lang, required=True)}, errors)


def penalty_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """penalty's field errors on the action forms (`amounts.2` → the amount of line 2)."""
    out: dict[str, str] = {}
    for path, text in errors.items():
        parts = path.split(".")
        if parts[0] == "amounts" and len(parts) > 1 and parts[1].isdigit():
            out.setdefault(f"amount.{parts[1]}", text)
        elif parts[0] in ("reason", "upheld"):
            out.setdefault(parts[0], text)
        else:
            out.setdefault(GENERAL, f"{path}: {text}" if path and path != "(body)" else text)
    return out


def current_period(now: datetime) -> str:
    return now.strftime("%Y-%m")


def ledger_target(factory: str, period: str) -> tuple[str, str] | None:
    """The ledger picker's choice, or None when it names no factory or month."""
    factory, period = factory.strip().upper(), period.strip()
    if not FACTORY.match(factory) or not PERIOD.match(period):
        return None
    return factory, period


def ledger_name(name: str) -> tuple[str, str | None] | None:
    """`2026-11` → the page; `2026-11.csv` / `2026-11.xlsx` → a download; else None."""
    period, dot, fmt = name.partition(".")
    if not PERIOD.match(period):
        return None
    if not dot:
        return period, None
    return (period, fmt) if fmt in LEDGER_FORMATS else None


def rule_codes(assessment: Mapping[str, Any]) -> list[str]:
    """The assessment's rule codes in the order its lines name them, each once."""
    seen: list[str] = []
    for line in assessment.get("lines") or []:
        code = str(line.get("rule_code") or "")
        if code and code not in seen:
            seen.append(code)
    return seen
