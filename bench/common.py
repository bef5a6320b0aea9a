"""Small helpers the benchmark modules share: percentiles, events, open-loop pacing, timed queries."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika

from bench.report import Row
from cqm_shared.contracts.envelope import CONTENT_TYPE, CloudEvent, new_event

SOURCE = "https://bench.example.com"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def complaint_form(i: int, ref: str | None = None) -> dict[str, Any]:
    """A valid intake form (CONTRACT.md), alternating factories F01/F02."""
    form: dict[str, Any] = {
        "factory": "F01" if i % 2 else "F02",
        "channel": "system" if ref else "portal",
        "customer": {"company": f"Customer {i % 500}", "contact_name": "Zhang", "email": f"c{i}@example.com"},
        "product": {
            "part_number": f"PC-{i % 97}",
            "order_number": f"SO-{i}",
            "quantity_shipped": 100,
            "quantity_defective": 3,
        },
        "phenomenon": "尺寸超差 dimension out of tolerance",
    }
    if ref is not None:
        form["external_ref"] = ref
    return form


def submitted(i: int, ref: str) -> CloudEvent:
    """`complaint.submitted` as another system (a CRM) would send it."""
    data = complaint_form(i, ref)
    return new_event(type="complaint.submitted", source=SOURCE, factory=data["factory"], data=data)


def message(body: bytes, message_id: str | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body, content_type=CONTENT_TYPE, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message_id
    )


async def sleep_until(moment: float) -> None:
    """Sleep until `time.perf_counter()` reaches `moment` (at once if it has)."""
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass
class Timing:
    """One statistics query's timed runs (ms)."""

    query: str
    runs_ms: list[float]

    def p(self, q: float) -> float:
        return percentile(self.runs_ms, q)


async def time_async(runs: int, call: Callable[[], Awaitable[object]], warmup: int = 3) -> list[float]:
    """Each run's wall time in ms, after `warmup` untimed runs."""
    for _ in range(warmup):
        await call()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def query_rows(
    prefix: str, loaded: str, load_s: dict[str, float], timings: dict[str, list[Timing]], goal_p95_ms: float
) -> list[Row]:
    """The statistics benches' rows: the bulk load, then p50 / p95 of each query per backend against
    the goal (queries named 'contrast: …' are the raw GROUP BYs, shown without a goal)."""
    if not timings:
        return []
    out = [
        Row(
            f"{prefix}: {loaded} generated + bulk-loaded (with rollups), s",
            {b: f"{s:.0f}" for b, s in load_s.items()},
            {b: "—" for b in load_s},
        )
    ]
    first = next(iter(timings.values()))
    for i, timing in enumerate(first):
        contrast = timing.query.startswith("contrast")
        out.append(
            Row(
                f"{prefix}: {timing.query}, p50 / p95 ms",
                {b: f"{t[i].p(50):.1f} / {t[i].p(95):.1f}" for b, t in timings.items()},
                {b: "—" for b in timings},
                "" if contrast else f"p95 ≤ {goal_p95_ms:.0f} ms",
                {} if contrast else {b: t[i].p(95) <= goal_p95_ms for b, t in timings.items()},
            )
        )
    return out
