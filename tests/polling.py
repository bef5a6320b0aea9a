"""Waiting for a condition with a deadline: the one place tests and drills pause.

A test never sleeps for a fixed time and then checks that something did (or did not) happen:
it polls a probe until the condition holds and fails, naming what it waited for, at the
deadline. The interval is only the polling pace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _expired(what: str, timeout: float, value: object) -> AssertionError:
    return AssertionError(f"{what} not reached within {timeout}s (last value: {value!r})")


async def wait_for(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll until `probe` returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not value:
        if time.monotonic() > deadline:
            raise _expired(what, timeout, value)
        await asyncio.sleep(interval)
        value = await probe()
    return value


def poll_until(probe: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """`wait_for` for synchronous probes (process and server control)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value:
        if time.monotonic() > deadline:
            raise _expired(what, timeout, value)
        time.sleep(interval)
        value = probe()
    return value
