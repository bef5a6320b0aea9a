"""The port every delivery channel implements, and what the adapters share.

A channel takes `Outgoing` notices and either delivers them or raises `DeliveryFailed`, which
says whether a retry can help (`permanent`) and how long the far side asked us to wait
(`retry_after`). The retry schedule itself is the caller's (DeliveryPolicy), never a channel's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from notification.service.ports import Outgoing as Outgoing  # the port's message, one type end to end

# Platforms whose answer carries no Retry-After but says "too fast" are retried after a minute:
# their limits are counted per minute (about 20 messages a minute per group).
RATE_LIMIT_WAIT = 60.0

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(now: datetime) -> int:
    return (now - EPOCH) // timedelta(seconds=1)


def epoch_milliseconds(now: datetime) -> int:
    return (now - EPOCH) // timedelta(milliseconds=1)


class DeliveryFailed(Exception):
    """A send that did not (fully) get through.

    `permanent`: retrying cannot help (bad address, key or signature, a 4xx other than 429,
    an SMTP 5xx). `retry_after`: seconds the far side asked us to wait (429 Retry-After, a
    platform's rate-limit code). `sent`: ids of the notices of the same call delivered before
    the failure; `failed`: the id of the notice that failed (None when the whole call failed
    before any notice, e.g. the SMTP connection or login).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        sent: Sequence[str] = (),
        failed: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.sent: list[str] = list(sent)
        self.failed = failed

    def after(self, sent: Sequence[str], failed: str | None) -> DeliveryFailed:
        """The same failure, told with what got through before it."""
        again = DeliveryFailed(
            self.reason, permanent=self.permanent, retry_after=self.retry_after, sent=sent, failed=failed
        )
        again.__cause__ = self.__cause__
        return again

    def __str__(self) -> str:
        kind = "permanent" if self.permanent else "temporary"
        wait = f", retry after {self.retry_after:g}s" if self.retry_after is not None else ""
        return f"{self.reason} ({kind}{wait})"


class Sender(Protocol):
    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Deliver the notices or raise DeliveryFailed."""
        ...


def resolve_secret(
    secret: str | None, secret_env: str | None, what: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The secret itself, or the value of the environment variable named for it."""
    if secret is not None and secret_env is not None:
        raise ValueError(f"{what}: set `secret` or `secret_env`, not both")
    if secret_env is None:
        return secret or None
    value = (os.environ if environ is None else environ).get(secret_env)
    if not value:
        raise ValueError(f"{what}: environment variable {secret_env} (named by `secret_env`) is not set")
    return value


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def http_status_failure(response: httpx.Response, now: datetime) -> DeliveryFailed | None:
    """The failure an HTTP status means, None for 2xx. The platform's own codes come after.

    429 and 408 (the server timed out waiting for us): temporary, 429 with its Retry-After;
    5xx: temporary; 410 Gone and every other 3xx/4xx: permanent (the address, key or request
    is wrong; retrying sends the same request again). Redirects are not followed: a robot's or
    webhook's address that moved is a configuration to fix.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    reason = f"HTTP {status} from {response.request.url.host}"
    if status == 429:
        return DeliveryFailed(reason, retry_after=parse_retry_after(response.headers.get("retry-after"), now))
    if status == 408 or status >= 500:
        return DeliveryFailed(reason)
    return DeliveryFailed(reason, permanent=True)


def transport_failure(error: httpx.RequestError) -> DeliveryFailed:
    """Timeouts, refused connections, resets: the far side may be back soon."""
    failure = DeliveryFailed(f"{type(error).__name__}: {error}".rstrip(": "))
    failure.__cause__ = error
    return failure
