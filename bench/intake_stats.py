"""Intake's complaint statistics on a million complaints: every query of the stats API, p50 / p95.

For each backend a temporary database (a SQLite file; a PostgreSQL database created and dropped
on the server at BENCH_POSTGRES_URL, default 127.0.0.1:5432) is migrated, then filled with
bulk inserts, not through the domain: 1,000,000 complaints over ten years and ten factories
(products with a long tail, defect types in a Pareto-like mix, 8 % unclassified, 6 % repeats,
2 % withdrawn) and the rollups the repository would have kept, counted by its own projection
code (`rollups.contributions()`) from the same facts. Then each statistics use case (service
layer, SQL adapter, the service's engine settings) runs 50 times per scope after a warm-up:

- one factory or all ten, over the last 12 months or all ten years: trend by month (totals),
  by quarter per factory, by month per defect type and per channel, by year per product; the
  Pareto of defect types, of all products and of one; repeats with the top products;
- a period that starts and ends mid-month (its first and last month read from the day rows);
- the counts of `GET /api/v1/stats/complaints` (every month, from the rollups).

The raw GROUP BYs the rollups replace are timed a few times beside them, for contrast.

    uv run --frozen python bench/intake_stats.py [--complaints 1000000] [--backends sqlite,postgresql]

`main()` prints the table and returns its rows (bench/report.Row), as `rows()` does for bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import Timing, query_rows, time_async  # noqa: E402
from bench.report import Row  # noqa: E402
from cqm_shared.db import create_engine, session_factory, upgrade  # noqa: E402
from intake.adapters import rollups  # noqa: E402
from intake.adapters.orm import ROLLUPS  # noqa: E402
from intake.adapters.statistics import SqlStatistics  # noqa: E402
from intake.service import statistics as stats  # noqa: E402
from intake.service.statistics import By, Grain, Scope  # noqa: E402
from tests.helpers import migrations_dir  # noqa: E402
from tests.infrastructure import LOCAL_POSTGRES, create_database, drop_database  # noqa: E402

GOAL_P95_MS = 100.0
NOW = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
FIRST_YEAR = 2017  # ten years: 2017-01 .. 2026-12
FACTORIES = tuple(f"F{i:02d}" for i in range(1, 11))
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFECTS = (
    "crack 裂纹", "size 尺寸超差", "honeycomb 蜂窝麻面", "rust 锈蚀", "dent 凹陷", "chipping 缺棱掉角",
    "exposed rebar 露筋", "colour 色差", "warp 翘曲", "strength 强度不足", "embedded part 预埋件偏位",
    "packing 包装破损", "label 标识错误", "quantity 数量短缺", "document 资料缺失",
)  # fmt: skip
DEFECT_WEIGHTS = [1 / (k + 1) ** 1.1 for k in range(len(DEFECTS))]
CHANNELS = (
    ("phone", 30), ("email", 20), ("wechat", 15), ("portal", 15), ("system", 10), ("onsite", 4),
    ("consumer_association", 3), ("letter", 2), ("fax", 1),
)  # fmt: skip
CHANNEL_NAMES = [c for c, _ in CHANNELS]
CHANNEL_WEIGHTS = [w for _, w in CHANNELS]
PRODUCTS_PER_FACTORY = 80  # part numbers PC-000..PC-199, overlapping between factories; some models only
PRODUCT_WEIGHTS = [1 / (k + 1) ** 0.8 for k in range(PRODUCTS_PER_FACTORY)]
CHUNK = 20_000
ROLLUP_CHUNK = 100_000


# -- the generated rows ---------------------------------------------------------------------------

COMPLAINT_COLUMNS = (
    "number", "factory", "period", "serial", "status", "channel", "customer_company", "part_number",
    "order_number", "batch_return", "source", "external_ref", "received_at", "registered_at", "record",
    "customer_key", "repeat_of", "severity", "search_text", "version", "registered_day", "product_key",
    "defect_type",
)  # fmt: skip


def months() -> list[tuple[datetime, float]]:
    """(start, seconds in the month) of the ten years, UTC."""
    out = []
    for year in range(FIRST_YEAR, FIRST_YEAR + 10):
        for month in range(1, 13):
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            out.append((start, (min(end, NOW) - start).total_seconds()))
    return out


def _sqlite_time(value: datetime) -> str:
    """As SQLAlchemy stores a time on SQLite: naive UTC text, always with microseconds."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")  # generated in UTC


def _same(value: Any) -> Any:
    return value


