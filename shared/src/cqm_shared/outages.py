"""Telling an outage of the database or broker from a failure of the work itself.

An unreachable database is nobody's message's fault: consumers hold their messages and wait
(`DatabaseGate`), the API answers 503 with Retry-After, the relay backs off. Only what fails
on its own uses a retry budget or becomes a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator

import aiormq.exceptions
import asyncpg
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.ETIMEDOUT,
    errno.EPIPE,
}
# SQLite: another process holds the file, or the disk/file is not there to write to.
_SQLITE_OUTAGE_TEXT = ("database is locked", "unable to open database", "disk i/o error", "database or disk is full")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapped DBAPI error
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # pool exhausted or connection gone
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(exc.orig if exc.orig is not None else exc).lower()
        # PostgreSQL's OperationalErrors are connection-level; SQLite's include "no such table",
        # which is a broken deployment, not an outage to wait out.
        return "sqlite" not in type(exc.orig).__module__ or any(t in text for t in _SQLITE_OUTAGE_TEXT)
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.AdminShutdownError
        | asyncpg.TooManyConnectionsError,
    ):
        return True
    return isinstance(exc, aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a database or broker could not be reached."""
    return any(_is_outage_itself(e) for e in _chain(exc))


def cause(exc: BaseException) -> str:
    """A one-line cause for a log: the innermost error that names the outage, not a channel object."""
    found = [e for e in _chain(exc) if _is_outage_itself(e)] or [exc]
    inner = found[-1]
    text = str(inner).strip()
    if ("<" in text and "object at 0x" in text) or not text:
        text = "connection closed"
    return f"{type(inner).__name__}: {text}"[:300]


class Backoff:
    """Exponential delays with full jitter, capped: 0.5–1 × min(cap, first × 2^n)."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2.0**self.failures)
        self.failures += 1
        return ceiling * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class OutageLog:
    """Logs an outage's cause once when it starts and once when it ends, however many failures."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self._log = logger
        self.since: float | None = None
        self.failures = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, consequence: str) -> None:
        """Count a failure; the first of an outage is logged with its cause."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self._log.warning("%s unavailable (%s); %s", self.what, cause(exc), consequence)

    def recovered(self, resumed: str) -> None:
        if self.since is not None:
            self._log.warning(
                "%s available again after %.1f s (%d failed attempts); %s",
                self.what,
                time.monotonic() - self.since,
                self.failures,
                resumed,
            )
        self.since = None
        self.failures = 0


class ShuttingDown(Exception):
    """The service stops while work waits for the database: hand the message back."""


class DatabaseGate:
    """Open while the database answers. When a consumer finds it unreachable the gate closes:
    every consumer holds its message (no retry budget used, no new deliveries beyond the
    prefetch) while one probe pings with capped backoff, then reopens it."""

    def __init__(self, ping: Callable[[], Awaitable[None]], *, first: float = 0.2, cap: float = 5.0) -> None:
        self._ping = ping
        self._open = asyncio.Event()
        self._open.set()
        self._first = first
        self._cap = cap
        self._probe: asyncio.Task[None] | None = None
        self._stopping = False
        self.outage = OutageLog("database")

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def passable(self) -> None:
        """Return when the database is believed reachable; ShuttingDown if the service stops first."""
        if self._stopping:
            raise ShuttingDown
        if not self._open.is_set():
            await self._open.wait()
            if self._stopping:
                raise ShuttingDown

    def lost(self, exc: BaseException) -> None:
        self.outage.failed(exc, "consumers hold their messages until it answers")
        if self._open.is_set() and not self._stopping:
            self._open.clear()
            self._probe = asyncio.create_task(self._wait_for_database(), name="database-probe")

    async def _wait_for_database(self) -> None:
        backoff = Backoff(self._first, self._cap)
        while not self._stopping:
            await asyncio.sleep(backoff.next())
            try:
                await self._ping()
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("database probe failed unexpectedly")
                self.outage.failures += 1
                continue
            self.outage.recovered("consumers go on")
            self._open.set()
            return

    async def shutdown(self) -> None:
        """Release every waiter with ShuttingDown and stop probing."""
        self._stopping = True
        self._open.set()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
