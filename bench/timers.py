"""Notification's two workers on one replica: deadline timer lateness and delivery throughput.

For each backend one real `python -m notification` process (tests/stack.py: a fresh database, a
private exchange, the system clock, the production worker settings unless --poll / --batch) with
a copy of deploy/policies whose F01 sends e-mail to a local SMTP server (aiosmtpd) and webhooks
to a local HTTP server (tests/channel_receivers.py, both in this process's threads):

1. Timer lateness. Before the process starts, 100,000 pending timers are bulk-loaded, due over
   the next five days (rows as the timer repository writes them, not through the domain). Once
   it is up, 2,000 more come due evenly over a 25 s window starting 2 s later, inserted in one
   transaction. Lateness = `fired_at - fire_at` of each of those, as the worker recorded it
   (the service's clock, when it fired the timer: notices and `sla.*` staged in the same
   transaction). A timer not fired within a minute after the window counts as missing.
2. Delivery throughput. N pending e-mail deliveries (one per person, urgent, to distinct
   addresses), due 2 s from now, then N webhook deliveries (one Standard Webhooks endpoint), go
   through the real delivery worker, `Deliverer` and senders. Throughput = N over the time from
   their due time to the last outcome recorded (`delivered_at`). Each message is counted at the
   receiver (distinct Message-ID / webhook-id): lost and doubled.

    uv run --frozen python bench/timers.py [--timer-pending 100000] [--timer-window 2000] [--deliveries 2000]

`make bench` runs the same and adds its rows to the table of bench/run.py, with the delivery
rates as ratios to the raw broker's persistent publish with confirms measured in that run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.common import percentile  # noqa: E402
from bench.report import Row, number, ratio  # noqa: E402
from cqm_shared.db import create_engine  # noqa: E402
from notification.adapters.orm import notifications, timers  # noqa: E402
from notification.config import NotificationSettings  # noqa: E402
from tests.channel_receivers import HttpReceiver, Reply, SmtpReceiver  # noqa: E402
from tests.infrastructure import LOCAL_POSTGRES, LOCAL_RABBITMQ  # noqa: E402
from tests.stack import Backend, Stack, running_stack  # noqa: E402

WINDOW_TRACK = "bench:window"  # the measured timers (the column is indexed)
MILESTONES = ("first_response", "handling_proposal", "customer_reply", "close", "action")
STEPS = (("reminder", 0), ("breach", 0), ("escalation", 1), ("escalation", 2), ("escalation", 3))
WHSEC = "whsec_" + base64.b64encode(b"bench webhook secret, 32 bytes!!").decode()
LEAD = timedelta(seconds=2)
GRACE_S = 60.0
CHUNK = 5_000
BODY = (
    "客诉 F01-2611-{i:04d}（F01）的「初步报告」已于 2026-11-12 05:15 到期，已逾期 2 天，至今未完成。\n"
    "责任部门：装配车间\n请立即处理，继续逾期将逐级升级。\n\n"
    "The preliminary report of complaint F01-2611-{i:04d} (F01) was due 2026-11-12 05:15 and is 2 d overdue.\n"
    "Responsible department: assembly\nPlease act now: it is escalated level by level while overdue.\n"
)


@dataclass
class DeliveryRun:
    channel: str
    n: int
    seconds: float | None  # due time -> last outcome recorded; None: not all settled in time
    delivered: int
    failed: int  # gave up, or still waiting for a retry
    received: int  # distinct messages at the receiver
    duplicates: int  # messages the receiver got more than once

    @property
    def per_s(self) -> float:
        return self.n / self.seconds if self.seconds else float("nan")


@dataclass
class BackendResult:
    backend: str
    pending: int
    window_timers: int
    window_s: float
    poll_interval: float
    batch_size: int
    fill_s: float
    lateness_s: list[float]
    missing: int  # window timers not fired by the end of the grace
    email: DeliveryRun
    webhook: DeliveryRun

    def late_ms(self, q: float) -> float:
        return percentile(self.lateness_s, q) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.lateness_s) * 1000 if self.lateness_s else float("nan")


def timer_row(i: int, fire_at: datetime, created: datetime, track: str | None = None) -> dict[str, Any]:
    kind, level = STEPS[i % len(STEPS)]
    number = f"F01-2611-{i % 10_000:04d}"
    return {
        "id": str(uuid.uuid4()),
        "track": track or f"case:{number}",
        "number": number,
        "factory": "F01",
        "milestone": MILESTONES[i % len(MILESTONES)],
        "round": 1,
        "kind": kind,
        "level": level,
        "due_at": fire_at if kind != "escalation" else fire_at - timedelta(hours=4 * level),
        "fire_at": fire_at,
        "state": "pending",
        "source": "bench",
        "producer": "investigation",
        "department": "装配车间",
        "audience": "",
        "created_at": created,
        "version": 1,
    }


def _delivery_row(i: int, channel: str, due: datetime) -> dict[str, Any]:
    email = channel == "email"
    recipient = f"bench.person.{i}" if email else "webhook:erp"
    return {
        "id": str(uuid.uuid4()),
        "number": f"F01-2611-{i % 10_000:04d}",
        "factory": "F01",
        "event_id": str(uuid.uuid4()),
        "event_type": "sla.breached",
        "recipient_role": "quality_engineer",
        "recipient": recipient,
        "channel": channel,
        "urgent": True,
        "subject": f"【逾期】F01-2611-{i % 10_000:04d} 初步报告已逾期 / [Overdue] preliminary report",
        "body": BODY.format(i=i % 10_000),
        "status": "pending",
        "created_at": due - LEAD,
        "locale": "both",
        "target": f"person{i}@factory.example" if email else "erp",
        "digest": False,
        "attempts": 0,
        "next_attempt_at": due,
        "version": 1,
    }


async def insert(engine: AsyncEngine, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            await connection.execute(sa.insert(table), list(rows[start : start + CHUNK]))


async def scalar(engine: AsyncEngine, stmt: sa.Select[Any]) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(stmt)).scalar_one()


async def until(probe: Callable[[], Any], limit_s: float) -> bool:
    """Poll `probe` (async, truthy when done) every 0.2 s for up to `limit_s`."""
    deadline = time.monotonic() + limit_s
    while not await probe():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


@contextmanager
def bench_policies(smtp: SmtpReceiver, http: HttpReceiver) -> Iterator[Path]:
    """deploy/policies with F01's e-mail and `erp` webhook pointing at the local receivers."""
    folder = Path(tempfile.mkdtemp(prefix="cqm-bench-policies-"))
    try:
        shutil.copytree(REPO / "deploy" / "policies", folder, dirs_exist_ok=True)
        path = folder / "F01.yaml"
        f01 = yaml.safe_load(path.read_text(encoding="utf-8"))
        section = f01.setdefault("notification", {})
        section["email"] = smtp.email_settings().model_dump(mode="json")
        section["webhooks"] = {"erp": {"url": http.url_for("/hooks/erp"), "secret": WHSEC}}
        section.setdefault("delivery", {})["quiet_hours"] = None
        path.write_text(yaml.safe_dump(f01, allow_unicode=True), encoding="utf-8")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def lateness(
    engine: AsyncEngine, n: int, window: timedelta, say: Callable[[str], None]
) -> tuple[list[float], int]:
    start = datetime.now(UTC) + LEAD
    step = window / n
    rows = [timer_row(i, start + step * i, start - LEAD, WINDOW_TRACK) for i in range(n)]
    await insert(engine, timers, rows)
    pending = (
        sa.select(sa.func.count())
        .select_from(timers)
        .where(timers.c.track == WINDOW_TRACK, timers.c.state == "pending")
    )
    say(f"    {n} timers due from {LEAD.total_seconds():.0f} s to {(LEAD + window).total_seconds():.0f} s from now ...")

    async def none_pending() -> bool:
        return bool(await scalar(engine, pending) == 0)

    await asyncio.sleep(max(0.0, (start + window - datetime.now(UTC)).total_seconds()))
    await until(none_pending, GRACE_S)
    async with engine.connect() as connection:
        fired = (
            await connection.execute(
                sa.select(timers.c.fire_at, timers.c.fired_at).where(
                    timers.c.track == WINDOW_TRACK, timers.c.state == "fired"
                )
            )
        ).all()
    late = [(_aware(fired_at) - _aware(fire_at)).total_seconds() for fire_at, fired_at in fired]
    return late, n - len(late)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _deliveries(
    engine: AsyncEngine,
    channel: str,
    n: int,
    received: Callable[[], list[str]],
    say: Callable[[str], None],
) -> DeliveryRun:
    due = datetime.now(UTC) + LEAD
    first = random.randrange(1_000_000)
    await insert(engine, notifications, [_delivery_row(first + i, channel, due) for i in range(n)])
    say(f"    {n} {channel} deliveries due in {LEAD.total_seconds():.0f} s ...")
    n_ = notifications
    mine = n_.c.channel == channel  # one set per channel and database
    waiting = sa.select(sa.func.count()).select_from(n_).where(mine, n_.c.status == "pending", n_.c.attempts == 0)

    async def settled() -> bool:
        return bool(await scalar(engine, waiting) == 0)

    done = await until(settled, 60.0 + n / 20)
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(n_.c.status, n_.c.delivered_at).where(mine))).all()
    delivered = [_aware(at) for status, at in rows if status == "delivered" and at is not None]
    seen = received()
    distinct = len(set(seen))
    seconds = (max(delivered) - due).total_seconds() if done and len(delivered) == n else None
    return DeliveryRun(channel, n, seconds, len(delivered), n - len(delivered), distinct, len(seen) - distinct)


