"""Our outgoing webhooks, signed per the Standard Webhooks specification
(https://www.standardwebhooks.com/).

Each notice is one POST: headers `webhook-id` (the delivery id, so a receiver drops a retried
duplicate), `webhook-timestamp` (integer seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the secret being the base64
after `whsec_`); body `{"type", "timestamp", "data"}`.

Answers: 2xx delivered; 410 Gone permanent (the receiver asks us to stop); 429 temporary with
its Retry-After; 408 and 5xx temporary; any other 3xx/4xx permanent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from cqm_shared.clock import Clock
from notification.adapters.channels.base import (
    DeliveryFailed,
    Outgoing,
    epoch_seconds,
    http_status_failure,
    resolve_secret,
    transport_failure,
)
from notification.domain.policy import WebhookSettings

SECRET_PREFIX = "whsec_"


def webhook_key(secret: str) -> bytes:
    """The signing key of a `whsec_…` secret (the prefix is optional, as in the reference library)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from error
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes (24 base64 characters)")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def payload(message: Outgoing, now: datetime) -> dict[str, Any]:
    data = {"subject": message.subject, "body": message.body, "urgent": message.urgent, **message.data}
    return {"type": message.data.get("event_type") or "notification", "timestamp": now.isoformat(), "data": data}


class WebhookSender:
    def __init__(
        self,
        settings: WebhookSettings,
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = name or settings.url
        secret = resolve_secret(settings.secret, settings.secret_env, f"webhook {self.name}", environ)
        if secret is None:
            raise ValueError(f"webhook {self.name}: needs a whsec_ secret (`secret_env` or `secret`)")
        try:
            self._key = webhook_key(secret)
        except ValueError as error:
            raise ValueError(f"webhook {self.name}: {error}") from None
        self._clock = clock
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """One POST per notice, in order; on a failure, DeliveryFailed.sent names those delivered."""
        sent: list[str] = []
        for message in messages:
            try:
                await self._post(message)
            except DeliveryFailed as failure:
                raise failure.after(sent, message.id) from failure.__cause__
            sent.append(message.id)

    async def _post(self, message: Outgoing) -> None:
        now = self._clock.now()
        timestamp = epoch_seconds(now)
        # default=str: dates, UUIDs and decimals among the facts go as their text
        body = json.dumps(payload(message, now), ensure_ascii=False, separators=(",", ":"), default=str).encode()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, message.id, timestamp, body),
        }
        try:
            response = await self._client.post(
                self.settings.url, content=body, headers=headers, timeout=self.settings.timeout
            )
        except httpx.RequestError as error:
            raise transport_failure(error) from error
        failure = http_status_failure(response, now)
        if failure is not None:
            failure.reason = f"webhook {self.name}: {failure.reason}"
            raise failure

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
