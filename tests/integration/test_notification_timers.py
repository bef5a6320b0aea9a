"""Durable deadline timers in the service's own database (SQLite and PostgreSQL), on a fake clock:
scheduled from a case's deadlines, surviving a restart of the service, fired once by the
worker with `sla.*` staged in the outbox, cancelled when the milestone is met (DOMAIN.md §3
"Deadlines"; 逾期反应 seed 000 第三条(三)1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from cqm_shared.clock import FakeClock
from cqm_shared.db import upgrade
from cqm_shared.uow import system_actor
from notification.adapters.orm import timers
from notification.bootstrap import NotificationService, bootstrap
from notification.config import NotificationSettings
from notification.domain.model import Cause
from notification.domain.timers import DeadlineFact
from notification.service.handlers import DeadlineUpdate, track_deadlines
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir
from tests.unit.fakes import T0

NUMBER = "F01-2611-0042"
HOUR = timedelta(hours=1)
SYSTEM = system_actor("/services/notification")


def settings(database_url: str) -> NotificationSettings:
    return NotificationSettings(
        environment="test", database_url=database_url, policy_dir=POLICY_DIR, workers=False, queue_prefix="t."
    )


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(migrations_dir("notification"), database_url)
    yield database_url


async def start(url: str, clock: FakeClock) -> NotificationService:
    return bootstrap(settings(url), clock=clock)


async def stop(service: NotificationService) -> None:
    await service.runtime.engine.dispose()


def update(version: int, state: str = "pending") -> DeadlineUpdate:
    return DeadlineUpdate(
        key=f"case:{NUMBER}",
        factory="F01",
        number=NUMBER,
        producer="investigation",
        version=version,
        deadlines=(DeadlineFact("first_response", T0 + 24 * HOUR, state, 1, "seed 001 §1.2.1"),),
        department="装配车间",
    )


async def outbox_types(service: NotificationService) -> list[tuple[str, int]]:
    async with service.runtime.sessions() as session:
        rows = (await session.execute(sa.text("SELECT body FROM outbox ORDER BY created_at"))).scalars().all()
    found = [json.loads(body) for body in rows]
    return [(e["type"], e["data"]["level"]) for e in found if e["type"].startswith("sla.")]


async def states(service: NotificationService) -> dict[str, int]:
    async with service.runtime.sessions() as session:
        rows = (await session.execute(sa.select(timers.c.state, sa.func.count()).group_by(timers.c.state))).all()
    return {state: count for state, count in rows}


def breaches(level: int) -> float:
    """`cqm_sla_breaches_total` for F01's first response at `level` (the alert rules' input)."""
    labels = {"factory": "F01", "milestone": "first_response", "level": str(level)}
    return REGISTRY.get_sample_value("cqm_sla_breaches_total", labels) or 0.0


async def test_timers_survive_a_restart_and_fire_once_each(migrated: str) -> None:
    counted = {level: breaches(level) for level in (0, 1)}
    clock = FakeClock(T0)
    first = await start(migrated, clock)
    await track_deadlines(
        first.units_of_work(SYSTEM, None), Cause("e1", "investigation.opened"), update(1), first.notifying, why="t"
    )
    clock.set(T0 + 12 * HOUR)
    assert await first.timer_worker.drain() == 1
    await stop(first)  # the service goes away between the reminder and the breach

    clock.set(T0 + 30 * HOUR)
    second = await start(migrated, clock)
    assert await second.timer_worker.drain() == 3  # the late 80 % reminder, the breach, level 1 (due + 4 h)
    assert await second.timer_worker.drain() == 0
    assert await outbox_types(second) == [
        ("sla.warning", 0),
        ("sla.warning", 0),
        ("sla.breached", 0),
        ("sla.breached", 1),
    ]
    assert await states(second) == {"fired": 4, "pending": 2}
    # The breach and the first escalation are counted once each; the reminders are not breaches.
    assert {level: breaches(level) - counted[level] for level in (0, 1)} == {0: 1.0, 1: 1.0}
    await stop(second)


async def test_a_met_milestone_cancels_its_timers_and_a_late_older_event_changes_nothing(migrated: str) -> None:
    clock = FakeClock(T0)
    service = await start(migrated, clock)
    uow = service.units_of_work
    await track_deadlines(uow(SYSTEM, None), Cause("e1", "investigation.opened"), update(1), service.notifying, why="t")
    await track_deadlines(
        uow(SYSTEM, None), Cause("e3", "investigation.customer_replied"), update(3, "met"), service.notifying, why="t"
    )
    await track_deadlines(
        uow(SYSTEM, None), Cause("e2", "investigation.triaged"), update(2), service.notifying, why="t"
    )

    assert await states(service) == {"cancelled": 6}
    clock.set(T0 + 200 * HOUR)
    assert await service.timer_worker.drain() == 0
    assert await outbox_types(service) == []
    await stop(service)


async def test_a_timer_claimed_by_a_crashed_replica_is_taken_over_when_its_lease_runs_out(migrated: str) -> None:
    clock = FakeClock(T0)
    service = await start(migrated, clock)
    await track_deadlines(
        service.units_of_work(SYSTEM, None), Cause("e1", "investigation.opened"), update(1), service.notifying, why="t"
    )
    clock.set(T0 + 12 * HOUR)
    async with service.runtime.sessions() as session, session.begin():
        # a replica claimed the due reminder and died before firing it
        await session.execute(
            sa.update(timers)
            .where(timers.c.fire_at <= clock.now())
            .values(claimed_by="dead-replica", lease_until=clock.now() + timedelta(seconds=60))
        )
    assert await service.timer_worker.drain() == 0  # the lease is still live
    clock.advance(timedelta(seconds=61))
    assert await service.timer_worker.drain() == 1
    assert await outbox_types(service) == [("sla.warning", 0)]
    await stop(service)


def test_the_worker_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAIM_LEASE_SECONDS", "15")
    monkeypatch.setenv("WORKER_POLL_INTERVAL", "0.25")
    chosen = NotificationSettings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    assert (chosen.claim_lease_seconds, chosen.worker_poll_interval, chosen.workers) == (15.0, 0.25, True)