async def _run(
    backend: Backend,
    url: str,
    start: Callable[[], None],
    args: argparse.Namespace,
    smtp: SmtpReceiver,
    http: HttpReceiver,
    say: Callable[[str], None],
) -> BackendResult:
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        now = datetime.now(UTC)
        spread = timedelta(days=5).total_seconds()
        background = [
            timer_row(i, now + timedelta(hours=1, seconds=random.uniform(0, spread)), now - timedelta(days=1))
            for i in range(args.timer_pending)
        ]
        await insert(engine, timers, background)
        fill_s = time.perf_counter() - began
        say(f"[{backend}] {args.timer_pending:,} pending timers loaded in {fill_s:.1f} s; starting notification ...")
        await asyncio.to_thread(start)
        say(f"[{backend}] 1. timer lateness")
        late, missing = await lateness(engine, args.timer_window, timedelta(seconds=args.timer_window_seconds), say)
        say(
            f"[{backend}]    p50 {percentile(late, 50) * 1000:.0f} ms, p99 {percentile(late, 99) * 1000:.0f} ms, "
            f"max {max(late, default=float('nan')) * 1000:.0f} ms, missing {missing}"
        )
        say(f"[{backend}] 2. deliveries")
        email = await _deliveries(
            engine, "email", args.deliveries, lambda: [str(m.message()["Message-ID"]) for m in smtp.messages], say
        )
        say(f"[{backend}]    e-mail: {email.per_s:.1f}/s, delivered {email.delivered} of {email.n}")
        webhook = await _deliveries(
            engine, "webhook", args.deliveries, lambda: [r.headers.get("webhook-id", "") for r in http.requests], say
        )
        say(f"[{backend}]    webhook: {webhook.per_s:.1f}/s, delivered {webhook.delivered} of {webhook.n}")
    finally:
        await engine.dispose()
    return BackendResult(
        backend,
        args.timer_pending,
        args.timer_window,
        args.timer_window_seconds,
        float(args.worker_poll),
        int(args.worker_batch),
        fill_s,
        late,
        missing,
        email,
        webhook,
    )


