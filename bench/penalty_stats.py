"""Penalty's cost of poor quality (质量成本) on a million assessments: the cost query, p50 / p95.

For each backend a temporary database (a SQLite file; a PostgreSQL database created and dropped
on the server at BENCH_POSTGRES_URL, default 127.0.0.1:5432) is migrated, then filled with
bulk inserts, not through the domain: 1,000,000 assessments (one per complaint) over ten years
and ten factories with their parties and line items, and the `stats_cost` rollup the repository
would have kept, counted by its own `rollups.contributions()` from the same facts. Most are
approved; some void after their month closed (reversed one to three months later), some void
while open (counted nowhere); the last two months hold drafts and appeals. Then the cost use case
(service layer, SQL adapter, the service's engine settings) runs 50 times per query after a
warm-up:

- one factory or all factories; the last 12 months (monthly) or all ten years (yearly);
- by period or by period and responsible department;
- and the largest answer: ten years monthly by department, all factories.

The raw aggregate over the assessments' lines the rollup replaces is timed a few times beside
them, for contrast.

    uv run --frozen python bench/penalty_stats.py [--assessments 1000000] [--backends sqlite,postgresql]

`main()` returns the rows for bench/run.py's table (as `rows()` of the measured results does).
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
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import Timing, query_rows, time_async  # noqa: E402
from bench.report import Row  # noqa: E402
from cqm_shared.db import create_engine, session_factory, upgrade  # noqa: E402
from penalty.adapters import rollups  # noqa: E402
from penalty.adapters.rule_book import RuleBook  # noqa: E402
from penalty.adapters.statistics import SqlCostStatistics  # noqa: E402
from penalty.service import statistics as stats  # noqa: E402
from penalty.service.rules import FactoryRules  # noqa: E402
from tests.conftest import POLICY_DIR  # noqa: E402
from tests.helpers import migrations_dir  # noqa: E402
from tests.infrastructure import LOCAL_POSTGRES, create_database, drop_database  # noqa: E402

GOAL_P95_MS = 100.0
NOW = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
FIRST_YEAR = 2017  # ten years: 2017-01 .. 2026-12
LAST_PERIOD = "2026-12"
FACTORIES = tuple(f"F{i:02d}" for i in range(1, 11))
DEPARTMENTS = ("装配车间", "机加车间", "喷涂车间", "品管部", "研究所", "采购部", "仓库", "物流部")
SUPPLIERS = ("华东钢构", "江南轴承", "北方电气")
CLASSES = ("technical_major", "technical_general", "management_major", "management_general")
COEFFICIENT = {"technical_major": "0.05", "technical_general": "0.03", "management_major": "0.06"}
CHUNK = 20_000
CENT = Decimal("0.01")

ASSESSMENT_COLUMNS = (
    "id", "number", "factory", "basis", "status", "period", "adjustment", "reversal_period", "superseded_by",
    "policy_version", "warnings", "deadlines", "appeal", "decision", "approved_by", "approved_at", "received_at",
    "version", "sequence", "accident_class", "loss_amount", "determined_at", "findings", "order_number",
)  # fmt: skip
PARTY_COLUMNS = ("assessment_id", "position", "kind", "name", "department", "role", "share")
LINE_COLUMNS = (
    "assessment_id", "position", "rule_code", "kind", "role", "payee_kind", "payee_id", "payee_name", "department",
    "party", "basis", "amount", "points", "points_ledger", "illustrative", "original_amount", "note",
)  # fmt: skip


@dataclass
class Chunk:
    assessments: list[tuple[Any, ...]] = field(default_factory=list)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)


def months() -> list[tuple[str, datetime, float]]:
    """(yyyy-mm, start, seconds in the month) of the ten years."""
    out = []
    for year in range(FIRST_YEAR, FIRST_YEAR + 10):
        for month in range(1, 13):
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            out.append((f"{year:04d}-{month:02d}", start, (min(end, NOW) - start).total_seconds()))
    return out


def later(period: str, months_after: int) -> str:
    index = stats.month_index(period) + months_after
    return min(stats.month_text(index), LAST_PERIOD)


def _sqlite_time(value: datetime | None) -> str | None:
    """As SQLAlchemy stores a time on SQLite: naive UTC text, always with microseconds."""
    return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # Money / Percent / Points: exact text


def _same(value: Any) -> Any:
    return value


class Generator:
    """Assessments spread evenly over factories and months, rows ready for the backend's bulk path
    (SQLite: times and decimals as the columns store them, as text); the rollup is counted from
    the same facts by the repository's own `contributions()`."""

    def __init__(self, total: int, backend: str = "postgresql", seed: int = 9) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.counters: dict[rollups.Key, list[int]] = {}
        self.slots = [(f, m) for m in months() for f in FACTORIES]
        self.serials: dict[tuple[str, str], int] = {}
        sqlite = backend == "sqlite"
        self.t: Callable[[datetime | None], Any] = _sqlite_time if sqlite else _same
        self.d: Callable[[Decimal | None], Any] = _sqlite_decimal if sqlite else _same
        self.json: Callable[[Any], Any] = json.dumps  # both: the JSON columns take text in bulk
        self.empty = json.dumps([])
        self.findings = json.dumps(
            [
                {
                    "code": "5.2.3.2",
                    "occurrences": 1,
                    "pieces": 0,
                    "party": None,
                    "product_stage": "series",
                    "degree": "general",
                }
            ]
        )

    def chunks(self) -> Iterator[Chunk]:
        chunk = Chunk()
        for i in range(self.total):
            self._assessment(i, chunk)
            if len(chunk.assessments) == CHUNK:
                yield chunk
                chunk = Chunk()
        if chunk.assessments:
            yield chunk

    def _status(self, period: str) -> tuple[str, str | None]:
        r = self.rng.random()
        if period >= "2026-12":
            return ("draft" if r < 0.7 else "appealed" if r < 0.85 else "approved"), None
        if period >= "2026-11":
            return ("approved" if r < 0.7 else "draft" if r < 0.9 else "appealed"), None
        if r < 0.015:  # voided after its month closed: reversed one to three months later
            return "void", later(period, self.rng.randint(1, 3))
        if r < 0.02:  # voided while its month was open
            return "void", None
        return "approved", None

    def _assessment(self, i: int, chunk: Chunk) -> None:
        rng, t, d = self.rng, self.t, self.d
        factory, (period, start, seconds) = self.slots[i * len(self.slots) // self.total]
        serial = self.serials[(factory, period)] = self.serials.get((factory, period), 0) + 1
        number = f"{factory}-{period[2:4]}{period[5:7]}-{serial:05d}"
        assessment_id = str(uuid.UUID(int=i + 1))
        determined_at = start + timedelta(seconds=int(rng.random() * seconds))
        status, reversal = self._status(period)
        accident = rng.choice(CLASSES)
        loss = Decimal(0) if rng.random() < 0.35 else Decimal(rng.randint(100, 6_000_000)).scaleb(-2)
        count = rng.choice((1, 1, 2))
        names = rng.sample(DEPARTMENTS, count)
        supplier = rng.choice(SUPPLIERS) if rng.random() < 0.15 else None
        internal = (
            {1: (Decimal(80),), 2: (Decimal(50), Decimal(30))}
            if supplier
            else {1: (Decimal(100),), 2: (Decimal(70), Decimal(30))}
        )[count]
        parties: list[rollups.PartyFacts] = []
        lines: list[rollups.LineFacts] = []
        line_rows: list[tuple[Any, ...]] = []

        def line(
            rule: str, kind: str, role: str, payee: str, department: str | None, party: str, amount: Decimal
        ) -> None:
            """A line as the rule engine writes it (payee kind and name folded into `payee`)."""
            payee_kind, payee_id = payee.split(":", 1)
            points = Decimal(2) if kind == "points" else Decimal(0)
            money = Decimal(0) if kind == "points" else amount
            ledger = "management" if kind == "points" else None
            line_rows.append(
                (assessment_id, len(line_rows), rule, kind, role, payee_kind, payee_id, payee_id, department, party,
                 f"{rule} basis", d(money), d(points), ledger, rule == "4.3.3.2", None, "")
            )  # fmt: skip
            lines.append(rollups.LineFacts(kind, department, party, money))

        for k, (name, share) in enumerate(zip(names, internal, strict=True)):
            person = rng.random() < 0.4
            kind, party_name = ("person", f"工{serial % 97}") if person else ("department", name)
            parties.append(rollups.PartyFacts(kind, party_name, name, share))
            chunk.parties.append((assessment_id, k, kind, party_name, name if person else None, None, d(share)))
            if person:  # seed 000 §5.2.3.2: the responsible person 50, the head 10
                line("5.2.3.2", "fine", "responsible_person", f"person:{party_name}", name, party_name, Decimal(50))
            line("5.2.3.2", "fine", "department_head", f"person:head of {name}", name, party_name, Decimal(10))
            if loss and accident in COEFFICIENT:  # §4.3.3.2: compensation × coefficient × share
                amount = (loss * Decimal(COEFFICIENT[accident]) * share / 100).quantize(CENT, ROUND_HALF_UP)
                line("4.3.3.2", "fine", "workshop", f"department:{name}", name, party_name, amount)
            if rng.random() < 0.1:  # §4.3.2.2: management points, no money
                line("4.3.2.2", "points", "workshop", f"department:{name}", name, party_name, Decimal(0))
        if supplier:  # seed 001 §5.3.2: the supplier's share charged back
            share = Decimal(20)
            parties.append(rollups.PartyFacts("supplier", supplier, None, share))
            chunk.parties.append((assessment_id, len(names), "supplier", supplier, None, None, d(share)))
            amount = (loss * share / 100).quantize(CENT, ROUND_HALF_UP)
            line("charge_back", "charge_back", "supplier", f"supplier:{supplier}", None, supplier, amount)
        chunk.lines.extend(line_rows)
        approved = status == "approved" or (status == "void" and reversal is not None)
        received_at = determined_at + timedelta(minutes=5)
        chunk.assessments.append(
            (
                assessment_id, number, factory, "determination", status, period, False, reversal, None,
                "2026.1#bench", self.empty, self.empty, None, None, "user:ops" if approved else None,
                t(received_at + timedelta(days=25)) if approved else None, t(received_at), 3, 1, accident, d(loss),
                t(determined_at), self.findings, None,
            )
        )  # fmt: skip
        projection = rollups.Projection(factory, status, period, reversal, loss, tuple(parties), tuple(lines))
        counters = self.counters
        for key, delta in rollups.contributions(projection).items():
            known = counters.get(key)
            if known is None:
                counters[key] = list(delta)
            else:
                for j, value in enumerate(delta):
                    known[j] += value

    def rollup_rows(self) -> list[tuple[Any, ...]]:
        return [(*key, *values) for key, values in sorted(self.counters.items()) if any(values)]


def _produce(total: int, backend: str, queue: Any) -> None:
    """In a child process: every chunk, then the rollup rows."""
    generator = Generator(total, backend)
    for chunk in generator.chunks():
        queue.put((chunk.assessments, chunk.parties, chunk.lines))
    queue.put({"stats_cost": generator.rollup_rows()})


class Produced:
    """The generator run in a child process, so that generating the next chunk overlaps loading
    this one (Python generation and the database's work each take about one core)."""

    def __init__(self, total: int, backend: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._queue = context.Queue(maxsize=3)
        self._process = context.Process(target=_produce, args=(total, backend, self._queue), daemon=True)
        self._process.start()
        self.rollup: list[tuple[Any, ...]] = []

    def chunks(self) -> Iterator[Chunk]:
        try:
            while True:
                item = self._queue.get(timeout=600)
                if isinstance(item, dict):
                    self.rollup = item["stats_cost"]
                    return
                yield Chunk(*item)
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()


# -- bulk writers -----------------------------------------------------------------------------------

ROLLUP_COLUMNS = ("factory", "period", "department", *rollups.COUNTERS)  # as Generator.rollup_rows() makes them


def load_sqlite(path: Path, produced: Produced) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=OFF")  # a throwaway database: load without a journal
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-500000")

    def insert(table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    with connection:
        for chunk in produced.chunks():
            insert("assessments", ASSESSMENT_COLUMNS, chunk.assessments)
            insert("assessment_parties", PARTY_COLUMNS, chunk.parties)
            insert("assessment_lines", LINE_COLUMNS, chunk.lines)
        insert("stats_cost", ROLLUP_COLUMNS, produced.rollup)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("ANALYZE")
    connection.close()


async def load_postgres(url: str, produced: Produced) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for chunk in produced.chunks():  # blocks the loop while waiting: nothing else runs meanwhile
            await connection.copy_records_to_table("assessments", records=chunk.assessments, columns=ASSESSMENT_COLUMNS)
            await connection.copy_records_to_table("assessment_parties", records=chunk.parties, columns=PARTY_COLUMNS)
            await connection.copy_records_to_table("assessment_lines", records=chunk.lines, columns=LINE_COLUMNS)
        await connection.copy_records_to_table("stats_cost", records=produced.rollup, columns=ROLLUP_COLUMNS)
        await connection.execute("VACUUM ANALYZE")  # the visibility map: index-only scans
    finally:
        await connection.close()


# -- the measured queries ---------------------------------------------------------------------------


class BenchRules:
    """The rule source of the generated factories: each with F01's shipped policy (its time zone
    is all the cost query reads of it)."""

    def __init__(self) -> None:
        self._book = RuleBook(POLICY_DIR)

    @property
    def factories(self) -> list[str]:
        return list(FACTORIES)

    def for_factory(self, factory: str) -> FactoryRules:
        return self._book.for_factory("F01")


@dataclass
class BackendResult:
    backend: str
    assessments: int
    load_s: float
    rows: dict[str, int]
    timings: list[Timing]
    runs: int = 50


def queries(statistics: SqlCostStatistics, rules: BenchRules) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    spans = (
        ("last 12 months, monthly", "2026-01", stats.Grain.MONTH),
        ("10 years, yearly", f"{FIRST_YEAR}-01", stats.Grain.YEAR),
    )
    out: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def call(factory: str | None, first: str, grain: stats.Grain, by: stats.By) -> Callable[[], Awaitable[object]]:
        return lambda: stats.cost_of_poor_quality(
            statistics, rules, visible=None, factory=factory, grain=grain, by=by, first=first, last=LAST_PERIOD, now=NOW
        )

    for scope_name, factory in (("1 factory", "F03"), ("all 10 factories", None)):
        for span_name, first, grain in spans:
            for by in (stats.By.PERIOD, stats.By.DEPARTMENT):
                out.append((f"cost by {by.value}, {scope_name}, {span_name}", call(factory, first, grain, by)))
    out.append(
        (
            "cost by department, all 10 factories, 10 years, monthly",
            call(None, f"{FIRST_YEAR}-01", stats.Grain.MONTH, stats.By.DEPARTMENT),
        )
    )
    return out


RAW_COST = (
    "SELECT a.period, l.department, l.kind, SUM(l.amount), COUNT(*) FROM assessments a"
    " JOIN assessment_lines l ON l.assessment_id = a.id"
    " WHERE a.factory = 'F03' AND a.period BETWEEN '2026-01' AND '2026-12'"
    " AND (a.status IN ('draft', 'appealed', 'approved') OR a.reversal_period IS NOT NULL)"
    " AND l.kind IN ('fine', 'charge_back') GROUP BY a.period, l.department, l.kind"
)


async def measure(
    backend: str, assessments: int, runs: int, postgres_url: str, say: Callable[[str], None]
) -> BackendResult:
    """Fill a temporary database of `backend` and time the cost queries on it."""
    folder = Path(tempfile.mkdtemp(prefix="cqm-bench-penalty-"))
    name = f"cqm_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'penalty.db'}"
    else:
        url = await asyncio.to_thread(create_database, postgres_url, name)
    try:
        await asyncio.to_thread(upgrade, migrations_dir("penalty"), url)
        say(f"[{backend}] generating and loading {assessments:,} assessments ...")
        started = time.perf_counter()
        produced = Produced(assessments, backend)
        if backend == "sqlite":
            await asyncio.to_thread(load_sqlite, folder / "penalty.db", produced)
        else:
            await load_postgres(url, produced)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                counted = {
                    t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())
                    for t in ("assessments", "assessment_parties", "assessment_lines", "stats_cost")
                }
            say(f"[{backend}]    loaded in {load_s:.0f} s: {counted}")
            statistics = SqlCostStatistics(session_factory(engine))
            rules = BenchRules()
            timings = []
            for label, call in queries(statistics, rules):
                timings.append(Timing(label, await time_async(runs, call)))
                t = timings[-1]
                say(f"[{backend}]    {label}: p50 {t.p(50):.1f} ms, p95 {t.p(95):.1f} ms")

            async def raw() -> None:
                async with engine.connect() as conn:
                    await conn.execute(sa.text(RAW_COST))

            timings.append(
                Timing("contrast: raw GROUP BY of the lines, 1 factory, 12 months", await time_async(3, raw, 1))
            )
            say(f"[{backend}]    {timings[-1].query}: p50 {timings[-1].p(50):.0f} ms")
        finally:
            await engine.dispose()
        return BackendResult(backend, assessments, load_s, counted, timings, runs)
    finally:
        if backend == "postgresql":
            await asyncio.to_thread(drop_database, postgres_url, name)
        await asyncio.to_thread(shutil.rmtree, folder, True)


def rows(results: Sequence[BackendResult]) -> list[Row]:
    """Rows for bench/run.py's table: one per query, p50 / p95 per backend against the goal."""
    if not results:
        return []
    loaded = f"{results[0].assessments:,} assessments"
    return query_rows(
        "penalty cost",
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
            f"Penalty cost, {r.backend}: {r.assessments:,} assessments (one per complaint) over {len(FACTORIES)} "
            f"factories × 10 years, generated and bulk-loaded with their rollup in {r.load_s:.0f} s; rows: {counted}."
        )
    if results:
        out.append(
            "Penalty cost queries: the service's use case through the SQL adapter and the service's engine settings "
            f"(no HTTP), each run {results[0].runs} times after 3 warm-up runs; '12 months' = 2026-01..2026-12, "
            f"'10 years' = {FIRST_YEAR}-01..2026-12; the raw GROUP BY the rollup replaces is timed 3 times "
            "for contrast."
        )
    return out


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assessments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each query")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    began = time.perf_counter()

    def say(text: str) -> None:
        elapsed = int(time.perf_counter() - began)
        print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {text}", flush=True)

    results = [asyncio.run(measure(b, args.assessments, args.runs, postgres, say)) for b in args.backends.split(",")]
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
