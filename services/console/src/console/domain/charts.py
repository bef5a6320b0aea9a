"""The dashboard's charts as Apache ECharts options, each with the table of its numbers (pure).

Every chart is drawn from the same rows its table shows, so what a person reads off a bar is
the number a click away beneath it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# The font the console serves itself (static/console.css): Chinese labels render on any machine.
TEXT = {"fontFamily": "Noto Sans SC, sans-serif"}
PALETTE = ["#0b5cad", "#d9822b", "#1f7a3a", "#b42318", "#6b4fbb", "#0f8a8a", "#8c6d1f", "#616e7c"]


@dataclass
class Chart:
    id: str
    title: str
    option: dict[str, Any]
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    empty: bool = False
    problem: str | None = None  # the figures could not be had (role, outage): said instead of a chart
    extra: dict[str, Any] = field(default_factory=dict)


def unavailable(chart_id: str, title: str, problem: str) -> Chart:
    return Chart(chart_id, title, {}, [], [], problem=problem, empty=True)


def _base(title_axis: Sequence[str]) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "textStyle": TEXT,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 56, "right": 56, "top": 40, "bottom": 48},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": list(title_axis), "axisLabel": {"hideOverlap": True}},
    }


def series_chart(
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, str, Decimal | int]],  # (period, key, value)
    *,
    label_of: Callable[[str], str] = str,
    stacked: bool = False,
    kind: str = "bar",
    key_header: str = "",
    value_header: str = "",
    period_header: str = "",
) -> Chart:
    """One series per key over the periods (bars, stacked or not, or lines)."""
    periods = sorted({p for p, _, _ in points})
    keys = sorted({k for _, k, _ in points}, key=lambda k: -sum(Decimal(v) for _, kk, v in points if kk == k))
    values = {(p, k): Decimal(v) for p, k, v in points}
    option = _base(periods)
    option["yAxis"] = {"type": "value"}
    option["series"] = [
        {
            "name": label_of(k),
            "type": kind,
            **({"stack": "all"} if stacked else {}),
            "data": [_num(values.get((p, k), Decimal(0))) for p in periods],
        }
        for k in keys
    ]
    rows = [[p, label_of(k), _text(values[(p, k)])] for p in periods for k in keys if (p, k) in values]
    return Chart(chart_id, title, option, [period_header, key_header, value_header], rows, empty=not points)


def pareto_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, int, Decimal]],  # (category, count, cumulative %)
    *,
    headers: tuple[str, str, str, str],
    label_of: Callable[[str], str] = str,
) -> Chart:
    """Bars in descending order and the cumulative percentage as a line (the 80/20 reading)."""
    names = [label_of(name) for name, _, _ in items]
    option = _base(names)
    option["yAxis"] = [{"type": "value"}, {"type": "value", "max": 100, "axisLabel": {"formatter": "{value} %"}}]
    option["series"] = [
        {"name": headers[1], "type": "bar", "data": [count for _, count, _ in items]},
        {"name": headers[3], "type": "line", "yAxisIndex": 1, "data": [_num(c) for _, _, c in items]},
    ]
    total = sum(count for _, count, _ in items)
    rows = [
        [label_of(name), str(count), _pct(Decimal(count) * 100 / total if total else Decimal(0)), _pct(cum)]
        for name, count, cum in items
    ]
    return Chart(chart_id, title, option, list(headers), rows, empty=not items)


def rate_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, Decimal | None, int, int]],  # (name, rate %, on time, counted)
    *,
    headers: tuple[str, str, str, str],
    label_of: Callable[[str], str] = str,
) -> Chart:
    """Horizontal bars of a percentage per category (on-time rate per milestone)."""
    names = [label_of(name) for name, _, _, _ in items]
    option: dict[str, Any] = {
        "color": PALETTE,
        "textStyle": TEXT,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 160, "right": 40, "top": 16, "bottom": 32},
        "xAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value} %"}},
        "yAxis": {"type": "category", "data": names, "inverse": True},
        "series": [
            {"name": headers[1], "type": "bar", "data": [_num(r) if r is not None else None for _, r, _, _ in items]}
        ],
    }
    rows = [[label_of(n), _pct(r) if r is not None else "—", str(ok), str(all_)] for n, r, ok, all_ in items]
    return Chart(chart_id, title, option, list(headers), rows, empty=not items)


def _num(value: Decimal | int) -> float | int:
    """ECharts reads JSON numbers; the table beside shows the exact decimal."""
    return value if isinstance(value, int) else float(value)


def _text(value: Decimal | int) -> str:
    return str(value)


def _pct(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))} %"
