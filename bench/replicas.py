"""What one replica of each service handles on this machine, and what a second one adds (issue 13).

1. Complaints per second. For each replica count (default 1 and 2) a fresh PostgreSQL stack of
   the four services, that many processes of each on one database per service (tests/stack.py),
   takes the import path of bench/pipeline.py: N `complaint.submitted` published from outside,
   the clock stops when notification holds all N `investigation.opened` notices; lost / doubled
   counted in every database and dead-letter queue. Around it, every process's CPU time
   (/proc/<pid>/stat utime + stime, its own and its children's) and resident memory
   (/proc/<pid>/status VmRSS, sampled every 0.2 s): idle right after the start, peak during,
   and after. PostgreSQL's and RabbitMQ's process trees, the load generator and the whole
   machine (/proc/stat) are measured the same way.
2. Pending timers. One notification database, its timers table grown step by step (default
   100,000, 300,000 and 1,000,000 pending, due over the next days, bulk-loaded as bench/timers.py
   does, then ANALYZE); at each size, 1 then 2 notification processes, each running both workers,
   see 2,000 more timers come due over 25 s (bench/timers.py's window). Lateness is the worker's
   own `fired_at - fire_at`; a timer fired twice would have two `fire` rows in the audit log (its
   firing and its audit row commit together); which replica fired each timer is its `claimed_by`.

How to read the table (bench/results/replicas.md):

- The columns are the replica counts: "1 replica" is one process of every service, "2 replicas"
  two processes of every service sharing its database and queues, as two pods of one Deployment.
- "CPU-s per 1,000 complaints" is the CPU time all processes of one service used during the
  import, per 1,000 complaints; "complaints/s per core" = 1,000 / that: what one replica of the
  service takes if it has one CPU core to itself, whatever this machine has. The service with the
  most CPU per complaint is the bottleneck: it needs the most replicas (or cores) for a target rate.
- Everything (load generator, RabbitMQ, PostgreSQL, every service process) shares this machine's
  cores, so the measured events/s is what the whole pipeline does on them, not what one replica
  does alone: when "machine busy" is near 100 %, a second replica only adds contention; the
  per-core figures tell what it adds where it gets cores of its own.
- "Memory idle / peak / after" (MiB, the largest process of the service) and "CPU idle" are what
  Kubernetes requests and limits are sized from; peak includes the import's burst.
- Timers: a replica "handles" a pending set when p99 lateness stays under a second and none are
  missing; with two replicas the window's timers split between them and none fires twice.

    uv run --frozen python bench/replicas.py [--replicas-events 2000] [--replica-counts 1,2]
        [--replicas-timer-pending 100000,300000,1000000] [--markdown bench/results/replicas.md]

`make bench` runs the same as step 7 (`--replicas-events 0` skips it) and writes the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench import broker, pipeline  # noqa: E402
from bench import timers as timer_bench  # noqa: E402
from bench.common import percentile  # noqa: E402
from bench.report import Row, markdown, number, ratio, text_table  # noqa: E402
from cqm_shared.db import create_engine  # noqa: E402
from notification.adapters.orm import audit_log, notifications, timers  # noqa: E402
from tests.stack import SERVICES, ServiceProcess, Stack, running_stack  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.2  # resident memory sampling period
IDLE_S = 5.0  # idle CPU measured over this long after the start
TIMER_IDLE_S = 4.0  # before each timer window: what the pending set costs while nothing is due
SETTLE_S = 15.0  # after the import, wait at most this long for the services to go quiet
QUIET_CORES = 0.05  # "quiet": all services together use less than this share of a core
GOAL_LATENESS_P99_MS = 1000.0
DISTURBED = 0.15  # cores of other work on the machine beyond which a measurement is not this software's
DONE_TRACK = f"{timer_bench.WINDOW_TRACK}:done"  # a measured window's timers, once counted
INFRA = {"PostgreSQL": ("postgres",), "RabbitMQ": ("beam.smp", "epmd")}
Say = Callable[[str], None]


# -- /proc ----------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, name, CPU seconds of it and its reaped children)."""
    out: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        head, tail = text.rsplit(")", 1)
        fields = tail.split()  # state, ppid, … utime (12th), stime, cutime, cstime
        out[int(entry.name)] = (int(fields[1]), head.split("(", 1)[1], sum(map(int, fields[11:15])) / TICKS)
    return out