@contextmanager
def notification_stack(
    backend: Backend, args: argparse.Namespace, rabbitmq_url: str, postgres_url: str, replicas: int = 1
) -> Iterator[tuple[SmtpReceiver, HttpReceiver, Stack]]:
    """Notification alone (not started), its e-mail and webhooks going to local receivers."""
    with (
        SmtpReceiver() as smtp,
        HttpReceiver(Reply(200)) as http,
        bench_policies(smtp, http) as policies,
        running_stack(
            backend,
            names=("notification",),
            rabbitmq_url=rabbitmq_url,
            postgres_url=postgres_url,
            replicas=replicas,
            extra_env={
                "POLICY_DIR": str(policies),
                "WORKER_POLL_INTERVAL": str(args.worker_poll),
                "WORKER_BATCH_SIZE": str(args.worker_batch),
            },
            start=False,
        ) as stack,
    ):
        yield smtp, http, stack


def measure(
    backend: Backend, args: argparse.Namespace, rabbitmq_url: str, postgres_url: str, say: Callable[[str], None]
) -> BackendResult:
    """One backend: a notification process on a fresh database, both measurements."""
    with notification_stack(backend, args, rabbitmq_url, postgres_url) as (smtp, http, stack):
        service = stack["notification"]

        def start() -> None:
            stack.start(("notification",))

        try:
            result = asyncio.run(_run(backend, service.database_url, start, args, smtp, http, say))
        finally:
            if "Traceback" in service.log():
                kept = Path(tempfile.mkdtemp(prefix=f"cqm-bench-timers-{backend}-")) / "notification.log"
                shutil.copy(service.log_path, kept)
                say(f"[{backend}] the service wrote a traceback: its log kept in {kept}")
    return result


