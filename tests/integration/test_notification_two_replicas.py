"""Two notification replicas on one database fire 10,000 due timers: none twice, none missed.

Two real `python -m notification` processes (their timer workers polling, claiming batches under a
lease) share one PostgreSQL database, or one SQLite file. Once both are up, 10,000 overdue timers
of 500 cases appear in one transaction, planned by the real domain (`Track.reconcile`; each
deadline already past due when learnt of: its breach and three escalation levels, no reminders).
When none is pending:

- every timer is `fired` with `fired_at` set, none pending or cancelled;
- exactly one `fire` audit row per timer (`after.timer`), at the timer's `fired_at`;
- exactly one `sla.*` event per timer in the outbox, told apart by number, milestone, round, due
  time, type and level (unique per timer without reminders: two reminders of one deadline raise
  identical data), and every timer's notices written (`notifications.event_id` is the timer id);
- both processes took part, and each says through its own metrics how many timers it claimed
  (`cqm_notification_worker_items_total{worker="timers"}`) and fired
  (`cqm_notification_lateness_seconds_count`, observed only when its firing committed). The
  claims add up to exactly 10,000: no timer was claimed twice, which a claim that neither skips
  nor waits for the rows another replica is taking would break even when the version check then
  stops the second firing; the firings add up to 10,000 too.

Which replica fired a given timer the tables do not say: firing clears `claimed_by` (the timer
repository writes `claimed_by = NULL` with the new state) and the audit actor is the service, the
same for both. Where a fired timer keeps a claim, it must be one of the two replicas' (the owner
names the process id) and agree with that replica's count.

The second test makes the leases run out while a batch is still being fired (a lease far
shorter than a batch takes): the replicas keep retaking each other's timers and fire the same
ones at the same moment, so only `fire_timer`'s state and version checks stand between a timer
and its second firing. There the claims exceed the timers (the race did happen) while the
firings still equal them.

Neither replica may write a traceback to its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cqm_shared.clock import FakeClock
from cqm_shared.db import upgrade
from cqm_shared.uow import system_actor
from notification.adapters.orm import audit_log, notifications, timers
from notification.bootstrap import NotificationService, bootstrap
from notification.config import NotificationSettings
from notification.domain.timers import DeadlineFact, Track
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import migrations_dir
from tests.polling import wait_for
from tests.stack import ServiceProcess, free_port

SYSTEM = system_actor("/services/notification")
MILESTONES = ("first_response", "handling_proposal", "customer_reply", "preliminary_report", "close")
TIMERS_PER_DEADLINE = 4  # past due when learnt of: no reminders; the breach and escalation levels 1, 2, 3
BATCH = 50
CLAIMED = "cqm_notification_worker_items_total"
FIRED = "cqm_notification_lateness_seconds_count"


@dataclass
class Replica:
    process: ServiceProcess
    counts: dict[str, float] = field(default_factory=dict)  # its timer worker's metrics when all had fired

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def claimed(self) -> int:
        return int(self.counts.get(CLAIMED, 0))

    @property
    def fired(self) -> int:
        return int(self.counts.get(FIRED, 0))

    def owns(self, claimed_by: str) -> bool:
        """Whether a claim is this process's (notification.bootstrap._owner: service@host:pid:random)."""
        return re.fullmatch(rf"notification@.+:{self.pid}:[0-9a-f]+", claimed_by) is not None

    def read_counts(self) -> None:
        with urllib.request.urlopen(f"{self.process.url}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name.split("{", 1)[0] in (CLAIMED, FIRED) and 'worker="timers"' in name:
                self.counts[name.split("{", 1)[0]] = float(value)

    def traceback(self) -> str | None:
        log = self.process.log()
        if "Traceback" not in log:
            return None
        return f"{self.process.log_path.name} (pid {self.pid}) wrote a traceback; its log:\n{log[-8000:]}"


def replica(name: str, database_url: str, broker_ns: BrokerNamespace, folder: Path, **extra: str) -> Replica:
    env = {
        **os.environ,
        **broker_ns.env(),
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
        "POLICY_DIR": str(POLICY_DIR),
        "WORKER_BATCH_SIZE": str(BATCH),
        "WORKER_POLL_INTERVAL": "0.1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("TRACES_FILE", None)
    return Replica(ServiceProcess("notification", env, folder / f"{name}.log"))


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(migrations_dir("notification"), database_url)
    yield database_url


@pytest.fixture
async def local(migrated: str) -> AsyncIterator[NotificationService]:
    """The database as the test sees it: no workers of its own, the clock of when the deadlines were learnt of."""
    settings = NotificationSettings(
        environment="test", database_url=migrated, policy_dir=POLICY_DIR, workers=False, queue_prefix="t."
    )
    service = bootstrap(settings, clock=FakeClock(datetime.now(UTC) - timedelta(days=10)))
    yield service
    await service.runtime.engine.dispose()


async def schedule_overdue_timers(service: NotificationService, cases: int) -> int:
    """Overdue timers of `cases` cases, in one transaction, as the domain plans them; how many."""
    learnt = service.clock.now()
    policy = service.notifying.policy("F01").timers
    planned = 0
    async with service.units_of_work(SYSTEM, None) as uow:
        for c in range(cases):
            number = f"F01-2611-{c:04d}"
            track = uow.tracks.add(Track.new(f"case:{number}", "F01", number, "investigation", learnt))
            deadlines = [
                DeadlineFact(m, learnt - timedelta(hours=1 + i, minutes=c % 60), "pending", 1, "two replicas")
                for i, m in enumerate(MILESTONES)
            ]
            for timer in track.reconcile(
                version=1,
                deadlines=deadlines,
                department="装配车间",
                existing=[],
                policy=policy,
                at=learnt,
                why="the two-replica test",
            ):
                uow.timers.add(timer)
                planned += 1
        await uow.commit()
    return planned


async def count(service: NotificationService, stmt: sa.Select[Any]) -> int:
    async with service.runtime.sessions() as session:
        return int((await session.execute(stmt)).scalar_one())


async def fire_with_two_replicas(
    service: NotificationService, cases: int, broker_ns: BrokerNamespace, folder: Path, **extra: str
) -> tuple[list[Replica], int]:
    """Start both, schedule the timers, wait until none is pending, read their counts, stop them."""
    url = service.settings.database_url
    replicas = [replica(name, url, broker_ns, folder, **extra) for name in ("replica-a", "replica-b")]
    try:
        for r in replicas:
            r.process.start()
        for r in replicas:
            await asyncio.to_thread(r.process.wait_ready)
        planned = await schedule_overdue_timers(service, cases)
        assert planned == cases * len(MILESTONES) * TIMERS_PER_DEADLINE, "the policy plans other timers"
        pending = sa.select(sa.func.count()).select_from(timers).where(timers.c.state == "pending")

        async def none_pending() -> bool:
            for r in replicas:
                if trouble := r.traceback():
                    raise AssertionError(trouble)
                if not r.process.alive():
                    raise AssertionError(f"pid {r.pid} exited; its log:\n{r.process.log()[-8000:]}")
            return await count(service, pending) == 0

        await wait_for(none_pending, timeout=270, interval=0.25, what=f"all {planned} timers fired")
        for r in replicas:
            await asyncio.to_thread(r.read_counts)
    finally:
        for r in replicas:
            await asyncio.to_thread(r.process.stop)
    for r in replicas:
        if trouble := r.traceback():
            raise AssertionError(trouble)
    return replicas, planned


async def assert_fired_once_each(service: NotificationService, planned: int) -> list[Any]:
    """Every timer fired exactly once: its state, its audit row, its `sla.*` event, its notices.
    The timers' rows."""
    async with service.runtime.sessions() as session:
        rows = list((await session.execute(sa.select(timers))).all())
        fires = (
            await session.execute(
                sa.select(audit_log.c.after, audit_log.c.at).where(
                    audit_log.c.entity == "timer", audit_log.c.action == "fire"
                )
            )
        ).all()
        bodies = (
            (await session.execute(sa.text("SELECT body FROM outbox WHERE event_type LIKE 'sla.%'"))).scalars().all()
        )
        noticed = (
            await session.execute(
                sa.select(sa.func.count(sa.distinct(notifications.c.event_id))).where(
                    notifications.c.event_id.in_(sa.select(timers.c.id))
                )
            )
        ).scalar_one()

    assert len(rows) == planned
    states = Counter(r.state for r in rows)
    assert states == {"fired": planned}, f"timers by state: {dict(states)}"
    assert all(r.fired_at is not None and r.cancelled_at is None for r in rows)

    fired = Counter(after["timer"] for after, _ in fires)
    twice = {t: n for t, n in fired.items() if n > 1}
    assert not twice, f"{len(twice)} timers fired more than once, e.g. {list(twice.items())[:5]}"
    assert set(fired) == {r.id for r in rows}, f"{planned - len(fired)} timers without a `fire` audit row"
    fired_at = {r.id: r.fired_at for r in rows}
    assert all(fired_at[after["timer"]] == at for after, at in fires), "a fired_at differs from its fire's audit row"

    def key(number: str, milestone: str, round_: int, due_at: datetime, breached: bool, level: int) -> tuple[Any, ...]:
        return (number, milestone, round_, due_at, breached, level)

    expected = {key(r.number, r.milestone, r.round, r.due_at, r.kind != "reminder", r.level) for r in rows}
    assert len(expected) == planned  # the events' data tell these timers apart
    raised = Counter(
        key(
            e["data"]["number"],
            e["data"]["milestone"],
            e["data"]["round"],
            datetime.fromisoformat(e["data"]["due_at"]),
            e["type"] == "sla.breached",
            e["data"]["level"],
        )
        for e in map(json.loads, bodies)
    )
    doubled = {k: n for k, n in raised.items() if n > 1}
    assert not doubled, f"{len(doubled)} timers raised more than one sla.* event, e.g. {list(doubled.items())[:3]}"
    assert set(raised) == expected, f"{len(raised)} distinct sla.* events for {planned} timers"
    assert noticed == planned, f"{planned - noticed} timers fired without their notices"
    return rows


def assert_kept_claims_agree(rows: list[Any], replicas: list[Replica]) -> None:
    """A fired timer that keeps a claim keeps its firing replica's (none does today: firing clears it)."""
    kept = Counter(r.claimed_by for r in rows if r.claimed_by is not None)
    strangers = [o for o in kept if not any(r.owns(o) for r in replicas)]
    assert not strangers, f"fired timers claimed by neither replica: {strangers}"
    if kept:
        for r in replicas:
            assert sum(n for o, n in kept.items() if r.owns(o)) == r.fired, (r.pid, r.counts, dict(kept))


async def test_two_replicas_fire_ten_thousand_due_timers_each_once(
    local: NotificationService, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    replicas, planned = await fire_with_two_replicas(local, 500, broker_ns, tmp_path)
    assert planned == 10_000

    rows = await assert_fired_once_each(local, planned)
    counts = {r.pid: r.counts for r in replicas}
    assert all(r.fired > 0 for r in replicas), f"a replica fired nothing: {counts}"
    assert sum(r.claimed for r in replicas) == planned, f"timers claimed twice or never: {counts}"
    assert sum(r.fired for r in replicas) == planned, f"firings: {counts}"
    assert all(r.claimed == r.fired for r in replicas), f"a replica fired other than it claimed: {counts}"
    assert_kept_claims_agree(rows, replicas)


async def test_replicas_retaking_each_others_lapsed_claims_still_fire_each_timer_once(
    local: NotificationService, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    # A batch of 200 takes a second or more to fire; its claims lapse after a tenth of a second.
    replicas, planned = await fire_with_two_replicas(
        local, 100, broker_ns, tmp_path, CLAIM_LEASE_SECONDS="0.1", WORKER_BATCH_SIZE="200"
    )
    assert planned == 2_000

    await assert_fired_once_each(local, planned)
    counts = {r.pid: r.counts for r in replicas}
    assert sum(r.claimed for r in replicas) > planned, f"no claim lapsed and was retaken: {counts}"
    assert sum(r.fired for r in replicas) == planned, f"firings: {counts}"
