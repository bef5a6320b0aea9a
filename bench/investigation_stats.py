"""Investigation statistics on a million cases: every query of the stats API, p50 / p95.

For each backend a temporary database (a SQLite file; a PostgreSQL database created and dropped
on the server at BENCH_POSTGRES_URL, default 127.0.0.1:5432) is migrated, then filled with
bulk inserts, not through the domain: 1,000,000 cases over ten years and ten factories with
their deadlines, parties and actions, and the rollups the repository would have kept, counted by
its own `contributions()` from the same rows. Then each statistics use case (service layer,
SQL adapter, the service's engine settings) runs 50 times per scope after a warm-up:

- one factory or all factories, over the last 12 months or all ten years;
- the overdue list: first page, and a page deep in it.

The raw GROUP BY the rollups replace is timed a few times beside them, for contrast.

    uv run --frozen python bench/investigation_stats.py [--cases 1000000] [--backends sqlite,postgresql]

`make bench` runs the same and adds its rows to the table of bench/run.py.
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
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import Timing, query_rows, time_async  # noqa: E402
from bench.report import Row  # noqa: E402
from cqm_shared.db import create_engine, session_factory, upgrade  # noqa: E402
from investigation.adapters import rollups  # noqa: E402
from investigation.adapters.orm import ROLLUPS  # noqa: E402
from investigation.adapters.repository import records_json  # noqa: E402
from investigation.adapters.statistics import SqlStatistics  # noqa: E402
from investigation.domain.records import (  # noqa: E402
    AccidentCause,
    Category,
    LossClass,
    Party,
    PartyKind,
    QcFacts,
    Records,
    Responsibility,
    Severity,
    Triage,
)
from investigation.service import statistics as stats  # noqa: E402
from tests.helpers import migrations_dir  # noqa: E402
from tests.infrastructure import LOCAL_POSTGRES, create_database, drop_database  # noqa: E402

GOAL_P95_MS = 100.0
NOW = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
FIRST_YEAR = 2017  # ten years: 2017-01 .. 2026-12
FACTORIES = tuple(f"F{i:02d}" for i in range(1, 11))
DEPARTMENTS = ("PC workshop 1", "PC workshop 2", "PC workshop 3", "QC", "shipping", "R&D", "purchasing", "warehouse")
OUTCOMES = (("resolved", 82), ("not_valid", 5), ("non_quality", 5), ("not_our_fault", 3), ("market_cause", 3))
OPEN_STATES = ("triaged", "contained", "root_caused", "responsibility_determined", "actions_open", "verified")
CHUNK = 20_000
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _records_template() -> Any:
    """A plausible records document (triage and determination); every generated case shares it."""
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    return records_json(
        Records(
            triage=Triage(True, Category.QUALITY, Severity.MAJOR, True, at, "user:qe-1", responsible_department="QC"),
            responsibility=Responsibility(
                1,
                (
                    Party(PartyKind.PERSON, "王", Decimal(70), "QC", "line_qc"),
                    Party(PartyKind.ROLE, "owner", Decimal(30)),
                ),
                AccidentCause.MANAGEMENT_GENERAL,
                Decimal("12000.00"),
                LossClass.SERIOUS,
                QcFacts(measured=True),
                at,
                "user:qe-1",
            ),
        )
    )


# -- the generated rows ---------------------------------------------------------------------------

CASE_COLUMNS = (
    "number", "factory", "state", "opened_at", "updated_at", "version", "registered_at", "received_at",
    "market_region", "market_province", "request_kind", "batch_return", "customer_company", "part_number",
    "product_model", "phenomenon", "quantity_defective", "round", "closed_at", "outcome", "records",
    "opened_month", "severity", "category", "valid", "responsible_department", "cause_class", "loss_class",
    "loss_amount",
)  # fmt: skip
DEADLINE_COLUMNS = (
    "number", "milestone", "round", "position", "due_at", "state", "source", "met_at", "cancelled_at", "factory",
    "opened_month",
)  # fmt: skip
PARTY_COLUMNS = ("number", "kind", "name", "sequence", "department", "role", "share")
ACTION_COLUMNS = ("number", "id", "kind", "owner", "due_at", "verified_at", "round")


@dataclass
class Chunk:
    cases: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: list[tuple[Any, ...]] = field(default_factory=list)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[Any, ...]] = field(default_factory=list)


def months() -> list[tuple[int, datetime, float]]:
    """(yyyymm, start, seconds in the month) of the ten years."""
    out = []
    for year in range(FIRST_YEAR, FIRST_YEAR + 10):
        for month in range(1, 13):
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            out.append((year * 100 + month, start, (min(end, NOW) - start).total_seconds()))
    return out


SEVERITIES = [s.value for s in Severity]
CAUSES = [c.value for c in AccidentCause]
LOSS_CLASSES = [c.value for c in LossClass]
OUTCOME_NAMES = [o for o, _ in OUTCOMES]
OUTCOME_WEIGHTS = [w for _, w in OUTCOMES]
SHARES = {1: (Decimal(100),), 2: (Decimal(70), Decimal(30)), 3: (Decimal(50), Decimal(30), Decimal(20))}


def _sqlite_time(value: datetime | None) -> str | None:
    """As SQLAlchemy stores a time on SQLite: naive UTC text, always with microseconds."""
    return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")  # generated in UTC


def _sqlite_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))  # Money / Percent: exact text


def _same(value: Any) -> Any:
    return value


class Generator:
    """Cases spread evenly over factories and months; the last 45 days still open.

    Rows come out ready for the backend's bulk path (SQLite: times and decimals as the columns
    store them as text); the rollups are counted from the same facts by the repository's own
    `contributions()`.
    """

    def __init__(self, total: int, backend: str = "postgresql", seed: int = 8) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.records = json.dumps(_records_template(), ensure_ascii=False)
        self.counters: dict[rollups.Key, list[int]] = {}
        self.slots = [(f, m) for m in months() for f in FACTORIES]
        self.serials: dict[tuple[str, int], int] = {}
        sqlite = backend == "sqlite"
        self.t: Callable[[datetime | None], Any] = _sqlite_time if sqlite else _same
        self.d: Callable[[Decimal | None], Any] = _sqlite_decimal if sqlite else _same

    def chunks(self) -> Iterator[Chunk]:
        chunk = Chunk()
        for i in range(self.total):
            self._case(i, chunk)
            if len(chunk.cases) == CHUNK:
                yield chunk
                chunk = Chunk()
        if chunk.cases:
            yield chunk

    def _case(self, i: int, chunk: Chunk) -> None:
        rng, t, d = self.rng, self.t, self.d
        factory, (month, start, seconds) = self.slots[i * len(self.slots) // self.total]
        serial = self.serials[(factory, month)] = self.serials.get((factory, month), 0) + 1
        number = f"{factory}-{month % 10000:04d}-{serial:05d}"
        opened_at = start + timedelta(seconds=int(rng.random() * seconds))
        registered_at = opened_at - timedelta(minutes=1)
        received_at = registered_at - timedelta(seconds=int(rng.random() * 6 * 3600))
        still_open = opened_at > NOW - 45 * DAY
        triaged = not still_open or rng.random() < 0.9
        state, outcome, closed_at = rng.choice(OPEN_STATES) if triaged else "opened", None, None
        if not still_open:
            if rng.random() < 0.02:
                state, outcome = "withdrawn", "withdrawn"
            else:
                state, outcome = "closed", rng.choices(OUTCOME_NAMES, OUTCOME_WEIGHTS)[0]
            closed_at = opened_at + timedelta(seconds=int(86400 * min(rng.lognormvariate(2.0, 0.7), 400)))
        quality = outcome in (None, "resolved", "market_cause", "withdrawn")
        determined = outcome in ("resolved", "market_cause") or (still_open and state in OPEN_STATES[3:] and triaged)
        severity = rng.choice(SEVERITIES) if triaged else None
        out_province = rng.random() < 0.5
        cause = rng.choice(CAUSES) if determined else None
        loss = Decimal(int(rng.random() * 6_000_000)) / 100 if determined else None
        loss_class = rng.choice(LOSS_CLASSES) if determined else None
        chunk.cases.append(
            (
                number, factory, state, t(opened_at), t(closed_at or opened_at), 5, t(registered_at), t(received_at),
                "domestic", "out" if out_province else "in", None, False, f"Customer {i % 5000}",
                f"PC-{i % 97}", None, "尺寸超差 dimension out of tolerance", rng.choice((None, 3, 40)), 1,
                t(closed_at), outcome, self.records, month, severity, "quality" if quality else "service",
                triaged, rng.choice(DEPARTMENTS) if triaged else None, cause, loss_class, d(loss),
            )
        )  # fmt: skip
        due = [
            ("first_response", registered_at + 24 * HOUR),
            ("handling_proposal", received_at + 48 * HOUR),
            ("customer_reply", received_at + 24 * HOUR),
            ("customer_reply_latest", received_at + 48 * HOUR),
            ("close", registered_at + (360 if out_province else 120) * HOUR),
        ]
        if triaged and quality:
            due.append(("feedback_slip", opened_at + 50 * HOUR))
        if rng.random() < 0.3:
            due.append(("preliminary_report", received_at + 72 * HOUR))
        parties: list[rollups.PartyFacts] = []
        if determined:
            due.append(("workshop_training", opened_at + 16 * DAY))
            count = rng.choice((1, 2, 2, 3))
            for k, (name, share) in enumerate(zip(rng.sample(DEPARTMENTS, count), SHARES[count], strict=True)):
                if k == 0 and rng.random() < 0.3:
                    party = rollups.PartyFacts(PartyKind.DEPARTMENT.value, name, None, share)
                    chunk.parties.append((number, party.kind, name, 1, None, None, d(share)))
                else:
                    party = rollups.PartyFacts(PartyKind.PERSON.value, f"worker {k}", name, share)
                    chunk.parties.append((number, party.kind, party.name, 1, name, "operator", d(share)))
                parties.append(party)
            verified = t(closed_at - DAY) if closed_at and outcome == "resolved" else None
            for a in range(1 if rng.random() < 0.6 else 2):
                action_due = opened_at + (3 + 4 * a) * DAY
                kind = "temporary" if a == 0 else "permanent"
                chunk.actions.append((number, f"A{a + 1}", kind, "workshop_head", t(action_due), verified, 1))
                due.append((f"action:A{a + 1}", action_due))
        settled, cancel = not still_open, outcome == "withdrawn"
        facts = []
        for position, (milestone, due_at) in enumerate(due):
            lingering = milestone == "workshop_training" and rng.random() < 0.01  # forgotten: still breached
            state_, met_at, cancelled_at = "pending", None, None
            if cancel and rng.random() < 0.5:
                state_, cancelled_at = "cancelled", closed_at
            elif not lingering and (settled or (due_at < NOW and rng.random() < 0.6) or rng.random() < 0.3):
                # 85 % on time (up to 20 h early), the rest up to three days late
                late = rng.random() >= 0.85
                met_at = due_at + timedelta(seconds=int(rng.random() * (3 * 86400 if late else -20 * 3600)))
                if met_at == due_at and late:
                    met_at += timedelta(seconds=1)
                state_, met_at = ("met", met_at) if met_at <= NOW else ("pending", None)
            chunk.deadlines.append(
                (number, milestone, 1, position, t(due_at), state_, "seed", t(met_at), t(cancelled_at), factory, month)
            )
            facts.append(rollups.DeadlineFacts(milestone, state_, due_at, met_at))
        projection = rollups.Projection(
            factory, month, opened_at, closed_at, outcome, cause, loss_class, loss, tuple(parties), tuple(facts)
        )
        counters = self.counters
        for key, delta in rollups.contributions(projection).items():
            known = counters.get(key)
            if known is None:
                counters[key] = list(delta)
            else:
                for j, value in enumerate(delta):
                    known[j] += value

    def rollup_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in ROLLUPS}
        for (table, key), values in sorted(self.counters.items()):
            out[table].append((*key, *values))
        return out


def _produce(total: int, backend: str, queue: Any) -> None:
    """In a child process: every chunk, then the rollup rows."""
    generator = Generator(total, backend)
    for chunk in generator.chunks():
        queue.put((chunk.cases, chunk.deadlines, chunk.parties, chunk.actions))
    queue.put(generator.rollup_rows())


class Produced:
    """The generator run in a child process, so that generating the next chunk overlaps loading
    this one (Python generation and the database's work each take about one core)."""

    def __init__(self, total: int, backend: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._queue = context.Queue(maxsize=3)
        self._process = context.Process(target=_produce, args=(total, backend, self._queue), daemon=True)
        self._process.start()
        self.rollups: dict[str, list[tuple[Any, ...]]] = {}

    def chunks(self) -> Iterator[Chunk]:
        try:
            while True:
                item = self._queue.get(timeout=600)
                if isinstance(item, dict):
                    self.rollups = item
                    return
                yield Chunk(*item)
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()


# -- bulk writers -----------------------------------------------------------------------------------


def _rollup_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns] + [c.name for c in table.columns if not c.primary_key]


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
            insert("cases", CASE_COLUMNS, chunk.cases)
            insert("case_deadlines", DEADLINE_COLUMNS, chunk.deadlines)
            insert("case_parties", PARTY_COLUMNS, chunk.parties)
            insert("case_actions", ACTION_COLUMNS, chunk.actions)
        for table in ROLLUPS:
            insert(table.name, _rollup_columns(table), produced.rollups[table.name])
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("ANALYZE")
    connection.close()


async def load_postgres(url: str, produced: Produced) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for chunk in produced.chunks():  # blocks the loop while waiting: nothing else runs meanwhile
            await connection.copy_records_to_table("cases", records=chunk.cases, columns=CASE_COLUMNS)
            await connection.copy_records_to_table("case_deadlines", records=chunk.deadlines, columns=DEADLINE_COLUMNS)
            await connection.copy_records_to_table("case_parties", records=chunk.parties, columns=PARTY_COLUMNS)
            await connection.copy_records_to_table("case_actions", records=chunk.actions, columns=ACTION_COLUMNS)
        rows = produced.rollups
        for table in ROLLUPS:
            await connection.copy_records_to_table(table.name, records=rows[table.name], columns=_rollup_columns(table))
        await connection.execute("VACUUM ANALYZE")  # the visibility map: index-only scans
    finally:
        await connection.close()


# -- the measured queries ---------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    cases: int
    load_s: float
    rows: dict[str, int]
    timings: list[Timing]
    runs: int = 50


def queries(statistics: SqlStatistics) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    year = (202601, 202612)
    everything = (FIRST_YEAR * 100 + 1, 202612)
    out: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for scope_name, factories in (("1 factory", frozenset({"F03"})), ("all 10 factories", None)):
        for span_name, (first, last) in (("12 months", year), ("10 years", everything)):
            period = stats.Period(factories, first, last)
            label = f"{scope_name}, {span_name}"
            out += [
                (f"on-time per milestone, {label}", lambda p=period: stats.on_time(statistics, p, NOW)),
                (f"cycle times, {label}", lambda p=period: stats.cycle_times(statistics, p)),
                (f"cases by department, {label}", lambda p=period: stats.departments(statistics, p)),
                (f"accident classes, {label}", lambda p=period: stats.accident_classes(statistics, p)),
            ]
        out += [
            (f"overdue, first 50, {scope_name}", lambda f=factories: stats.overdue(statistics, f, NOW, 50, 0)),
            (
                f"overdue, 50 at offset 2000, {scope_name}",
                lambda f=factories: stats.overdue(statistics, f, NOW, 50, 2000),
            ),
        ]
    return out


RAW_ON_TIME = (
    "SELECT milestone, SUM(CASE WHEN state = 'met' AND met_at <= due_at THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN state = 'met' AND met_at > due_at THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END)"
    " FROM case_deadlines WHERE factory = 'F03' AND opened_month BETWEEN 202601 AND 202612 GROUP BY milestone"
)


async def measure(backend: str, cases: int, runs: int, postgres_url: str, say: Callable[[str], None]) -> BackendResult:
    """Fill a temporary database of `backend` and time every statistics query on it."""
    folder = Path(tempfile.mkdtemp(prefix="cqm-bench-stats-"))
    name = f"cqm_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'investigation.db'}"
    else:
        url = await asyncio.to_thread(create_database, postgres_url, name)
    try:
        await asyncio.to_thread(upgrade, migrations_dir("investigation"), url)
        say(f"[{backend}] generating and loading {cases:,} cases ...")
        started = time.perf_counter()
        produced = Produced(cases, backend)
        if backend == "sqlite":
            await asyncio.to_thread(load_sqlite, folder / "investigation.db", produced)
        else:
            await load_postgres(url, produced)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                counted = {
                    t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())
                    for t in ("cases", "case_deadlines", "case_parties", "case_actions", *(r.name for r in ROLLUPS))
                }
                counted["pending deadlines past due"] = int(
                    (
                        await conn.execute(
                            sa.text("SELECT count(*) FROM case_deadlines WHERE state = 'pending' AND due_at < :now"),
                            {"now": NOW if backend == "postgresql" else _sqlite_time(NOW)},
                        )
                    ).scalar_one()
                )
            say(f"[{backend}]    loaded in {load_s:.0f} s: {counted}")
            statistics = SqlStatistics(session_factory(engine))
            timings = []
            for label, call in queries(statistics):
                timings.append(Timing(label, await time_async(runs, call)))
                t = timings[-1]
                say(f"[{backend}]    {label}: p50 {t.p(50):.1f} ms, p95 {t.p(95):.1f} ms")

            async def raw() -> None:
                async with engine.connect() as conn:
                    await conn.execute(sa.text(RAW_ON_TIME))

            timings.append(Timing("contrast: raw GROUP BY on-time, 1 factory, 12 months", await time_async(3, raw, 1)))
            say(f"[{backend}]    {timings[-1].query}: p50 {timings[-1].p(50):.0f} ms")
        finally:
            await engine.dispose()
        return BackendResult(backend, cases, load_s, counted, timings, runs)
    finally:
        if backend == "postgresql":
            await asyncio.to_thread(drop_database, postgres_url, name)
        await asyncio.to_thread(shutil.rmtree, folder, True)


