"""Load on a running stack (tests/stack.py): the import path, intake over HTTP, latency to investigation.

Counts are read from the services' own databases with plain read-only queries (SQLite in WAL
mode: readers never block the services' writers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import resource
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import sqlalchemy as sa
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import complaint_form, message, percentile, sleep_until, submitted
from tests.helpers import auth
from tests.infrastructure import SUBSCRIPTION_QUEUES
from tests.stack import Stack

OPENED_NOTICES = "SELECT count(DISTINCT number) FROM notifications WHERE event_type = 'investigation.opened'"
DOUBLED_NOTICES = (
    "SELECT count(*) FROM (SELECT number FROM notifications WHERE event_type = 'investigation.opened'"
    " GROUP BY number HAVING count(DISTINCT event_id) > 1) AS doubled"
)
PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
QUEUES = SUBSCRIPTION_QUEUES  # their `.dlq` hold what was given up on


def cpu_seconds() -> float:
    """CPU time of this (load generating) process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Probe:
    """Counts in intake's, investigation's and notification's databases."""

    def __init__(self, stack: Stack) -> None:
        self.engines: dict[str, AsyncEngine] = {
            name: create_async_engine(stack[name].database_url) for name in ("intake", "investigation", "notification")
        }

    async def scalar(self, service: str, sql: str) -> int:
        async with self.engines[service].connect() as connection:
            return int((await connection.execute(sa.text(sql))).scalar_one())

    async def complaints(self) -> int:
        return await self.scalar("intake", "SELECT count(*) FROM complaints")

    async def cases(self) -> int:
        return await self.scalar("investigation", "SELECT count(*) FROM cases")

    async def notified(self) -> int:
        """Complaints whose `investigation.opened` notices are written: the end of the import path."""
        return await self.scalar("notification", OPENED_NOTICES)

    async def doubled(self) -> int:
        """Complaints notified of more than one `investigation.opened` event."""
        return await self.scalar("notification", DOUBLED_NOTICES)

    async def pending(self) -> int:
        return sum([await self.scalar(name, PENDING) for name in ("intake", "investigation")])

    async def quiesce(self, limit_s: float) -> tuple[float, int]:
        """Wait until every registered complaint has its notices and the outboxes are empty.

        Returns (seconds waited, complaints still without notices)."""
        started = time.perf_counter()
        while True:
            backlog = await self.complaints() - await self.notified()
            if backlog <= 0 and await self.pending() == 0:
                return time.perf_counter() - started, 0
            if time.perf_counter() - started > limit_s:
                return time.perf_counter() - started, backlog
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()


def _rabbitmqctl(*args: str) -> list[list[str]] | None:
    """Rows of a `rabbitmqctl -q` listing; None where rabbitmqctl is not available."""
    try:
        answer = subprocess.run(
            ["rabbitmqctl", *args, "-q"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.split("\t") for line in answer.splitlines()]


async def dead_letters(stack: Stack) -> int:
    """Messages in the stack's dead-letter queues (all `<prefix>*.dlq` rabbitmqctl lists, else the known ones)."""
    rows = await asyncio.to_thread(_rabbitmqctl, "list_queues", "name", "messages")
    if rows is not None:
        return sum(
            int(r[1]) for r in rows if len(r) == 2 and r[0].startswith(stack.queue_prefix) and r[0].endswith(".dlq")
        )
    total = 0
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        for name in QUEUES:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.ChannelClosed):  # never declared
                queue = await channel.declare_queue(f"{stack.queue_prefix}{name}.dlq", passive=True)
                total += queue.declaration_result.message_count or 0
    return total


def consumer_prefetch(stack: Stack) -> list[int] | None:
    """The prefetch of the stack's consumers as the broker reports it (0: no limit); None if unknown."""
    rows = _rabbitmqctl("list_consumers", "queue_name", "prefetch_count")
    if rows is None:
        return None
    return sorted({int(r[1]) for r in rows if len(r) == 2 and r[0].startswith(stack.queue_prefix)}) or None


# -- a. the import path ---------------------------------------------------------------------------


@dataclass
class ImportRun:
    n: int
    publish_s: float
    registered_s: float | None  # all N complaints in intake's database
    opened_s: float | None  # all N cases in investigation's database
    notified_s: float | None  # all N complaints' `investigation.opened` notices in notification's database
    complaints: int = 0
    cases: int = 0
    notified: int = 0
    doubled: int = 0
    dead_lettered: int = 0

    def rate(self, seconds: float | None) -> float:
        return self.n / seconds if seconds else math.nan  # nan: not all arrived in time


async def import_path(stack: Stack, probe: Probe, n: int, in_flight: int, limit_s: float) -> ImportRun:
    """Publish N `complaint.submitted` as fast as the broker confirms them; clock stops when the
    last complaint's `investigation.opened` notices are written in notification's database."""
    token = uuid.uuid4().hex[:8]
    events = [submitted(i, f"IMP-{token}-{i}") for i in range(n)]
    bodies = [(event.routing_key, event.to_json(), str(event.id)) for event in events]
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(stack.exchange)
        started = time.perf_counter()

        async def publish_all() -> float:
            for offset in range(0, n, in_flight):
                batch = bodies[offset : offset + in_flight]
                await asyncio.gather(*(exchange.publish(message(body, mid), key) for key, body, mid in batch))
            return time.perf_counter() - started

        publishing = asyncio.create_task(publish_all())
        reached: dict[str, float] = {}
        stages = (("registered", probe.complaints), ("opened", probe.cases), ("notified", probe.notified))
        deadline = started + limit_s
        while "notified" not in reached and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
            now = time.perf_counter() - started
            for stage, count in stages:
                if stage not in reached and await count() >= n:
                    reached[stage] = now
        publish_s = await publishing
    run = ImportRun(n, publish_s, reached.get("registered"), reached.get("opened"), reached.get("notified"))
    await probe.quiesce(limit_s=10)  # late doubles would show now
    run.complaints, run.cases, run.notified = await probe.complaints(), await probe.cases(), await probe.notified()
    run.doubled, run.dead_lettered = await probe.doubled(), await dead_letters(stack)
    return run


