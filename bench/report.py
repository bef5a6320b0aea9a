"""The machine a run came from, and its figures as a text table and as markdown."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


def machine(rabbitmq_version: str, postgres_version: str) -> dict[str, str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    mem_kib = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "RAM": f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "?",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "RabbitMQ": rabbitmq_version,
        "PostgreSQL": postgres_version,
        "SQLite": sqlite3.sqlite_version,
    }


@dataclass
class Row:
    figure: str
    values: dict[str, str]  # backend -> value
    ratios: dict[str, str] = field(default_factory=dict)
    goal: str = ""
    verdicts: dict[str, bool | None] = field(default_factory=dict)  # None: no bar for this backend

    def verdict(self, backends: list[str]) -> str:
        if not self.verdicts:
            return ""
        return " / ".join("–" if (v := self.verdicts.get(b)) is None else ("pass" if v else "FAIL") for b in backends)


def number(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(value: float, reference: float) -> str:
    if math.isnan(value) or not reference:
        return "n/a"
    r = value / reference
    return f"{r:.3f}×" if r < 1 else f"{r:.1f}×" if r < 10 else f"{r:,.0f}×"


def _cells(row: Row, backends: list[str]) -> list[str]:
    cells = [row.figure]
    for b in backends:
        cells += [row.values.get(b, ""), row.ratios.get(b, "")]
    return [*cells, row.goal, row.verdict(backends)]


def _header(backends: list[str]) -> list[str]:
    cells = ["figure"]
    for b in backends:
        cells += [b, "ratio"]
    verdict = "pass/fail (" + " / ".join(backends) + ")"
    return [*cells, "goal", verdict]


def text_table(raw: list[Row], rows: list[Row], backends: list[str]) -> str:
    label = max((len(r.figure) for r in raw), default=0)
    lines = [f"{r.figure:<{label}}  {r.values['raw']}" for r in raw]
    table = [_header(backends)] + [_cells(r, backends) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    formatted = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in table
    ]
    formatted.insert(1, "-" * len(formatted[0]))
    return "\n".join([*lines, "", *formatted])


def markdown(raw: list[Row], rows: list[Row], backends: list[str], info: dict[str, str], notes: list[str]) -> str:
    out = ["| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in info.items()), ""]
    out += ["| raw broker (same run) | |", "|---|---:|", *(f"| {r.figure} | {r.values['raw']} |" for r in raw), ""]
    header = _header(backends)
    out += ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 3) + "|---|---|"]
    out += ["| " + " | ".join(_cells(r, backends)) + " |" for r in rows]
    out += ["", *(f"- {n}" for n in notes)]
    return "\n".join(out) + "\n"
