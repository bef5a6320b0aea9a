"""How much time a deadline has left, as a person reads it (pure; the clock is passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from console.domain.labels import Language

SOON = timedelta(hours=24)


@dataclass(frozen=True)
class Countdown:
    state: str  # met, cancelled, overdue, due_soon, pending
    text: str

    @property
    def css(self) -> str:
        return {"overdue": "bad", "due_soon": "warn", "met": "ok"}.get(self.state, "")


def _span(delta: timedelta, language: Language) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if language == "zh":
        parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{minutes}分" if not days else ""]
    else:
        parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if not days else ""]
    return " ".join(p for p in parts if p) or ("0分" if language == "zh" else "0 min")


def countdown(state: str, due_at: datetime, met_at: datetime | None, now: datetime, language: Language) -> Countdown:
    if state == "met":
        late = met_at is not None and met_at > due_at
        if language == "zh":
            return Countdown("met", "已完成" + ("(超期完成)" if late else "(按时)"))
        return Countdown("met", "met" + (" (late)" if late else " (on time)"))
    if state == "cancelled":
        return Countdown("cancelled", "已取消" if language == "zh" else "cancelled")
    left = due_at - now
    if left < timedelta(0):
        span = _span(left, language)
        return Countdown("overdue", f"已超期 {span}" if language == "zh" else f"overdue by {span}")
    span = _span(left, language)
    return Countdown("due_soon" if left <= SOON else "pending", f"剩余 {span}" if language == "zh" else f"{span} left")
