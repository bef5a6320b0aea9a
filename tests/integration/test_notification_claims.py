"""Claims of due rows (durable timers, deliveries) on SQLite and PostgreSQL.

Replicas claiming at once take every due row exactly once; a row is claimable from its due
time on (`<=`, never `==`), not before; a lease that ran out is retaken, a live one is not;
rows in other states are never claimed. Tables are created by the real migrations.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.db import create_engine, is_sqlite, session_factory, upgrade
from notification.adapters.claims import Claims
from notification.adapters.orm import notifications, timers
from tests.helpers import migrations_dir

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
TICK = timedelta(microseconds=1)  # the finest step both databases keep


@dataclass(frozen=True)
class Kind:
    """One claimable table: its due and state columns, and how to write a row of it."""

    table: sa.Table
    due: str
    state: str
    done: tuple[str, ...]  # states a row leaves `pending` for
    row: Callable[..., dict[str, Any]]


def timer_row(id: str, due: datetime | None, state: str = "pending", kind: str = "reminder") -> dict[str, Any]:
    return {
        "id": id,
        "track": "case:F01-2611-0001",
        "number": "F01-2611-0001",
        "factory": "F01",
        "milestone": "containment",
        "round": 1,
        "kind": kind,
        "level": 0,
        "due_at": T0,
        "fire_at": due,
        "state": state,
        "producer": "investigation",
        "created_at": T0 - timedelta(days=1),
        "version": 1,
    }


def notification_row(id: str, due: datetime | None, state: str = "pending", channel: str = "email") -> dict[str, Any]:
    return {
        "id": id,
        "number": "F01-2611-0001",
        "factory": "F01",
        "event_id": id,
        "event_type": "complaint.registered",
        "recipient_role": "quality_manager",
        "recipient": "role:quality_manager",
        "channel": channel,
        "urgent": False,
        "subject": "新投诉 new complaint",
        "body": "露筋 exposed rebar",
        "status": state,
        "created_at": T0 - timedelta(days=1),
        "next_attempt_at": due,
    }


KINDS = {
    "timers": Kind(timers, "fire_at", "state", ("fired", "cancelled"), timer_row),
    "notifications": Kind(notifications, "next_attempt_at", "status", ("delivered", "failed"), notification_row),
}


@pytest.fixture
async def migrated(database_url: str) -> str:
    await asyncio.to_thread(upgrade, migrations_dir("notification"), database_url)
    return database_url


@pytest.fixture
async def sessions(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def claimer(sessions: async_sessionmaker[AsyncSession], url: str, owner: str, kind: Kind = KINDS["timers"]) -> Claims:
    return Claims(sessions, kind.table, due=kind.due, state=kind.state, owner=owner, lease=LEASE, sqlite=is_sqlite(url))


async def insert(sessions: async_sessionmaker[AsyncSession], table: sa.Table, rows: list[dict[str, Any]]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(sa.insert(table), rows)


async def claim_columns(sessions: async_sessionmaker[AsyncSession], table: sa.Table) -> dict[str, tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(sa.select(table.c.id, table.c.claimed_by, table.c.lease_until))
        return {row_id: (owner, until) for row_id, owner, until in rows}


def scrambled_dues(count: int) -> list[datetime]:
    """Due times all in the past, in an order unlike the rows' insertion order."""
    return [T0 - timedelta(seconds=(i * 7919) % count, microseconds=i) for i in range(count)]


async def test_two_owners_claiming_at_once_take_every_due_row_exactly_once(migrated: str) -> None:
    dues = scrambled_dues(2000)
    ids = [f"timer-{i:04d}" for i in range(len(dues))]
    # Separate engines, as two replicas have: their own connections and transactions.
    engines = [create_engine(migrated) for _ in range(3)]
    try:
        a, b, c = (
            claimer(session_factory(engine), migrated, owner) for engine, owner in zip(engines, "abc", strict=True)
        )
        await insert(session_factory(engines[2]), timers, [timer_row(i, d) for i, d in zip(ids, dues, strict=True)])

        async def drain(claims: Claims) -> list[list[str]]:
            batches = []
            while batch := await claims.claim(T0, 25):
                batches.append(batch)
            return batches

        batches_a, batches_b = await asyncio.gather(drain(a), drain(b))

        assert max(len(batch) for batch in batches_a + batches_b) <= 25
        got_a = [row_id for batch in batches_a for row_id in batch]
        got_b = [row_id for batch in batches_b for row_id in batch]
        claimed = Counter(got_a + got_b)
        assert sorted(claimed) == ids  # none left behind ...
        assert {row_id for row_id, times in claimed.items() if times > 1} == set()  # ... none taken twice
        assert await c.claim(T0, 25) == []
        assert await c.next_due() == T0 + LEASE  # every row is held until the leases run out

        due_of = dict(zip(ids, dues, strict=True))
        for batch in batches_a + batches_b:  # each batch earliest due first
            assert batch == sorted(batch, key=lambda row_id: due_of[row_id])
        stored = await claim_columns(session_factory(engines[2]), timers)
        expected = {row_id: ("a", T0 + LEASE) for row_id in got_a} | {row_id: ("b", T0 + LEASE) for row_id in got_b}
        assert stored == expected
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_claim_takes_at_most_its_limit_earliest_due_first(
    sessions: async_sessionmaker[AsyncSession], migrated: str
) -> None:
    # A fresh table without planner statistics: PostgreSQL may rescan a subquery on the inner
    # side of a nested loop, and a locking subquery rescanned finds further rows.
    dues = scrambled_dues(2000)
    rows = [timer_row(f"timer-{i:04d}", due) for i, due in enumerate(dues)]
    await insert(sessions, timers, rows)
    earliest = [row["id"] for row in sorted(rows, key=lambda row: (row["fire_at"], row["id"]))]

    a = claimer(sessions, migrated, "a")
    assert await a.claim(T0, 5) == earliest[:5]
    assert await a.claim(T0, 7) == earliest[5:12]
    assert await a.claim(T0, 0) == []
    claimed = {row_id for row_id, (owner, _) in (await claim_columns(sessions, timers)).items() if owner}
    assert claimed == set(earliest[:12])