def _tree_cpu(table: dict[int, tuple[int, str, float]], roots: Iterable[int]) -> float:
    """CPU seconds of `roots` and all their descendants (an exited child's time is in its parent's
    cutime/cstime once reaped, so the sum only grows)."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _, _) in table.items():
        children[parent].append(pid)
    total, todo = 0.0, [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        total += table[pid][2]
        todo += children[pid]
    return total


def _infra_roots(table: dict[int, tuple[int, str, float]]) -> dict[str, list[int]]:
    """The top processes of PostgreSQL and RabbitMQ on this machine (parent not of the same kind)."""
    roots: dict[str, list[int]] = {}
    for label, names in INFRA.items():
        roots[label] = [
            pid for pid, (parent, name, _) in table.items() if name in names and table.get(parent, (0, ""))[1] != name
        ]
    return roots


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot (/proc/stat: idle and iowait are not busy)."""
    values = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def _load_generator_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: the services are its children
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuClock:
    """CPU seconds of labelled process groups (each service process, PostgreSQL, RabbitMQ, this one)."""

    groups: dict[str, list[int]]
    seconds: dict[str, float] = field(default_factory=dict)
    machine: tuple[float, float] = (0.0, 0.0)
    at: float = 0.0

    @classmethod
    def now(cls, processes: Iterable[ServiceProcess]) -> CpuClock:
        table = _processes()
        groups = {p.label: [p.process.pid] for p in processes if p.process is not None}
        groups.update(_infra_roots(table))
        clock = cls(groups, machine=_machine_busy(), at=time.perf_counter())
        clock.seconds = {label: _tree_cpu(table, pids) for label, pids in groups.items()}
        clock.seconds["load generator"] = _load_generator_cpu()
        return clock

    def since(self, before: CpuClock) -> dict[str, float]:
        return {label: s - before.seconds.get(label, 0.0) for label, s in self.seconds.items()}

    def busy_since(self, before: CpuClock) -> float:
        """Share of all the machine's cores busy between the two readings."""
        busy, total = (a - b for a, b in zip(self.machine, before.machine, strict=True))
        return busy / total if total else float("nan")

    def others_since(self, before: CpuClock) -> float:
        """Cores busy with anything not measured here (other work on the machine: a disturbance)."""
        busy = (self.machine[0] - before.machine[0]) / TICKS
        return max(0.0, busy - sum(self.since(before).values())) / (self.at - before.at)


@contextlib.contextmanager
def peak_rss(processes: list[ServiceProcess]) -> Iterator[dict[str, float]]:
    """The largest resident memory (MiB) of each process, sampled every SAMPLE_S in a thread."""
    peak: dict[str, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for p in processes:
                with contextlib.suppress(OSError, AssertionError, RuntimeError):
                    peak[p.label] = max(peak.get(p.label, 0.0), p.rss_mb())
            stop.wait(SAMPLE_S)

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _rss(processes: Iterable[ServiceProcess]) -> dict[str, float]:
    out = {}
    for p in processes:
        with contextlib.suppress(OSError, AssertionError, RuntimeError):
            out[p.label] = p.rss_mb()
    return out


def _tracebacks(processes: Iterable[ServiceProcess]) -> dict[str, int]:
    return {p.label: n for p in processes if (n := p.log().count("Traceback"))}


# -- 1. complaints per second ---------------------------------------------------------------------


@dataclass
class ImportResult:
    replicas: int
    imported: pipeline.ImportRun
    window_s: float  # the CPU window: the import plus the settling after it
    busy: float  # share of the machine's cores busy during the window
    others: float  # cores busy with other work meanwhile
    cpu_s: dict[str, float]  # process label (intake, intake#2, …, PostgreSQL, RabbitMQ, load generator) -> CPU s
    idle_cores: dict[str, float]  # service process label -> share of a core, idle after the start
    idle_mib: dict[str, float]
    peak_mib: dict[str, float]
    after_mib: dict[str, float]
    tracebacks: dict[str, int]
    dead: list[str]
    load: float  # load average (1 min) when the import began
    logs: str | None = None

    def per_1000(self, label: str) -> float:
        """CPU seconds per 1,000 complaints of a service (all its replicas) or an infrastructure group."""
        used = sum(s for name, s in self.cpu_s.items() if name.split("#")[0] == label)
        return used * 1000 / self.imported.n

    def per_service(self, values: dict[str, float], service: str) -> list[float]:
        return [v for name, v in values.items() if name.split("#")[0] == service]

    @property
    def ok(self) -> bool:
        i = self.imported
        return i.complaints == i.cases == i.notified == i.n and not i.doubled and not i.dead_lettered

    @property
    def per_s(self) -> float:
        return self.imported.rate(self.imported.notified_s)


async def _settle(processes: list[ServiceProcess]) -> None:
    """Until the services together use less than QUIET_CORES of a core over half a second (the
    work the import left behind, e.g. penalty's and notification's own events), at most SETTLE_S."""
    deadline = time.perf_counter() + SETTLE_S
    before = CpuClock.now(processes)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.5)
        after = CpuClock.now(processes)
        used = sum(after.since(before)[p.label] for p in processes)
        if used / (after.at - before.at) < QUIET_CORES:
            return
        before = after