def rows(results: Sequence[BackendResult], raw_publish_per_s: float | None) -> list[Row]:
    """Rows for bench/run.py's table; delivery rates as ratios to the raw broker's publish rate."""
    if not results:
        return []
    by = {r.backend: r for r in results}
    first = results[0]
    dash = {b: "—" for b in by}
    out = [
        Row(
            f"timers: lateness (fired_at − fire_at) of {first.window_timers:,} timers due over "
            f"{first.window_s:.0f} s among {first.pending:,} pending, p50 / p99 / max, ms",
            {b: f"{r.late_ms(50):.0f} / {r.late_ms(99):.0f} / {r.max_ms:.0f}" for b, r in by.items()},
            dash,
        ),
        Row(
            "↳ timers not fired within a minute after the window",
            {b: f"{r.missing} of {r.window_timers:,}" for b, r in by.items()},
            dash,
            "0",
            {b: r.missing == 0 for b, r in by.items()},
        ),
    ]
    for channel in ("email", "webhook"):
        runs = {b: getattr(r, channel) for b, r in by.items()}
        label = "e-mail to a local SMTP server" if channel == "email" else "webhooks to a local HTTP server"
        out.append(
            Row(
                f"deliveries: {getattr(first, channel).n:,} {label}, deliveries/s (× raw publish)",
                {b: number(d.per_s, 1) for b, d in runs.items()},
                {b: ratio(d.per_s, raw_publish_per_s) if raw_publish_per_s else "—" for b, d in runs.items()},
            )
        )
        out.append(
            Row(
                f"↳ {channel}: not delivered / received twice",
                {b: f"{d.n - d.delivered} / {d.duplicates} (received {d.received:,})" for b, d in runs.items()},
                dash,
                "0 / 0",
                {b: d.delivered == d.n == d.received and not d.duplicates for b, d in runs.items()},
            )
        )
    return out


def notes(results: Sequence[BackendResult]) -> list[str]:
    if not results:
        return []
    r = results[0]
    loaded = "; ".join(f"{x.backend} {x.fill_s:.1f} s" for x in results)
    return [
        f"Timers and deliveries: one notification process per backend (worker poll interval {r.poll_interval:g} s, "
        f"batch {r.batch_size}, lease {NotificationSettings.model_fields['claim_lease_seconds'].default:g} s), the "
        f"system clock; {r.pending:,} pending timers bulk-loaded first ({loaded}), then {r.window_timers:,} more due "
        f"evenly over {r.window_s:.0f} s; lateness is the worker's own `fired_at` − `fire_at` (the timer fired with "
        "its notices and `sla.*` event in one transaction; the outbox relay publishes them meanwhile).",
        f"Deliveries: {r.email.n:,} urgent e-mails to distinct addresses, then {r.webhook.n:,} Standard Webhooks "
        "calls to one endpoint, each set due at once; rate = N over the time from their due time to the last "
        "outcome recorded; the SMTP (aiosmtpd) and HTTP receivers run in the load generator's process.",
    ]


def arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (bench/run.py offers them too)."""
    parser.add_argument("--timer-pending", type=int, default=100_000, help="pending timers due over the next days")
    parser.add_argument("--deliveries", type=int, default=2_000, help="e-mails, and webhooks, to deliver")
    window_arguments(parser)


def window_arguments(parser: argparse.ArgumentParser) -> None:
    """The measured window and the workers' settings (bench/replicas.py uses them too)."""
    defaults = NotificationSettings.model_fields
    parser.add_argument("--timer-window", type=int, default=2_000, help="timers coming due in the measured window")
    parser.add_argument("--timer-window-seconds", type=float, default=25.0, help="length of the window")
    parser.add_argument(
        "--worker-poll", type=float, default=defaults["worker_poll_interval"].default, help="WORKER_POLL_INTERVAL"
    )
    parser.add_argument(
        "--worker-batch", type=int, default=defaults["worker_batch_size"].default, help="WORKER_BATCH_SIZE"
    )


def main() -> None:
    from bench.report import machine, text_table
    from bench.run import postgres_version, raw_broker_as_services_use_it, raw_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments(parser)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--raw-messages", type=int, default=10_000, help="messages of the raw broker run")
    args = parser.parse_args()
    rabbitmq = os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ)
    postgres = os.environ.get("BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    began = time.perf_counter()
    load = os.getloadavg()[0]

    def say(text: str) -> None:
        elapsed = int(time.perf_counter() - began)
        print(f"{elapsed // 60:02d}:{elapsed % 60:02d} {text}", flush=True)

    say(f"raw broker: {args.raw_messages} messages ...")
    in_flight = NotificationSettings.model_fields["relay_batch_size"].default
    raw = raw_broker_as_services_use_it(rabbitmq, args.raw_messages, in_flight)
    info = machine(raw.version, asyncio.run(postgres_version(postgres)))
    backend: Backend
    results = []
    for backend in ("sqlite", "postgresql"):
        if backend in args.backends.split(","):
            results.append(measure(backend, args, rabbitmq, postgres, say))
    info["load average (1 min) at start / end"] = f"{load:.2f} / {os.getloadavg()[0]:.2f}"
    print("\nmachine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n")
    print(text_table(raw_rows(raw), rows(results, raw.publish_per_s), [r.backend for r in results]) + "\n")
    print("\n".join(f"- {note}" for note in notes(results)))
    print(f"- Whole run: {(time.perf_counter() - began) / 60:.1f} min.")


if __name__ == "__main__":
    main()
