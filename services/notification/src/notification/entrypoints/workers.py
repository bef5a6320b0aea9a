"""The two background workers of notification: deadline timers and external deliveries.

Each replica runs both. A pass claims what is due (`due <= now`, so a missed pass never drops
anything) under a lease, handles it, and sleeps until the next due row or the poll interval,
whichever is sooner, or until a commit wakes it. A replica that dies leaves its claims to run
out; another takes them over. An outage of the database is waited out with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from prometheus_client import Counter, Histogram

from cqm_shared.clock import Clock
from cqm_shared.domain import StaleVersion
from cqm_shared.outages import Backoff, OutageLog, is_outage

log = logging.getLogger(__name__)

HANDLED = Counter("cqm_notification_worker_items_total", "Due items handled by a notification worker", ["worker"])
# Deadlines passed (sla.breached: level 0 the owner told, 1-3 escalated), counted when the
# timer's transaction committed; Prometheus alerts when they rise (deploy/k8s monitoring rules).
SLA_BREACHES = Counter(
    "cqm_sla_breaches_total", "Deadline timers fired past their deadline (逾期)", ["factory", "milestone", "level"]
)
LATENESS = Histogram(
    "cqm_notification_lateness_seconds",
    "How long after its due time an item was handled",
    ["worker"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)


class ClaimsPort(Protocol):
    """What a worker needs of the claims adapter (notification.adapters.claims.Claims)."""

    async def claim(self, now: datetime, limit: int) -> list[str]: ...

    async def release(self, ids: Sequence[str]) -> None: ...

    async def next_due(self) -> datetime | None: ...


class DueWorker:
    def __init__(
        self,
        name: str,
        *,
        claims: ClaimsPort,
        handle: Callable[[list[str]], Awaitable[None]],
        clock: Clock,
        batch_size: int = 100,
        poll_interval: float = 1.0,
    ) -> None:
        self.name = name
        self._claims = claims
        self._handle = handle
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._backoff = Backoff(first=0.2, cap=5.0)
        self.outage = OutageLog(f"{name} worker: database", log)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-worker")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the pass under way finish (cancelling it mid-transaction would cut the connection's
        rollback short), then cancel whatever still runs after `grace` seconds."""
        if self._task is not None:
            self._stopping = True
            self._wakeup.set()
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        self._wakeup.set()

    async def tick(self) -> int:
        """One pass: claim a batch of due items and handle them; how many were claimed."""
        ids = await self._claims.claim(self._clock.now(), self._batch_size)
        if ids:
            await self._handle(ids)
            HANDLED.labels(self.name).inc(len(ids))
        return len(ids)

    async def drain(self) -> int:
        """Passes until nothing is due (tests and the benchmark)."""
        total = 0
        while claimed := await self.tick():
            total += claimed
        return total

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                claimed = await self.tick()
                if self.outage.ongoing:
                    self.outage.recovered("working again")
                self._backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_outage(exc):
                    self.outage.failed(exc, "due items wait in the database; backing off")
                else:
                    log.warning("%s worker pass failed: %s: %s", self.name, type(exc).__name__, exc)
                await self._pause(self._backoff.next())
                continue
            if claimed >= self._batch_size:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        wait = self._poll_interval
        with contextlib.suppress(Exception):
            due = await self._claims.next_due()
            if due is not None:
                wait = max(0.0, min(wait, (due - self._clock.now()).total_seconds()))
        if wait > 0:
            await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, or until woken (a commit, or stop)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()


def each(
    handle_one: Callable[[str], Awaitable[object]], name: str, clock: Clock, due_of: Callable[[], None] | None = None
) -> Callable[[list[str]], Awaitable[None]]:
    """Handle claimed ids one by one: one failing (other than an outage) does not hold the rest;
    its claim runs out and it is tried again."""

    async def handle(ids: list[str]) -> None:
        for item in ids:
            try:
                await handle_one(item)
            except StaleVersion:
                continue  # handled by another replica meanwhile: nothing to do
            except Exception as exc:
                if is_outage(exc):
                    raise
                log.exception("%s worker: %s failed; retried when its claim runs out", name, item)
        if due_of is not None:
            due_of()

    return handle