async def _import(stack: Stack, events: int, in_flight: int, limit_s: float, say: Say) -> ImportResult:
    processes = stack.processes()
    replicas = len(stack.replicas["intake"])
    idle_mib = _rss(processes)
    started = CpuClock.now(processes)
    await asyncio.sleep(IDLE_S)
    idle = CpuClock.now(processes)
    idle_cores = {p.label: idle.since(started)[p.label] / (idle.at - started.at) for p in processes}
    probe = pipeline.Probe(stack)
    load = os.getloadavg()[0]
    try:
        with peak_rss(processes) as peak:
            before = CpuClock.now(processes)
            imported = await pipeline.import_path(stack, probe, events, in_flight, limit_s=limit_s)
            await _settle(processes)
            after = CpuClock.now(processes)
    finally:
        await probe.close()
    result = ImportResult(
        replicas,
        imported,
        after.at - before.at,
        after.busy_since(before),
        after.others_since(before),
        after.since(before),
        idle_cores,
        idle_mib,
        dict(peak),
        _rss(processes),
        _tracebacks(processes),
        [p.label for p in processes if not p.alive()],
        load,
    )
    say(
        f"[{replicas} replica(s)] {result.per_s:.1f} complaints/s (all notices after "
        f"{imported.notified_s or float('nan'):.1f} s); complaints {imported.complaints}, cases {imported.cases}, "
        f"notified {imported.notified}, doubled {imported.doubled}, dead letters {imported.dead_lettered}; "
        f"machine busy {result.busy:.0%}, other work {result.others:.2f} cores; CPU-s per 1,000: "
        + ", ".join(f"{s} {result.per_1000(s):.1f}" for s in (*SERVICES, *INFRA, "load generator"))
    )
    return result


def complaints(
    counts: list[int], events: int, in_flight: int, limit_s: float, rabbitmq: str, postgres: str, say: Say
) -> list[ImportResult]:
    from bench.run import keep_logs

    out = []
    for replicas in counts:
        say(f"[{replicas} replica(s)] starting {replicas} process(es) of each of the four services on PostgreSQL ...")
        with running_stack("postgresql", replicas=replicas, rabbitmq_url=rabbitmq, postgres_url=postgres) as stack:
            say(f"[{replicas} replica(s)] idle {IDLE_S:.0f} s, then the import path: {events} complaint.submitted ...")
            result = asyncio.run(_import(stack, events, in_flight, limit_s, say))
            if result.tracebacks or result.dead or not result.ok:
                result.logs = keep_logs(stack)
                say(f"[{replicas} replica(s)] something to look into: the services' logs kept in {result.logs}")
        out.append(result)
    return out


# -- 2. pending timers ----------------------------------------------------------------------------


