"""`make bench`: every figure of issue 8 in one run, each beside the raw broker measured in that run.

1. Raw RabbitMQ on a private exchange and quorum queue: persistent publish with confirms (as
   many in flight as the outbox relay publishes at once), publish-then-drain (manual ack, the
   services' prefetch), and one hop's latency at a fixed rate.
2. For each backend (SQLite, PostgreSQL) a fresh stack of the four services, each its own
   process (tests/stack.py), on a private exchange and fresh databases:
   a. import path: N `complaint.submitted` published from outside as fast as the broker confirms
      them; the clock stops when notification's database holds the `investigation.opened`
      notices of all N complaints; lost / doubled counted in every database and dead-letter queue;
   b. intake over HTTP: saturation (closed loop), then p50/p99 at half that rate (open loop,
      measured from each request's scheduled send time);
   c. latency from publishing `complaint.submitted` to `investigation.opened` seen on a tap
      queue, open loop at a steady rate;
   d. resident memory of each service process after all of that.
3. For each backend, investigation's statistics on a temporary database of 1,000,000 generated
   cases (bench/investigation_stats.py): p50 / p95 of every stats query, goal p95 ≤ 100 ms.
4. For each backend, notification's workers in one process (bench/timers.py): lateness of 2,000
   timers coming due over 25 s among 100,000 pending, and deliveries/s of 2,000 e-mails to a local
   SMTP server and 2,000 webhooks to a local HTTP server (× raw publish).
5. The dashboard's other statistics on 1,000,000 complaints (bench/intake_stats.py: trend, Pareto,
   repeats) and 1,000,000 assessments (bench/penalty_stats.py: cost of poor quality), p50 / p95.
6. The console's page load times on a stack with a few hundred complaints (bench/console_pages.py).
7. One replica and two of every service on PostgreSQL (bench/replicas.py): complaints/s, CPU-s per
   1,000 complaints and memory of each service's processes; notification's timer lateness with 1
   and 2 processes as the pending set grows. Its own table, in bench/results/replicas.md.
The table goes to stdout and, as markdown, to bench/results/latest.md (for the README).

    make bench        # or: uv run --frozen python bench/run.py --events 5000 --seconds 20 --stats-cases 0
                      #     --timer-pending 0 (no timers / deliveries) --replicas-events 0 (no step 7)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from bench import broker, console_pages, intake_stats, investigation_stats, penalty_stats, pipeline, replicas  # noqa: E402
from bench import timers as timer_bench  # noqa: E402
from bench.common import percentile  # noqa: E402
from bench.report import Row, machine, markdown, number, ratio, text_table  # noqa: E402
from cqm_shared.settings import ServiceSettings  # noqa: E402
from tests.infrastructure import LOCAL_POSTGRES, LOCAL_RABBITMQ, admin_dsn  # noqa: E402
from tests.stack import SERVICES, Backend, Stack, running_stack  # noqa: E402

GOAL_IMPORT = 0.20  # × raw publish-then-drain, on PostgreSQL
GOAL_INTAKE_P99_MS = 50.0
GOAL_INVESTIGATION_P99_MS = 250.0
GOAL_RSS_MIB = 150.0
STARTED = time.perf_counter()


def say(text: str) -> None:
    """Progress, stamped with the minutes:seconds since the run began."""
    elapsed = int(time.perf_counter() - STARTED)
    print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {text}", flush=True)


def services_prefetch() -> int:
    """The consumers' prefetch in the services' settings (0: no limit, faststream's default)."""
    field = ServiceSettings.model_fields.get("consumer_prefetch")
    return int(field.default) if field is not None and isinstance(field.default, int) else 0


def raw_broker_as_services_use_it(rabbitmq: str, messages: int, in_flight: int) -> broker.RawBroker:
    """The raw broker figures at the services' own prefetch, for a bench run on its own."""
    return asyncio.run(
        broker.measure(
            rabbitmq,
            messages=messages,
            in_flight=in_flight,
            prefetch=services_prefetch(),
            hop_rate=50.0,
            hop_seconds=4.0,
        )
    )


@dataclass
class StackResult:
    imported: pipeline.ImportRun
    saturated: pipeline.HttpRun
    half: pipeline.HttpRun
    latency: pipeline.LatencyRun
    rss_mib: dict[str, float]
    alive: dict[str, bool]
    consumer_prefetch: list[int] | None
    waits: list[str]

    @property
    def troubled(self) -> bool:
        """Something to look into in the services' logs."""
        i = self.imported
        lost = i.notified_s is None or i.doubled or i.dead_lettered
        return bool(lost or self.saturated.errors or self.half.errors or self.latency.missing) or not all(
            self.alive.values()
        )


def keep_logs(stack: Stack) -> str:
    """Copy the stack's service logs out of its temporary folder (deleted with the stack)."""
    folder = Path(tempfile.mkdtemp(prefix=f"cqm-bench-logs-{stack.backend}-"))
    for log in stack.folder.glob("*.log"):
        shutil.copy(log, folder / log.name)
    return str(folder)


async def bench_stack(stack: Stack, args: argparse.Namespace) -> StackResult:
    b = stack.backend
    probe = pipeline.Probe(stack)
    waits: list[str] = []

    async def quiesce(after: str) -> None:
        waited, backlog = await probe.quiesce(args.quiesce_timeout)
        waits.append(f"{after}: {waited:.1f} s" + (f", {backlog} complaints still without notices" if backlog else ""))

    try:
        prefetch = await asyncio.to_thread(pipeline.consumer_prefetch, stack)
        say(f"[{b}] a. import path: {args.events} complaint.submitted ...")
        imported = await pipeline.import_path(stack, probe, args.events, args.in_flight, limit_s=args.import_timeout)
        say(
            f"[{b}]    published in {imported.publish_s:.1f} s; all notices written after "
            f"{imported.notified_s or float('nan'):.1f} s; complaints {imported.complaints}, cases {imported.cases}, "
            f"notified {imported.notified}, doubled {imported.doubled}, dead letters {imported.dead_lettered}"
        )
        await quiesce("after the import")
        url = stack["intake"].url
        say(f"[{b}] b. intake saturation: {args.clients} clients, {args.seconds:.0f} s ...")
        saturated = await pipeline.saturation(url, args.clients, args.seconds, args.warmup, first=0)
        say(f"[{b}]    {saturated.per_s:.1f} req/s, errors {dict(saturated.failures)}")
        await quiesce("after the saturation run")
        rate = saturated.per_s / 2
        say(f"[{b}]    open loop at {rate:.1f} req/s for {args.seconds:.0f} s ...")
        half = await pipeline.open_loop(url, rate, args.seconds, first=1_000_000)
        say(f"[{b}]    p50 {half.p(50):.1f} ms, p99 {half.p(99):.1f} ms, errors {dict(half.failures)}")
        await quiesce("after the open-loop run")
        say(f"[{b}] c. latency to investigation: {args.latency_rate}/s for {args.latency_seconds:.0f} s ...")
        latency = await pipeline.to_investigation(stack, args.latency_rate, args.latency_seconds, args.grace)
        say(
            f"[{b}]    p50 {percentile(latency.opened_ms, 50):.1f} ms, "
            f"p99 {percentile(latency.opened_ms, 99):.1f} ms, missing {latency.missing}"
        )
        await quiesce("after the latency run")
        rss = {name: stack[name].rss_mb() for name in SERVICES if stack[name].alive()}
        alive = {name: stack[name].alive() for name in SERVICES}
    finally:
        await probe.close()
    return StackResult(imported, saturated, half, latency, rss, alive, prefetch, waits)


def rows_for(raw: broker.RawBroker, results: dict[str, StackResult], args: argparse.Namespace) -> list[Row]:
    backends = list(results)
    drain, publish = raw.publish_then_drain_per_s, raw.publish_per_s
    rows: list[Row] = []

    def add(
        figure: str,
        value: dict[str, float],
        digits: int = 0,
        reference: float | None = None,
        goal: str = "",
        verdict: dict[str, bool | None] | None = None,
    ) -> None:
        rows.append(
            Row(
                figure,
                {b: number(v, digits) for b, v in value.items()},
                {b: ratio(v, reference) if reference else "—" for b, v in value.items()},
                goal,
                verdict or {},
            )
        )

    imp = {b: r.imported for b, r in results.items()}
    notices = {b: i.rate(i.notified_s) for b, i in imp.items()}
    add(
        f"import {args.events} submitted → notices written, events/s (× raw drain)",
        notices,
        1,
        drain,
        f"≥ {GOAL_IMPORT:.2f}× on postgresql",
        {b: (v / drain >= GOAL_IMPORT if b == "postgresql" else None) for b, v in notices.items()},
    )
    add("↳ of which → registered (intake DB), events/s", {b: i.rate(i.registered_s) for b, i in imp.items()}, 1, drain)
    add(
        "↳ of which → investigation opened (cases), events/s", {b: i.rate(i.opened_s) for b, i in imp.items()}, 1, drain
    )
    rows.append(
        Row(
            "import lost / doubled (complaints, cases, notices, DLQ)",
            {
                b: f"{max(0, i.n - min(i.complaints, i.cases, i.notified))} / "
                f"{max(0, i.complaints - i.n) + max(0, i.cases - i.n) + i.doubled} "
                f"({i.complaints}, {i.cases}, {i.notified}, {i.dead_lettered})"
                for b, i in imp.items()
            },
            {b: "—" for b in backends},
            "0 / 0",
            {
                b: i.complaints == i.cases == i.notified == i.n and not i.doubled and not i.dead_lettered
                for b, i in imp.items()
            },
        )
    )
    add(
        f"intake saturation, req/s ({args.clients} clients, closed loop) (× raw publish)",
        {b: r.saturated.per_s for b, r in results.items()},
        1,
        publish,
    )
    add("↳ open-loop rate at half saturation, req/s", {b: r.saturated.per_s / 2 for b, r in results.items()}, 1)
    add("intake p50 at half saturation (open loop), ms", {b: r.half.p(50) for b, r in results.items()}, 1)
    add(
        "intake p99 at half saturation, ms",
        {b: r.half.p(99) for b, r in results.items()},
        1,
        None,
        f"≤ {GOAL_INTAKE_P99_MS:.0f} ms",
        {b: r.half.p(99) <= GOAL_INTAKE_P99_MS and not r.half.errors for b, r in results.items()},
    )
    rows.append(
        Row(
            "intake errors (saturation / half)",
            {b: f"{r.saturated.errors} / {r.half.errors}" for b, r in results.items()},
            {b: "—" for b in backends},
        )
    )
    lat = {b: r.latency for b, r in results.items()}
    add(
        f"submitted → investigation.opened p50 at {args.latency_rate:g}/s, ms (× raw hop p50)",
        {b: percentile(x.opened_ms, 50) for b, x in lat.items()},
        1,
        raw.hop_p50_ms,
    )
    add(
        "submitted → investigation.opened p99, ms (× raw hop p99)",
        {b: percentile(x.opened_ms, 99) for b, x in lat.items()},
        1,
        raw.hop_p99_ms,
        f"≤ {GOAL_INVESTIGATION_P99_MS:.0f} ms",
        {b: percentile(x.opened_ms, 99) <= GOAL_INVESTIGATION_P99_MS and not x.missing for b, x in lat.items()},
    )
    registered_p99 = {b: percentile(x.registered_ms, 99) for b, x in lat.items()}
    add("↳ of which → complaint.registered p99, ms", registered_p99, 1)
    rows.append(
        Row(
            "↳ events not seen at investigation",
            {b: f"{x.missing} of {x.sent}" for b, x in lat.items()},
            {b: "—" for b in backends},
        )
    )
    for name in SERVICES:
        rss = {b: r.rss_mib.get(name, float("nan")) for b, r in results.items()}
        add(
            f"resident memory after the load: {name}, MiB",
            rss,
            0,
            None,
            f"≤ {GOAL_RSS_MIB:.0f} MiB",
            {b: v <= GOAL_RSS_MIB for b, v in rss.items()},
        )
    return rows


def raw_rows(raw: broker.RawBroker) -> list[Row]:
    return [
        Row(
            f"raw publish, persistent + confirms ({raw.in_flight} in flight), msg/s", {"raw": number(raw.publish_per_s)}
        ),
        Row(
            f"raw publish-then-drain ({raw.messages:,} msgs, quorum queue, manual ack, prefetch "
            f"{raw.prefetch or 'no limit'}), msg/s",
            {"raw": number(raw.publish_then_drain_per_s)},
        ),
        Row("↳ of which the drain alone, msg/s", {"raw": number(raw.drain_only_per_s)}),
        Row(
            f"raw hop latency at {raw.hop_rate:g}/s (publish → delivered), p50 / p99, ms",
            {"raw": f"{raw.hop_p50_ms:.2f} / {raw.hop_p99_ms:.2f} ({raw.hop_samples} msgs)"},
        ),
    ]


def prefetch_note(raw: broker.RawBroker, results: dict[str, StackResult]) -> str:
    def shown(values: list[int] | None) -> str:
        return "unknown" if values is None else ", ".join(str(v) if v else "no limit" for v in values)

    seen = "; ".join(f"{b}: {shown(r.consumer_prefetch)}" for b, r in results.items())
    differs = any(r.consumer_prefetch not in (None, [raw.prefetch]) for r in results.values())
    return (
        f"Consumer prefetch of the services as the broker reports it (rabbitmqctl list_consumers): {seen}; "
        f"the raw drain used {shown([raw.prefetch])}" + (" — DIFFERENT, pass --prefetch." if differs else ".")
    )


async def postgres_version(url: str) -> str:
    try:
        connection = await asyncpg.connect(admin_dsn(url))
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unreachable ({exc})"
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def main() -> None:
    class Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Help)
    parser.add_argument("--events", type=int, default=2000, help="complaint.submitted events of the import")
    parser.add_argument("--raw-messages", type=int, default=10000, help="messages of the raw broker runs")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=ServiceSettings.model_fields["relay_batch_size"].default,
        help="concurrent publishes awaiting confirms (default: the relay's batch)",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=services_prefetch(),
        help="raw drain prefetch (default: the services'; 0 = no limit)",
    )
    parser.add_argument("--clients", type=int, default=32, help="closed-loop HTTP clients for saturation")
    parser.add_argument("--seconds", type=float, default=10.0, help="each HTTP phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="HTTP warm-up before saturation")
    parser.add_argument("--latency-rate", type=float, default=5.0, help="complaints/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--hop-rate", type=float, default=50.0, help="messages/s of the raw hop latency run")
    parser.add_argument("--hop-seconds", type=float, default=4.0, help="length of the raw hop latency run")
    parser.add_argument("--import-timeout", type=float, default=150.0, help="give up waiting for the import")
    parser.add_argument("--quiesce-timeout", type=float, default=90.0, help="wait for the pipeline between phases")
    parser.add_argument("--grace", type=float, default=30.0, help="wait for the last latency event")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--stats-cases", type=int, default=1_000_000, help="cases of the statistics run (0: skip it)")
    parser.add_argument("--stats-runs", type=int, default=50, help="timed runs of each statistics query")
    parser.add_argument("--console-complaints", type=int, default=300, help="complaints of the page-load run (0: skip)")
    parser.add_argument("--console-runs", type=int, default=40, help="timed loads of each console page")
    timer_bench.arguments(parser)  # --timer-pending 0 skips the timers and deliveries
    replicas.arguments(parser)  # --replicas-events 0 skips step 7
    parser.add_argument(
        "--replicas-markdown", type=Path, default=REPO / "bench" / "results" / "replicas.md", help="step 7's table"
    )
    parser.add_argument("--markdown", type=Path, default=REPO / "bench" / "results" / "latest.md", help="written after")
    args = parser.parse_args()
    rabbitmq = os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ)
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        say(f"note: load average {load:.1f} on {os.cpu_count()} cores: if other work is running, figures will be low")

    say(f"raw broker: {args.raw_messages} messages, {args.in_flight} in flight ...")
    raw = asyncio.run(
        broker.measure(
            rabbitmq,
            messages=args.raw_messages,
            in_flight=args.in_flight,
            prefetch=args.prefetch,
            hop_rate=args.hop_rate,
            hop_seconds=args.hop_seconds,
        )
    )
    say(f"    publish {raw.publish_per_s:.0f} msg/s, publish-then-drain {raw.publish_then_drain_per_s:.0f} msg/s")
    info = machine(raw.version, asyncio.run(postgres_version(postgres)))

    results: dict[str, StackResult] = {}
    failures: list[str] = []
    logs: list[str] = []
    backend: Backend
    for backend in ("sqlite", "postgresql"):
        if backend not in args.backends.split(","):
            continue
        say(f"[{backend}] starting the four services ...")
        try:
            with running_stack(backend, rabbitmq_url=rabbitmq, postgres_url=postgres) as stack:
                try:
                    results[backend] = asyncio.run(bench_stack(stack, args))
                finally:
                    if backend not in results or results[backend].troubled:
                        logs.append(keep_logs(stack))
        except Exception:
            failures.append(f"{backend}: the run failed:\n{traceback.format_exc()}")
            say(failures[-1])

    stats: list[investigation_stats.BackendResult] = []
    for backend in ("sqlite", "postgresql"):
        if args.stats_cases and backend in args.backends.split(","):
            try:
                stats.append(
                    asyncio.run(investigation_stats.measure(backend, args.stats_cases, args.stats_runs, postgres, say))
                )
            except Exception:
                failures.append(f"{backend} statistics: the run failed:\n{traceback.format_exc()}")
                say(failures[-1])

    dashboard: dict[str, list[Any]] = {"intake": [], "penalty": []}
    for backend in ("sqlite", "postgresql"):
        if args.stats_cases and backend in args.backends.split(","):
            for name, module in (("intake", intake_stats), ("penalty", penalty_stats)):
                try:
                    dashboard[name].append(
                        asyncio.run(module.measure(backend, args.stats_cases, args.stats_runs, postgres, say))
                    )
                except Exception:
                    failures.append(f"{backend} {name} statistics: the run failed:\n{traceback.format_exc()}")
                    say(failures[-1])

    pages: list[console_pages.BackendResult] = []
    for backend in ("sqlite", "postgresql"):
        if args.console_complaints and backend in args.backends.split(","):
            try:
                pages.append(console_pages.measure(backend, args.console_complaints, args.console_runs, say))
            except Exception:
                failures.append(f"{backend} console pages: the run failed:\n{traceback.format_exc()}")
                say(failures[-1])

    workers: list[timer_bench.BackendResult] = []
    for backend in ("sqlite", "postgresql"):
        if args.timer_pending and backend in args.backends.split(","):
            try:
                workers.append(timer_bench.measure(backend, args, rabbitmq, postgres, say))
            except Exception:
                failures.append(f"{backend} timers and deliveries: the run failed:\n{traceback.format_exc()}")
                say(failures[-1])

    scaled: replicas.Result | None = None
    if args.replicas_events:
        try:
            scaled = replicas.measure(args, raw, rabbitmq, postgres, args.in_flight, say)
        except Exception:
            failures.append(f"replicas: the run failed:\n{traceback.format_exc()}")
            say(failures[-1])

    raws = raw_rows(raw)
    rows = (
        (rows_for(raw, results, args) if results else [])
        + investigation_stats.rows(stats)
        + intake_stats.rows(dashboard["intake"])
        + penalty_stats.rows(dashboard["penalty"])
        + timer_bench.rows(workers, raw.publish_per_s)
        + console_pages.rows(pages)
    )
    backends = list(dict.fromkeys([*results, *(s.backend for s in stats), *(w.backend for w in workers)]))
    notes = [
        "Import end point: notification's database holds the `investigation.opened` notices of all N "
        "complaints (polled every 0.1 s); the clock starts at the first publish.",
        "Latency to investigation: from each `complaint.submitted`'s scheduled publish time (open loop) "
        "until its `investigation.opened` is delivered to a tap queue bound to the stack's exchange.",
        "Intake latency: open loop, from each request's scheduled send time to its answer.",
        "Ratios: throughputs to the raw broker's publish-then-drain (import) or publish (intake, deliveries); latency "
        "to investigation to the raw hop latency; — where the figure has no broker counterpart.",
        "All on one machine: the load generator, RabbitMQ, PostgreSQL and the four services share the cores; "
        "each phase starts after the pipeline has caught up with the previous one.",
        prefetch_note(raw, results),
        "Load generator CPU (share of one core), saturation / half: "
        + "; ".join(f"{b}: {r.saturated.client_cpu:.2f} / {r.half.client_cpu:.2f}" for b, r in results.items()),
        "Waits for the pipeline to catch up: " + "; ".join(f"{b}: " + ", ".join(r.waits) for b, r in results.items()),
        *investigation_stats.notes(stats),
        *intake_stats.notes(dashboard["intake"]),
        *penalty_stats.notes(dashboard["penalty"]),
        *timer_bench.notes(workers),
        *console_pages.notes(pages),
    ]
    for b, r in results.items():
        if not all(r.alive.values()):
            notes.append(f"{b}: services that died during the run: {[n for n, a in r.alive.items() if not a]}")
    notes += [f.splitlines()[0] + " " + f.strip().splitlines()[-1] for f in failures]
    if logs:
        notes.append(f"Service logs of troubled runs kept in {', '.join(logs)}.")
    if scaled is not None:
        notes.append(f"One replica and two of each service: {args.replicas_markdown}.")
    elapsed = time.perf_counter() - STARTED
    notes.append(f"Whole run: {elapsed / 60:.1f} min.")
    info["load average (1 min) at start / end"] = f"{load:.2f} / {os.getloadavg()[0]:.2f}"

    print("\nmachine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n")
    print(text_table(raws, rows, backends) + "\n")
    print("\n".join(f"- {note}" for note in notes))
    if scaled is not None:
        print("\nOne replica and two of each service (step 7):\n")
        replicas.report(scaled, info, args.replicas_markdown, raws)
    if failures:  # the last complete run's table stays where the README finds it
        print(f"\nmarkdown: {args.markdown} not written (a backend failed)")
        sys.exit(1)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(
        f"<!-- written by `make bench` (bench/run.py) -->\n{markdown(raws, rows, backends, info, notes)}"
    )
    print(f"\nmarkdown: {args.markdown}")


if __name__ == "__main__":
    main()