def rows(results: Sequence[BackendResult]) -> list[Row]:
    """Rows for bench/run.py's table: one per query, p50 / p95 per backend against the goal."""
    if not results:
        return []
    loaded = f"{results[0].cases:,} cases"
    return query_rows(
        "stats", loaded, {r.backend: r.load_s for r in results}, {r.backend: r.timings for r in results}, GOAL_P95_MS
    )


def notes(results: Sequence[BackendResult]) -> list[str]:
    out = []
    for r in results:
        counted = ", ".join(f"{table} {n:,}" for table, n in r.rows.items())
        out.append(
            f"Statistics, {r.backend}: {r.cases:,} cases over {len(FACTORIES)} factories × 10 years (the last 45 days "
            f"still open), generated and bulk-loaded with their rollups in {r.load_s:.0f} s; rows: {counted}."
        )
    if results:
        out.append(
            "Statistics queries: the service's use cases through the SQL adapter and the service's engine settings "
            f"(no HTTP), each run {results[0].runs} times after 3 warm-up runs; '12 months' = 2026-01..2026-12, "
            "'10 years' = "
            f"{FIRST_YEAR}-01..2026-12; the raw GROUP BY the rollups replace is timed 3 times for contrast."
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each query")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    began = time.perf_counter()

    def say(text: str) -> None:
        elapsed = int(time.perf_counter() - began)
        print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {text}", flush=True)

    results = [asyncio.run(measure(b, args.cases, args.runs, postgres, say)) for b in args.backends.split(",")]
    backends = [r.backend for r in results]
    table = rows(results)
    width = max(len(r.figure) for r in table)
    print("\n" + f"{'figure':<{width}}  " + "  ".join(f"{b:>16}" for b in backends) + "  goal")
    for row in table:
        cells = "  ".join(f"{row.values.get(b, ''):>16}" for b in backends)
        print(f"{row.figure:<{width}}  {cells}  {row.goal} {row.verdict(backends)}")
    print("\n".join(f"- {note}" for note in notes(results)))


if __name__ == "__main__":
    main()