@dataclass
class TimerCell:
    pending: int
    replicas: int
    lateness_s: list[float]
    missing: int
    fired_twice: int  # window timers with more than one `fire` in the audit log
    by_replica: list[int]  # window timers each process fired (claimed_by)
    cpu_s: float  # all notification processes during the window
    peak_mib: float  # the largest notification process during the window
    unsettled: int  # deliveries of the previous window still not attempted when this one began
    load: float  # load average (1 min) when the window began
    idle_cores: dict[str, float]  # notification (all processes) and PostgreSQL, share of a core, nothing due
    pg_cpu_s: float  # PostgreSQL during the window
    others: float  # cores busy with other work during the window

    def late_ms(self, q: float) -> float:
        return percentile(self.lateness_s, q) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.lateness_s, default=float("nan")) * 1000


@dataclass
class TimerResult:
    cells: list[TimerCell]
    fill_s: dict[int, float]  # pending -> seconds to load that size (from the previous one)
    skipped: list[int]  # sizes left out to stay within the time box
    window: int
    window_s: float
    poll: float
    batch: int
    emails: int
    emails_twice: int
    tracebacks: dict[str, int]


async def _fill(engine: AsyncEngine, first: int, count: int) -> None:
    """`count` pending timers due between one hour and five days from now, in chunks."""
    now = datetime.now(UTC)
    spread = timedelta(days=5).total_seconds()
    chunk = 50_000
    for start in range(first, first + count, chunk):
        created = now - timedelta(days=1)
        rows = [
            timer_bench.timer_row(i, now + timedelta(hours=1, seconds=random.uniform(0, spread)), created)
            for i in range(start, min(first + count, start + chunk))
        ]
        await timer_bench.insert(engine, timers, rows)
    async with engine.begin() as connection:
        await connection.execute(sa.text("ANALYZE timers"))


