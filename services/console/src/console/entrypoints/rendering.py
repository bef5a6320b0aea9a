"""Pages from Jinja2 templates, with what every template may use: the user, the language, the
two-language text helper `tr(zh, en)`, code labels, the CSRF token and local times."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from console.domain.countdown import Countdown, countdown
from console.domain.labels import Language, label
from console.entrypoints.session import CSRF_FIELD, csrf_token, language, signed_in
from cqm_shared.clock import Clock

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def money(value: object) -> str:
    """¥ with thousands separators and two places, from the services' decimal strings."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "—"
    return f"¥{amount:,.2f}"


class Pages:
    def __init__(self, clock: Clock, zone: str) -> None:
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.filters["money"] = money
        self.templates.env.filters["local"] = self.local
        self.templates.env.filters["localdate"] = self.local_date

    def local(self, value: object) -> str:
        at = parse_time(value)
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if at else "—"

    def local_date(self, value: object) -> str:
        at = parse_time(value)
        return at.astimezone(self.zone).strftime("%Y-%m-%d") if at else "—"

    def context(self, request: Request) -> dict[str, Any]:
        lang: Language = language(request)
        now = self.clock.now()

        def tr(zh: str, en: str) -> str:
            return zh if lang == "zh" else en

        def lab(kind: str, code: object) -> str:
            return label(kind, code, lang)

        def due(deadline: Mapping[str, Any]) -> Countdown:
            due_at = parse_time(deadline.get("due_at")) or now
            return countdown(
                str(deadline.get("state", "pending")), due_at, parse_time(deadline.get("met_at")), now, lang
            )

        return {
            "request": request,
            "user": signed_in(request),
            "lang": lang,
            "tr": tr,
            "label": lab,
            "countdown": due,
            "csrf_field": CSRF_FIELD,
            "csrf_token": csrf_token(request),
            "now": now,
        }

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        values = {**self.context(request), **(context or {})}
        return self.templates.TemplateResponse(request, name, values, status_code=status, headers=dict(headers or {}))