# -- b. intake over HTTP --------------------------------------------------------------------------


@dataclass
class HttpRun:
    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)  # HTTP status or exception -> count
    client_cpu: float = 0.0  # share of one core the load generator used

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    def record(self, outcome: str | None) -> None:
        self.requests += outcome is None
        if outcome is not None:
            self.failures[outcome] += 1

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def _client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(headers=auth("customer_service", "*"), limits=limits, timeout=60)


async def _post(client: httpx.AsyncClient, url: str, i: int) -> str | None:
    """None when the complaint was registered (201); else what went wrong."""
    try:
        answer = await client.post(f"{url}/api/v1/complaints", json=complaint_form(i))
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if answer.status_code == 201 else str(answer.status_code)


async def _closed_loop(
    client: httpx.AsyncClient, url: str, clients: int, seconds: float, ids: Iterator[int]
) -> HttpRun:
    run = HttpRun(0, seconds)
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            outcome = await _post(client, url, next(ids))
            run.latencies_ms.append((time.perf_counter() - sent) * 1000)
            run.record(outcome)

    cpu, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    run.seconds = time.perf_counter() - started  # includes the answers still awaited at the deadline
    run.client_cpu = (cpu_seconds() - cpu) / run.seconds
    return run


async def saturation(url: str, clients: int, seconds: float, warmup: float, first: int) -> HttpRun:
    """Closed loop: `clients` each send the next request as soon as the previous one is answered;
    a warm-up run first, not counted."""
    ids = itertools.count(first)
    async with _client(clients) as client:
        await _closed_loop(client, url, clients, warmup, ids)
        return await _closed_loop(client, url, clients, seconds, ids)


async def open_loop(url: str, rate: float, seconds: float, first: int) -> HttpRun:
    """Requests at fixed times; latency from the scheduled send time, so queueing is not hidden."""
    total = max(1, round(rate * seconds))
    run = HttpRun(0, seconds)
    async with _client(1000) as client:

        async def one(i: int, scheduled: float) -> None:
            outcome = await _post(client, url, first + i)
            run.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
            run.record(outcome)

        tasks: list[asyncio.Task[None]] = []
        cpu, start = cpu_seconds(), time.perf_counter() + 0.1
        for i in range(total):
            scheduled = start + i / rate
            await sleep_until(scheduled)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        run.client_cpu = (cpu_seconds() - cpu) / (time.perf_counter() - start)
    return run


# -- c. latency from complaint.submitted to investigation.opened ---------------------------------


@dataclass
class LatencyRun:
    sent: int
    registered_ms: list[float]  # until `complaint.registered` is seen on the tap
    opened_ms: list[float]  # until `investigation.opened` is seen on the tap

    @property
    def missing(self) -> int:
        return self.sent - len(self.opened_ms)


async def to_investigation(stack: Stack, rate: float, seconds: float, grace: float) -> LatencyRun:
    """Open loop at `rate`/s: publish `complaint.submitted`, see `investigation.opened` on a tap
    queue (bound `complaint.registered.*` to learn each complaint's number, and `investigation.opened.*`)."""
    token = uuid.uuid4().hex[:8]
    total = max(1, round(rate * seconds))
    scheduled: dict[str, float] = {}  # external_ref -> scheduled send time
    registered: dict[str, float] = {}  # external_ref -> seen
    number_of: dict[str, str] = {}
    opened: dict[str, float] = {}  # number -> seen
    all_seen = asyncio.Event()
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        tap_channel = await connection.channel()
        tap = await tap_channel.declare_queue(exclusive=True, auto_delete=True)
        for key in ("complaint.registered.*", "investigation.opened.*"):
            await tap.bind(stack.exchange, key)

        async def on_tap(incoming: AbstractIncomingMessage) -> None:
            seen = time.perf_counter()
            event: dict[str, Any] = json.loads(incoming.body)
            data = event.get("data") or {}
            if event.get("type") == "complaint.registered" and data.get("external_ref") in scheduled:
                registered[data["external_ref"]] = seen
                number_of[data["external_ref"]] = data["number"]
            elif event.get("type") == "investigation.opened":
                opened.setdefault(data.get("number", ""), seen)
                if len(scheduled) == total and all(number_of.get(r) in opened for r in scheduled):
                    all_seen.set()

        await tap.consume(on_tap, no_ack=True)
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(stack.exchange)
        tasks: list[asyncio.Task[object]] = []
        start = time.perf_counter() + 0.1
        for i in range(total):
            event = submitted(i, f"LAT-{token}-{i}")
            ref = event.data["external_ref"]
            scheduled[ref] = start + i / rate
            await sleep_until(scheduled[ref])
            publish = exchange.publish(message(event.to_json(), str(event.id)), event.routing_key)
            tasks.append(asyncio.create_task(publish))
        await asyncio.gather(*tasks)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), grace)
    return LatencyRun(
        sent=total,
        registered_ms=[(registered[r] - scheduled[r]) * 1000 for r in scheduled if r in registered],
        opened_ms=[(opened[number_of[r]] - scheduled[r]) * 1000 for r in scheduled if number_of.get(r) in opened],
    )