class Generator:
    """Complaints spread evenly over factories and months; rows ready for the backend's bulk path
    (SQLite: times as the column stores them), the rollups counted from the same facts."""

    def __init__(self, total: int, backend: str = "postgresql", seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.counters: dict[rollups.Key, list[int]] = {}
        self.slots = [(f, m) for m in months() for f in FACTORIES]
        self.serials: dict[tuple[str, str], int] = {}
        self.last_number: dict[str, str] = {}
        self.t: Callable[[datetime], Any] = _sqlite_time if backend == "sqlite" else _same

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        chunk: list[tuple[Any, ...]] = []
        for i in range(self.total):
            chunk.append(self._complaint(i))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _complaint(self, i: int) -> tuple[Any, ...]:
        rng = self.rng
        factory, (start, seconds) = self.slots[i * len(self.slots) // self.total]
        registered_at = start + timedelta(seconds=int(rng.random() * seconds))
        local = registered_at.astimezone(SHANGHAI)
        period = local.strftime("%y%m")
        serial = self.serials[(factory, period)] = self.serials.get((factory, period), 0) + 1
        number = f"{factory}-{period}-{serial:05d}"
        offset = int(factory[1:]) * 12
        k = rng.choices(range(PRODUCTS_PER_FACTORY), PRODUCT_WEIGHTS)[0]
        part = None if rng.random() < 0.1 else f"PC-{(offset + k) % 200:03d}"
        model = f"M-{(offset + k) % 40:02d}"
        defect = None if rng.random() < 0.08 else rng.choices(DEFECTS, DEFECT_WEIGHTS)[0]
        channel = rng.choices(CHANNEL_NAMES, CHANNEL_WEIGHTS)[0]
        repeat_of = self.last_number.get(factory) if rng.random() < 0.06 else None
        status = "withdrawn" if rng.random() < 0.02 else "registered"
        self.last_number[factory] = number
        company = f"Customer {i % 5000}"
        order = f"SO-{i}"
        record = {
            "factory": factory, "channel": channel, "customer": {"company": company, "contact_name": "张",
            "phone": "13800000000"}, "product": {"model": model, "part_number": part, "order_number": order},
            "phenomenon": "裂纹 crack", "number": number, "status": status,
            "received_at": registered_at.isoformat(), "registered_at": registered_at.isoformat(),
            "repeat_of": repeat_of, "defect_type": defect,
        }  # fmt: skip
        day = local.year * 10000 + local.month * 100 + local.day
        product = rollups.product_key(part, model)
        projection = rollups.Projection(
            factory, day, product, defect or "", channel, rollups.counted_as(status, repeat_of)
        )
        counters = self.counters
        for key, delta in rollups.contributions(projection).items():
            known = counters.get(key)
            if known is None:
                counters[key] = list(delta)
            else:
                for j, value in enumerate(delta):
                    known[j] += value
        t = self.t
        return (
            number, factory, period, serial, status, channel, company, part, order, False, "/bench", None,
            t(registered_at), t(registered_at), json.dumps(record, ensure_ascii=False), company.casefold(),
            repeat_of, None, f"{number} {company} {part or model} 裂纹 crack".casefold(), 1, day, product, defect,
        )  # fmt: skip

    def rollup_rows(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """(table, rows) in primary key order, a chunk at a time."""
        for table in (t.name for t in ROLLUPS):
            keys = sorted(key for name, key in self.counters if name == table)
            for start in range(0, len(keys), ROLLUP_CHUNK):
                yield table, [(*key, *self.counters[(table, key)]) for key in keys[start : start + ROLLUP_CHUNK]]


def _produce(total: int, backend: str, queue: Any) -> None:
    """In a child process: every chunk of complaints, then the rollup rows, then None."""
    generator = Generator(total, backend)
    for chunk in generator.chunks():
        queue.put(("complaints", chunk))
    for table, rows in generator.rollup_rows():
        queue.put((table, rows))
    queue.put(None)


class Produced:
    """The generator run in a child process, so that generating the next chunk overlaps loading
    this one (Python generation and the database's work each take about one core)."""

    def __init__(self, total: int, backend: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._queue = context.Queue(maxsize=3)
        self._process = context.Process(target=_produce, args=(total, backend, self._queue), daemon=True)
        self._process.start()

    def chunks(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        try:
            while True:
                item = self._queue.get(timeout=900)
                if item is None:
                    return
                yield item
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()


# -- bulk writers -----------------------------------------------------------------------------------


def _columns(table: str) -> Sequence[str]:
    if table == "complaints":
        return COMPLAINT_COLUMNS
    rollup = next(t for t in ROLLUPS if t.name == table)
    return [c.name for c in rollup.primary_key.columns] + [c.name for c in rollup.columns if not c.primary_key]


def load_sqlite(path: Path, produced: Produced) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=OFF")  # a throwaway database: load without a journal
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-1000000")
    with connection:
        for table, rows in produced.chunks():
            columns = _columns(table)
            marks = ", ".join("?" * len(columns))
            quoted = ", ".join(f'"{c}"' for c in columns)
            connection.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("ANALYZE")
    connection.close()


async def load_postgres(url: str, produced: Produced) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for table, rows in produced.chunks():  # blocks the loop while waiting: nothing else runs meanwhile
            await connection.copy_records_to_table(table, records=rows, columns=list(_columns(table)))
        await connection.execute("VACUUM ANALYZE")  # the visibility map: index-only scans
    finally:
        await connection.close()


# -- the measured queries ---------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    complaints: int
    load_s: float
    rows: dict[str, int]
    timings: list[Timing] = field(default_factory=list)
    runs: int = 50


ONE_PRODUCT = "PC-036"  # F03's most frequent part (offset 36, rank 0)


Query = Callable[[], Awaitable[object]]


def _trend(statistics: SqlStatistics, scope: Scope, grain: Grain, by: By | None) -> Query:
    return lambda: stats.trend(statistics, scope, grain, by)


def _pareto(statistics: SqlStatistics, scope: Scope) -> Query:
    return lambda: stats.pareto(statistics, scope)


def _repeats(statistics: SqlStatistics, scope: Scope) -> Query:
    return lambda: stats.repeats(statistics, scope, Grain.MONTH, 10)


def _overview(statistics: SqlStatistics, factories: frozenset[str] | None) -> Query:
    return lambda: stats.overview(statistics, factories)


def queries(statistics: SqlStatistics) -> list[tuple[str, Query]]:
    year = (date(2026, 1, 1), date(2026, 12, 31))
    everything = (date(FIRST_YEAR, 1, 1), date(2026, 12, 31))
    out: list[tuple[str, Query]] = []
    for scope_name, factories in (("1 factory", frozenset({"F03"})), ("all 10 factories", None)):
        for span_name, (first, last) in (("12 months", year), ("10 years", everything)):
            s = Scope(factories, first, last)
            one = Scope(factories, first, last, ONE_PRODUCT)
            label = f"{scope_name}, {span_name}"
            out += [
                (f"trend by month, {label}", _trend(statistics, s, Grain.MONTH, None)),
                (f"trend by quarter per factory, {label}", _trend(statistics, s, Grain.QUARTER, By.FACTORY)),
                (f"trend by month per defect type, {label}", _trend(statistics, s, Grain.MONTH, By.DEFECT_TYPE)),
                (f"trend by month per channel, {label}", _trend(statistics, s, Grain.MONTH, By.CHANNEL)),
                (f"trend by year per product, {label}", _trend(statistics, s, Grain.YEAR, By.PRODUCT)),
                (f"Pareto of defect types, {label}", _pareto(statistics, s)),
                (f"Pareto of one product, {label}", _pareto(statistics, one)),
                (f"repeats by month + top 10 products, {label}", _repeats(statistics, s)),
            ]
        mid = Scope(factories, date(2026, 1, 15), date(2026, 11, 20))
        out += [
            (
                f"trend per defect type, 2026-01-15..2026-11-20 (day rows at both ends), {scope_name}",
                _trend(statistics, mid, Grain.MONTH, By.DEFECT_TYPE),
            ),
            (f"counts by month and channel (every month), {scope_name}", _overview(statistics, factories)),
        ]
    return out


def raw_queries(backend: str) -> list[tuple[str, str]]:
    """The raw GROUP BYs over the complaint rows that the rollups replace."""
    start = "'2026-01-01 00:00:00'" if backend == "sqlite" else "TIMESTAMPTZ '2026-01-01 00:00:00+08'"
    counted = "repeat_of IS NULL AND status <> 'withdrawn'"
    return [
        (
            "contrast: raw GROUP BY per month and defect type, 1 factory, 12 months",
            f"SELECT registered_day / 100, COALESCE(defect_type, ''), COUNT(*) FROM complaints"
            f" WHERE factory = 'F03' AND registered_at >= {start} AND {counted} GROUP BY 1, 2",
        ),
        (
            "contrast: raw GROUP BY per defect type (Pareto), all 10 factories, 10 years",
            f"SELECT COALESCE(defect_type, ''), COUNT(*) FROM complaints WHERE {counted} GROUP BY 1",
        ),
    ]


async def measure(
    backend: str, complaints: int, runs: int, postgres_url: str, say: Callable[[str], None]
) -> BackendResult:
    """Fill a temporary database of `backend` and time every statistics query on it."""
    folder = Path(tempfile.mkdtemp(prefix="cqm-bench-intake-stats-"))
    name = f"cqm_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'intake.db'}"
    else:
        url = await asyncio.to_thread(create_database, postgres_url, name)
    try:
        await asyncio.to_thread(upgrade, migrations_dir("intake"), url)
        say(f"[{backend}] generating and loading {complaints:,} complaints ...")
        started = time.perf_counter()
        produced = Produced(complaints, backend)
        if backend == "sqlite":
            await asyncio.to_thread(load_sqlite, folder / "intake.db", produced)
        else:
            await load_postgres(url, produced)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                counted = {
                    t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())
                    for t in ("complaints", *(r.name for r in ROLLUPS))
                }
            say(f"[{backend}]    loaded in {load_s:.0f} s: {counted}")
            result = BackendResult(backend, complaints, load_s, counted, runs=runs)
            statistics = SqlStatistics(session_factory(engine))
            for label, call in queries(statistics):
                result.timings.append(Timing(label, await time_async(runs, call)))
                t = result.timings[-1]
                say(f"[{backend}]    {label}: p50 {t.p(50):.1f} ms, p95 {t.p(95):.1f} ms")
            for label, sql in raw_queries(backend):

                async def raw(sql: str = sql) -> None:
                    async with engine.connect() as conn:
                        await conn.execute(sa.text(sql))

                result.timings.append(Timing(label, await time_async(3, raw, 1)))
                say(f"[{backend}]    {label}: p50 {result.timings[-1].p(50):.0f} ms")
        finally:
            await engine.dispose()
        return result
    finally:
        if backend == "postgresql":
            await asyncio.to_thread(drop_database, postgres_url, name)
        await asyncio.to_thread(shutil.rmtree, folder, True)


def rows(results: Sequence[BackendResult]) -> list[Row]:
    """Rows for bench/run.py's table: one per query, p50 / p95 per backend against the goal."""
    if not results:
        return []
    loaded = f"{results[0].complaints:,} complaints"
    return query_rows(
        "intake stats",
        loaded,
        {r.backend: r.load_s for r in results},
        {r.backend: r.timings for r in results},
        GOAL_P95_MS,
    )


def notes(results: Sequence[BackendResult]) -> list[str]:
    out = []
    for r in results:
        counted = ", ".join(f"{table} {n:,}" for table, n in r.rows.items())
        out.append(
            f"Intake statistics, {r.backend}: {r.complaints:,} complaints over {len(FACTORIES)} factories × 10 years "
            f"(6 % repeats, 2 % withdrawn, 8 % without a defect type), generated and bulk-loaded with their rollups "
            f"in {r.load_s:.0f} s; rows: {counted}."
        )
    if results:
        out.append(
            "Intake statistics queries: the service's use cases through the SQL adapter and the service's engine "
            f"settings (no HTTP), each run {results[0].runs} times after 3 warm-up runs; '12 months' = "
            f"2026-01-01..2026-12-31, '10 years' = {FIRST_YEAR}-01-01..2026-12-31; the raw GROUP BYs the rollups "
            "replace are timed 3 times for contrast."
        )
    return out


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each query")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    began = time.perf_counter()

    def say(text: str) -> None:
        elapsed = int(time.perf_counter() - began)
        print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {text}", flush=True)

    results = [asyncio.run(measure(b, args.complaints, args.runs, postgres, say)) for b in args.backends.split(",")]
    backends = [r.backend for r in results]
    table = rows(results)
    width = max(len(r.figure) for r in table)
    print("\n" + f"{'figure':<{width}}  " + "  ".join(f"{b:>16}" for b in backends) + "  goal")
    for row in table:
        cells = "  ".join(f"{row.values.get(b, ''):>16}" for b in backends)
        print(f"{row.figure:<{width}}  {cells}  {row.goal} {row.verdict(backends)}")
    print("\n".join(f"- {note}" for note in notes(results)))
    return table


if __name__ == "__main__":
    main()