async def test_a_row_is_claimed_from_its_due_time_on_not_before(
    sessions: async_sessionmaker[AsyncSession], migrated: str, kind: Kind
) -> None:
    await insert(
        sessions,
        kind.table,
        [
            kind.row("late", T0 - timedelta(hours=1)),  # a missed poll: still found
            kind.row("exact", T0),
            kind.row("next", T0 + TICK),
            kind.row("tomorrow", T0 + timedelta(days=1)),
        ],
    )
    a = claimer(sessions, migrated, "a", kind)
    assert await a.next_due() == T0 - timedelta(hours=1)

    assert await a.claim(T0, 10) == ["late", "exact"]
    assert await a.next_due() == T0 + TICK
    assert await a.claim(T0, 10) == []
    assert await a.claim(T0 + TICK, 10) == ["next"]
    assert await a.next_due() == T0 + LEASE  # unless handled by then, the claimed rows come back
    stored = await claim_columns(sessions, kind.table)
    assert stored["exact"] == ("a", T0 + LEASE)
    assert stored["next"] == ("a", T0 + TICK + LEASE)
    assert stored["tomorrow"] == (None, None)


async def test_a_lease_that_ran_out_is_taken_over_a_live_one_is_not(
    sessions: async_sessionmaker[AsyncSession], migrated: str, kind: Kind
) -> None:
    await insert(sessions, kind.table, [kind.row("r", T0 - timedelta(minutes=1))])
    a = claimer(sessions, migrated, "a", kind)
    b = claimer(sessions, migrated, "b", kind)

    assert await a.claim(T0, 10) == ["r"]
    assert await b.claim(T0, 10) == []
    assert await b.next_due() == T0 + LEASE  # the row is a's until then, however long ago it fell due
    assert await b.claim(T0 + LEASE - TICK, 10) == []

    # a crashed: at the end of its lease the row is b's.
    assert await b.claim(T0 + LEASE, 10) == ["r"]
    assert (await claim_columns(sessions, kind.table))["r"] == ("b", T0 + 2 * LEASE)
    await a.release(["r"])  # a late release from a leaves b's claim alone
    assert (await claim_columns(sessions, kind.table))["r"] == ("b", T0 + 2 * LEASE)
    assert await a.claim(T0 + LEASE, 10) == []

    # b gives the row back (a shutdown): a takes it at once, without waiting for the lease.
    await b.release(["r"])
    assert (await claim_columns(sessions, kind.table))["r"] == (None, None)
    assert await a.claim(T0 + LEASE, 10) == ["r"]


async def test_rows_in_other_states_are_never_claimed(
    sessions: async_sessionmaker[AsyncSession], migrated: str, kind: Kind
) -> None:
    long_ago = T0 - timedelta(days=30)
    await insert(
        sessions,
        kind.table,
        [kind.row(f"{state}-{i}", long_ago, state) for state in kind.done for i in range(3)]
        + [kind.row("pending", T0 - timedelta(minutes=1))]
        # A pending row without a due time (a delivery not scheduled yet) is not due.
        + ([kind.row("no-due", None)] if kind.table.c[kind.due].nullable else []),
    )
    a = claimer(sessions, migrated, "a", kind)
    assert await a.next_due() == T0 - timedelta(minutes=1)
    assert await a.claim(T0 + timedelta(days=365), 100) == ["pending"]
    assert await a.claim(T0 + timedelta(days=365), 100) == []

    # Handled while claimed: a release keeps who handled it.
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(kind.table).where(kind.table.c.id == "pending").values({kind.state: kind.done[0]})
        )
    await a.release(["pending"])
    stored = await claim_columns(sessions, kind.table)
    assert stored.pop("pending") == ("a", T0 + timedelta(days=365) + LEASE)
    assert set(stored.values()) == {(None, None)}
    assert await a.next_due() is None


async def test_a_filter_narrows_claims_and_the_next_due_time(
    sessions: async_sessionmaker[AsyncSession], migrated: str
) -> None:
    await insert(
        sessions,
        timers,
        [
            timer_row("reminder", T0 - timedelta(hours=2), kind="reminder"),
            timer_row("breach", T0 - timedelta(hours=1), kind="breach"),
            timer_row("breach-later", T0 + timedelta(minutes=1), kind="breach"),
        ],
    )
    a = claimer(sessions, migrated, "a")
    breaches = timers.c.kind == "breach"
    assert await a.next_due(where=breaches) == T0 - timedelta(hours=1)
    assert await a.claim(T0, 10, where=breaches) == ["breach"]
    assert await a.next_due(where=breaches) == T0 + timedelta(minutes=1)
    assert await a.next_due() == T0 - timedelta(hours=2)
    assert await a.claim(T0, 10) == ["reminder"]


async def test_next_due_is_none_without_pending_rows(sessions: async_sessionmaker[AsyncSession], migrated: str) -> None:
    assert await claimer(sessions, migrated, "a").next_due() is None


def test_sqlite_without_update_returning_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    sessions = async_sessionmaker[AsyncSession]()
    with pytest.raises(RuntimeError, match=r"3\.35"):
        Claims(sessions, timers, due="fire_at", state="state", owner="a", lease=LEASE, sqlite=True)
    Claims(sessions, timers, due="fire_at", state="state", owner="a", lease=LEASE, sqlite=False)