async def _window_counts(engine: AsyncEngine, pids: list[int]) -> tuple[int, list[int]]:
    """(timers of the window fired more than once, fired by each process) from the audit log and
    `claimed_by` (`notification@<host>:<pid>:…`, kept on a fired timer)."""
    t, a = timers, audit_log
    mine = t.c.track == timer_bench.WINDOW_TRACK
    fires = (
        sa.select(a.c.entity_id)
        .join(t, t.c.id == a.c.entity_id)
        .where(mine, a.c.action == "fire")
        .group_by(a.c.entity_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    twice = await timer_bench.scalar(engine, sa.select(sa.func.count()).select_from(fires))
    by_owner = sa.select(t.c.claimed_by, sa.func.count()).where(mine, t.c.state == "fired").group_by(t.c.claimed_by)
    async with engine.connect() as connection:
        rows = (await connection.execute(by_owner)).all()
    return int(twice), [sum(int(n) for owner, n in rows if f":{pid}:" in (owner or "")) for pid in pids]


async def _cells(
    stack: Stack, pendings: list[int], counts: list[int], args: argparse.Namespace, budget_s: float, say: Say
) -> TimerResult:
    processes = stack.replicas["notification"]
    engine = create_engine(processes[0].database_url)
    cells: list[TimerCell] = []
    fill_s: dict[int, float] = {}
    skipped: list[int] = []
    began, loaded, rate = time.perf_counter(), 0, 0.0
    waiting = (
        sa.select(sa.func.count())
        .select_from(notifications)
        .where(notifications.c.status == "pending", notifications.c.attempts == 0)
    )
    window = timedelta(seconds=args.timer_window_seconds)
    cell_s = args.timer_window_seconds + 10
    try:
        for pending in pendings:
            remaining = budget_s - (time.perf_counter() - began)
            needed = (pending - loaded) / rate + cell_s * len(counts) if rate else 0.0
            if needed > remaining:
                say(f"timers: {pending:,} pending left out: about {needed:.0f} s needed, {remaining:.0f} s left")
                skipped.append(pending)
                continue
            for process in processes[1:]:  # each size starts with one replica
                process.stop()
            say(f"timers: loading {pending - loaded:,} more pending timers ({pending:,} in all) ...")
            started = time.perf_counter()
            await _fill(engine, loaded, pending - loaded)
            fill_s[pending] = time.perf_counter() - started
            rate = (pending - loaded) / fill_s[pending]
            loaded = pending
            say(f"timers:    loaded in {fill_s[pending]:.1f} s ({rate:,.0f}/s)")
            for replicas in counts:
                for process in processes[:replicas]:
                    if not process.alive():
                        await asyncio.to_thread(process.start)
                        await asyncio.to_thread(process.wait_ready)
                await timer_bench.until(lambda: _none(engine, waiting), 60.0)
                unsettled = int(await timer_bench.scalar(engine, waiting))
                say(f"timers: {pending:,} pending, {replicas} notification process(es)")
                running, load = processes[:replicas], os.getloadavg()[0]
                quiet = CpuClock.now(running)
                await asyncio.sleep(TIMER_IDLE_S)
                with peak_rss(running) as peak:
                    before = CpuClock.now(running)
                    late, missing = await timer_bench.lateness(engine, args.timer_window, window, say)
                    after = CpuClock.now(running)
                twice, by = await _window_counts(engine, [p.process.pid for p in running if p.process is not None])
                used = after.since(before)
                cell = TimerCell(
                    pending,
                    replicas,
                    late,
                    missing,
                    twice,
                    by,
                    sum(used[p.label] for p in running),
                    max(peak.values(), default=float("nan")),
                    unsettled,
                    load,
                    {
                        "notification": sum(before.since(quiet)[p.label] for p in running) / (before.at - quiet.at),
                        "PostgreSQL": before.since(quiet)["PostgreSQL"] / (before.at - quiet.at),
                    },
                    used["PostgreSQL"],
                    after.others_since(before),
                )
                cells.append(cell)
                say(
                    f"timers:    p50 {cell.late_ms(50):.0f} ms, p99 {cell.late_ms(99):.0f} ms, max {cell.max_ms:.0f} ms"
                    f", missing {missing}, fired twice {twice}, fired by each process {by}; other work "
                    f"on the machine {cell.others:.2f} cores"
                )
                async with engine.begin() as connection:  # the next window counts only its own timers
                    await connection.execute(
                        sa.update(timers).where(timers.c.track == timer_bench.WINDOW_TRACK).values(track=DONE_TRACK)
                    )
    finally:
        await engine.dispose()
    return TimerResult(
        cells,
        fill_s,
        skipped,
        args.timer_window,
        args.timer_window_seconds,
        float(args.worker_poll),
        int(args.worker_batch),
        0,
        0,
        {},
    )


async def _none(engine: AsyncEngine, stmt: sa.Select[Any]) -> bool:
    return bool(await timer_bench.scalar(engine, stmt) == 0)


def pending_timers(
    pendings: list[int], counts: list[int], args: argparse.Namespace, rabbitmq: str, postgres: str, say: Say
) -> TimerResult:
    """Notification's timer worker with 1 … max(counts) processes on one database, the pending set grown."""
    notification = timer_bench.notification_stack("postgresql", args, rabbitmq, postgres, replicas=max(counts))
    with notification as (smtp, _, stack):
        result = asyncio.run(_cells(stack, pendings, counts, args, args.replicas_timer_budget, say))
        seen = [str(m.message()["Message-ID"]) for m in smtp.messages]
        result.emails, result.emails_twice = len(seen), len(seen) - len(set(seen))
        result.tracebacks = _tracebacks(stack.processes())
        if result.tracebacks:
            from bench.run import keep_logs

            say(f"timers: tracebacks in the notification logs {result.tracebacks}: kept in {keep_logs(stack)}")
    return result


# -- the table ------------------------------------------------------------------------------------


@dataclass
class Result:
    imports: list[ImportResult]
    timers: TimerResult | None
    raw: broker.RawBroker


def _column(replicas: int) -> str:
    return f"{replicas} replica" + ("s" if replicas > 1 else "")


def _mib(values: list[float]) -> str:
    return number(max(values), 0) if values else "n/a"


def rows(result: Result) -> list[Row]:
    raw = result.raw
    by = {_column(r.replicas): r for r in result.imports}
    dash = {c: "—" for c in by}
    out: list[Row] = []
    if by:
        first = result.imports[0]
        out += [
            Row(
                f"import {first.imported.n:,} submitted → notices written, complaints/s (× raw drain)",
                {c: number(r.per_s, 1) for c, r in by.items()},
                {c: ratio(r.per_s, raw.publish_then_drain_per_s) for c, r in by.items()},
            ),
            Row(
                "↳ lost / doubled (complaints, cases, notices, DLQ)",
                {
                    c: f"{max(0, i.n - min(i.complaints, i.cases, i.notified))} / "
                    f"{max(0, i.complaints - i.n) + max(0, i.cases - i.n) + i.doubled} "
                    f"({i.complaints}, {i.cases}, {i.notified}, {i.dead_lettered})"
                    for c, i in ((c, r.imported) for c, r in by.items())
                },
                dash,
                "0 / 0",
                {c: r.ok for c, r in by.items()},
            ),
            Row(
                "↳ of which → registered (intake DB) / → investigation opened (cases), complaints/s",
                {
                    c: f"{number(r.imported.rate(r.imported.registered_s), 1)} / "
                    f"{number(r.imported.rate(r.imported.opened_s), 1)}"
                    for c, r in by.items()
                },
                dash,
            ),
            Row(
                "↳ machine busy during the import (all cores); other work on it, cores",
                {c: f"{r.busy:.0%}; {r.others:.2f}" for c, r in by.items()},
                dash,
                f"other ≤ {DISTURBED:.2f}",
                {c: r.others <= DISTURBED for c, r in by.items()},
            ),
        ]
        for service in SERVICES:
            out += [
                Row(
                    f"{service}: CPU-s per 1,000 complaints (all its replicas)",
                    {c: number(r.per_1000(service), 2) for c, r in by.items()},
                    dash,
                ),
                Row(
                    f"↳ {service}: complaints/s one replica takes per CPU core (1,000 / CPU-s)",
                    {
                        c: number(1000 / r.per_1000(service) if r.per_1000(service) else float("nan"))
                        for c, r in by.items()
                    },
                    dash,
                ),
                Row(
                    f"↳ {service}: memory per process idle / peak / after, MiB; CPU idle, % of a core",
                    {
                        c: f"{_mib(r.per_service(r.idle_mib, service))} / {_mib(r.per_service(r.peak_mib, service))}"
                        f" / {_mib(r.per_service(r.after_mib, service))}; "
                        f"{max(r.per_service(r.idle_cores, service), default=float('nan')):.1%}"
                        for c, r in by.items()
                    },
                    dash,
                ),
            ]
        out.append(
            Row(
                "busiest service per complaint (the bottleneck), CPU-s per 1,000",
                {c: (lambda s: f"{s} {r.per_1000(s):.2f}")(max(SERVICES, key=r.per_1000)) for c, r in by.items()},
                dash,
            )
        )
        for label in (*INFRA, "load generator"):
            out.append(
                Row(
                    f"{label}: CPU-s per 1,000 complaints",
                    {c: number(r.per_1000(label), 2) for c, r in by.items()},
                    dash,
                )
            )
        total = {c: sum(r.per_1000(s) for s in (*SERVICES, *INFRA, "load generator")) for c, r in by.items()}
        cores = os.cpu_count() or 1
        out += [
            Row(
                "whole pipeline (services, PostgreSQL, RabbitMQ, load generator): CPU-s per 1,000",
                {c: number(v, 2) for c, v in total.items()},
                dash,
            ),
            Row(
                f"↳ its ceiling on this machine's {cores} cores, complaints/s ({cores} × 1,000 / CPU-s)",
                {c: number(cores * 1000 / v if v else float("nan")) for c, v in total.items()},
                dash,
            ),
        ]
    if result.timers is not None:
        out += _timer_rows(result.timers)
    return out


def _timer_rows(result: TimerResult) -> list[Row]:
    out: list[Row] = []
    for pending in sorted({c.pending for c in result.cells}):
        cells = {_column(c.replicas): c for c in result.cells if c.pending == pending}
        dash = {c: "—" for c in cells}
        out += [
            Row(
                f"timers: {result.window:,} due over {result.window_s:.0f} s among {pending:,} pending, "
                "lateness p50 / p99 / max, ms",
                {c: f"{x.late_ms(50):.0f} / {x.late_ms(99):.0f} / {x.max_ms:.0f}" for c, x in cells.items()},
                dash,
                f"p99 ≤ {GOAL_LATENESS_P99_MS:.0f} ms",
                {c: x.late_ms(99) <= GOAL_LATENESS_P99_MS and not x.missing for c, x in cells.items()},
            ),
            Row(
                "↳ not fired / fired twice; fired by each process",
                {
                    c: f"{x.missing} / {x.fired_twice}; " + " + ".join(f"{n:,}" for n in x.by_replica)
                    for c, x in cells.items()
                },
                dash,
                "0 / 0",
                {c: not x.missing and not x.fired_twice for c, x in cells.items()},
            ),
            Row(
                "↳ CPU-s per 1,000 timers fired (with their notices): notification / PostgreSQL; peak memory, MiB",
                {
                    c: f"{x.cpu_s * 1000 / max(1, sum(x.by_replica)):.2f} / "
                    f"{x.pg_cpu_s * 1000 / max(1, sum(x.by_replica)):.2f}; {number(x.peak_mib)}"
                    for c, x in cells.items()
                },
                dash,
            ),
            Row(
                f"↳ nothing due ({TIMER_IDLE_S:.0f} s before the window): CPU, % of a core, notification / PostgreSQL",
                {c: f"{x.idle_cores['notification']:.0%} / {x.idle_cores['PostgreSQL']:.0%}" for c, x in cells.items()},
                dash,
            ),
            Row(
                "↳ other work on the machine during the window, cores",
                {c: f"{x.others:.2f}" for c, x in cells.items()},
                dash,
                f"≤ {DISTURBED:.2f}",
                {c: x.others <= DISTURBED for c, x in cells.items()},
            ),
        ]
    return out


def notes(result: Result) -> list[str]:
    out = [
        f"All on one machine of {os.cpu_count()} cores: the load generator, RabbitMQ, PostgreSQL and every service "
        "process share them, so the throughput is the whole pipeline's on these cores, and a second replica of "
        "each service competes with the first for the same cores. Per-replica capacity is the per-core figure.",
        f"CPU: /proc/<pid>/stat utime + stime (+ reaped children), {TICKS} ticks/s, of each process tree over the "
        "import and until the services were quiet again (at most "
        f"{SETTLE_S:.0f} s); PostgreSQL and RabbitMQ are their whole process trees on this machine (other work "
        "on them counts too); other work = the machine's busy time (/proc/stat) less all of those, a "
        f"measurement with more than {DISTURBED:.2f} cores of it was disturbed. Memory: VmRSS every "
        f"{SAMPLE_S:g} s; idle = right after the start; CPU idle over the {IDLE_S:.0f} s after it.",
    ]
    for r in result.imports:
        extra = []
        if r.tracebacks:
            extra.append(f"tracebacks in the logs of {r.tracebacks}")
        if r.dead:
            extra.append(f"processes that died: {r.dead}")
        if r.logs:
            extra.append(f"logs kept in {r.logs}")
        out.append(
            f"{_column(r.replicas)}: CPU window {r.window_s:.1f} s (all notices after "
            f"{r.imported.notified_s or float('nan'):.1f} s, publishing took {r.imported.publish_s:.1f} s), "
            f"load average (1 min) {r.load:.2f} when it began" + ("; " + "; ".join(extra) if extra else "") + "."
        )
    t = result.timers
    if t is not None:
        fills = ", ".join(f"to {p:,} in {s:.0f} s" for p, s in t.fill_s.items())
        out.append(
            f"Timers: one notification database grown {fills} (then ANALYZE), 1 then 2 processes at each size, "
            f"each with both workers (poll interval {t.poll:g} s, batch {t.batch}); load average (1 min) when "
            "each window began: "
            + ", ".join(f"{c.pending:,}/{c.replicas}: {c.load:.2f}" for c in t.cells)
            + "."
            + (f" E-mails of the windows' notices received: {t.emails:,}, {t.emails_twice} twice." if t.emails else "")
            + (f" Left out to stay within the time box: {', '.join(f'{p:,}' for p in t.skipped)}." if t.skipped else "")
            + (f" Tracebacks in the notification logs: {t.tracebacks}." if t.tracebacks else "")
        )
        unsettled = [c for c in t.cells if c.unsettled]
        if unsettled:
            out.append(
                "Deliveries of the previous window still waiting when a window began: "
                + ", ".join(f"{c.pending:,}/{c.replicas}: {c.unsettled}" for c in unsettled)
            )
    return out


def report(
    result: Result, info: dict[str, str], path: Path, raw_rows: list[Row], extra_notes: Iterable[str] = ()
) -> None:
    """Print the table and write it, as markdown, to `path`."""
    table = rows(result)
    columns = list(
        dict.fromkeys(
            [*(_column(r.replicas) for r in result.imports)]
            + [_column(c.replicas) for c in (result.timers.cells if result.timers else [])]
        )
    )
    all_notes = [*notes(result), *extra_notes]
    print(text_table(raw_rows, table, columns) + "\n")
    print("\n".join(f"- {note}" for note in all_notes))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!-- written by bench/replicas.py (`make bench` step 7) -->\n"
        + markdown(raw_rows, table, columns, info, all_notes)
    )
    print(f"\nmarkdown: {path}")


def measure(
    args: argparse.Namespace, raw: broker.RawBroker, rabbitmq: str, postgres: str, in_flight: int, say: Say
) -> Result:
    counts = [int(c) for c in args.replica_counts.split(",") if c]
    imports = (
        complaints(counts, args.replicas_events, in_flight, args.replicas_import_timeout, rabbitmq, postgres, say)
        if args.replicas_events
        else []
    )
    pendings = sorted(int(p) for p in args.replicas_timer_pending.split(",") if p and int(p))
    timer_result = pending_timers(pendings, counts, args, rabbitmq, postgres, say) if pendings else None
    return Result(imports, timer_result, raw)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (bench/run.py offers them too, beside bench/timers.py's window)."""
    parser.add_argument(
        "--replicas-events", type=int, default=2000, help="complaint.submitted per replica count (0: skip the step)"
    )
    parser.add_argument("--replica-counts", default="1,2", help="processes of each service, comma-separated")
    parser.add_argument(
        "--replicas-timer-pending",
        default="100000,300000,1000000",
        help="pending timer set sizes, comma-separated, grown in turn (0: no timers)",
    )
    parser.add_argument(
        "--replicas-timer-budget", type=float, default=270.0, help="seconds for the timers; larger sizes left out"
    )
    parser.add_argument("--replicas-import-timeout", type=float, default=150.0, help="give up waiting for the import")


def main() -> None:
    from bench.report import machine
    from bench.run import postgres_version, raw_broker_as_services_use_it, raw_rows, say
    from cqm_shared.settings import ServiceSettings
    from tests.infrastructure import LOCAL_POSTGRES, LOCAL_RABBITMQ

    class Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Help)
    arguments(parser)
    timer_bench.window_arguments(parser)
    parser.add_argument("--raw-messages", type=int, default=10_000, help="messages of the raw broker run")
    parser.add_argument(
        "--markdown", type=Path, default=REPO / "bench" / "results" / "replicas.md", help="written after"
    )
    args = parser.parse_args()
    rabbitmq = os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ)
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    load = os.getloadavg()
    in_flight = int(ServiceSettings.model_fields["relay_batch_size"].default)
    say(f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores")
    say(f"raw broker: {args.raw_messages} messages, {in_flight} in flight ...")
    raw = raw_broker_as_services_use_it(rabbitmq, args.raw_messages, in_flight)
    say(f"    publish {raw.publish_per_s:.0f} msg/s, publish-then-drain {raw.publish_then_drain_per_s:.0f} msg/s")
    info = machine(raw.version, asyncio.run(postgres_version(postgres)))
    result = measure(args, raw, rabbitmq, postgres, in_flight, say)
    info["load average (1 min) at start / end"] = f"{load[0]:.2f} / {os.getloadavg()[0]:.2f}"
    print("\nmachine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n")
    report(result, info, args.markdown, raw_rows(raw))


if __name__ == "__main__":
    main()
