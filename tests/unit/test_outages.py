"""Outage or failure of the work itself (issue 8): what waits, what retries, what is logged."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import aiormq.exceptions
import pytest
from sqlalchemy import exc as sa_exc

from cqm_shared.outages import Backoff, DatabaseGate, OutageLog, ShuttingDown, cause, is_outage
from tests.helpers import wait_for


def wrapped(inner: BaseException) -> BaseException:
    """As SQLAlchemy raises a DBAPI error: its own class, the driver's error as `orig`."""
    return sa_exc.OperationalError("SELECT 1", {}, inner)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        wrapped(sqlite3.OperationalError("database is locked")),
        sa_exc.TimeoutError("QueuePool limit reached"),
        aiormq.exceptions.AMQPConnectionError("closed"),
        aiormq.exceptions.ChannelInvalidStateError("<Channel object at 0x7f>"),
    ],
)
def test_unreachable_servers_are_outages(error: BaseException) -> None:
    assert is_outage(error)


def test_an_outage_is_found_behind_the_exceptions_that_wrap_it() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("publish failed") from inner
    except RuntimeError as outer:
        assert is_outage(outer)
        assert cause(outer) == "ConnectionResetError: [Errno 104] Connection reset by peer"


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad data"),
        sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        wrapped(sqlite3.OperationalError("no such table: cases")),  # a broken deployment, not an outage
        FileNotFoundError(2, "No such file"),
        KeyError("factory"),
    ],
)
def test_failures_of_the_work_itself_are_not_outages(error: BaseException) -> None:
    assert not is_outage(error)


def test_a_cause_never_names_a_channel_object() -> None:
    assert cause(aiormq.exceptions.ChannelInvalidStateError("<Channel: 1 object at 0x7f00>")) == (
        "ChannelInvalidStateError: connection closed"
    )


def test_backoff_grows_to_its_cap_with_jitter_and_starts_over_after_reset() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    delays = [backoff.next() for _ in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) > 1  # jittered
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog("database", logging.getLogger("test.outage"))
    with caplog.at_level(logging.WARNING, "test.outage"):
        for _ in range(50):
            outage.failed(ConnectionRefusedError(111, "refused"), "holding messages")
        outage.recovered("going on")
        outage.recovered("going on")  # nothing to report: no outage
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0] == "database unavailable (ConnectionRefusedError: [Errno 111] refused); holding messages"
    assert messages[1].startswith("database available again after") and "(50 failed attempts)" in messages[1]


async def test_the_gate_holds_waiters_until_the_database_answers() -> None:
    answers = [ConnectionRefusedError(111, "refused"), ConnectionRefusedError(111, "refused"), None]
    pings = 0
    probe_failed = asyncio.Event()

    async def ping() -> None:
        nonlocal pings
        pings += 1
        answer = answers.pop(0)
        if answer is not None:
            probe_failed.set()
            raise answer

    gate = DatabaseGate(ping, first=0.01, cap=0.02)
    await gate.passable()  # open: returns at once
    gate.lost(ConnectionRefusedError(111, "refused"))
    gate.lost(ConnectionRefusedError(111, "refused"))  # a second consumer: still one probe
    waiter = asyncio.ensure_future(gate.passable())
    await asyncio.wait_for(probe_failed.wait(), timeout=2)  # the probe ran and the database refused
    assert not waiter.done()
    await asyncio.wait_for(waiter, timeout=2)
    assert gate.is_open and pings == 3


async def test_stopping_releases_waiters_with_shutting_down() -> None:
    async def never(_: None = None) -> None:
        raise ConnectionRefusedError(111, "refused")

    gate = DatabaseGate(never, first=0.01, cap=0.02)
    gate.lost(ConnectionRefusedError(111, "refused"))
    waiter = asyncio.ensure_future(gate.passable())

    async def probe_at_work() -> bool:
        return gate.outage.failures >= 3

    await wait_for(probe_at_work, timeout=2, interval=0.005)
    assert not waiter.done()
    await gate.shutdown()
    with pytest.raises(ShuttingDown):
        await waiter
    with pytest.raises(ShuttingDown):
        await gate.passable()
