"""Hostile input at the door: content type (415) and request rate (429).

The body size limit (413) is FastAPI's own `max_body_size` (Starlette's body-limit
middleware), which also cuts off chunked bodies while they arrive.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from cqm_shared.problems import problem

WRITE_METHODS = {"POST", "PUT", "PATCH"}
EXEMPT_PREFIXES = ("/health/", "/metrics", "/docs", "/redoc", "/openapi.json", "/asyncapi.json")


class TokenBuckets:
    """Per-client token buckets, bounded in memory (least recently seen clients dropped)."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 if the request may pass, else seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - stamp) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait


def _client_key(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    credential = headers.get(b"authorization") or headers.get(b"x-api-key")
    if credential:
        return "cred:" + hashlib.sha256(credential).hexdigest()[:24]
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_per_minute: int,
        burst: int,
        body_types: Iterable[str] = ("application/json", "multipart/form-data"),
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate_per_minute, burst)
        self.body_types = tuple(body_types)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(_client_key(scope))
        if wait > 0:
            response = problem(429, "Too Many Requests", "Request rate limit exceeded; retry later.")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            await response(scope, receive, send)
            return
        if scope["method"] in WRITE_METHODS:
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
            has_body = length not in (None, b"0") or b"chunked" in headers.get(b"transfer-encoding", b"")
            if has_body and not media_type.endswith(self.body_types):
                await problem(415, "Unsupported Media Type", f"Send the body as {' or '.join(self.body_types)}.")(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)
