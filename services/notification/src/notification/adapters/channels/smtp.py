"""E-mail through the factory's SMTP relay (aiosmtplib).

One connection per `send`, one message per notice. The Message-ID comes from the delivery id,
so a retried send carries the same id and mail clients and archives see one message.

Answers: SMTP 5xx (recipient refused, authentication failed, message rejected) are
permanent; 4xx (greylisting, mailbox busy), timeouts, refused connections and TLS failures
are temporary.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from cqm_shared.clock import Clock, SystemClock
from notification.adapters.channels.base import DeliveryFailed, Outgoing
from notification.domain.policy import EmailSettings

SENDER_NAME = "客诉质量管理 CQM"
_ATOM = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


def message_id(delivery_id: str, domain: str) -> str:
    """`<id@domain>`: the delivery id itself when it is a plain token, else its digest."""
    local = delivery_id if _ATOM.fullmatch(delivery_id) else hashlib.sha256(delivery_id.encode()).hexdigest()[:40]
    return f"<{local}.cqm@{domain}>"


def _failure(error: Exception) -> DeliveryFailed:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return DeliveryFailed(f"SMTP recipient refused: {text}", permanent=all(c >= 500 for c in codes))
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(f"SMTP {error.code} {error.message}", permanent=error.code >= 500)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        # e.g. security=starttls and the server offers no STARTTLS: a configuration to fix
        return DeliveryFailed(f"SMTP: {error.message}", permanent=True)
    if isinstance(error, ValueError) and not isinstance(error, OSError):  # ssl's verify error is both
        return DeliveryFailed(f"e-mail address cannot be sent to: {error}", permanent=True)
    return DeliveryFailed(f"SMTP {type(error).__name__}: {error}")


class SmtpSender:
    def __init__(
        self,
        settings: EmailSettings,
        password: str | None = None,
        *,
        clock: Clock | None = None,
        cert_bundle: str | None = None,
    ) -> None:
        """`cert_bundle`: a CA file to trust besides the system's (a relay with a private CA)."""
        if settings.username and password is None:
            raise ValueError(f"SMTP user {settings.username} has no password (set `password_env`)")
        self.settings = settings
        self._password = password
        self._clock = clock or SystemClock()
        self._cert_bundle = cert_bundle
        self._domain = settings.sender.rpartition("@")[2]

    def message(self, notice: Outgoing) -> EmailMessage:
        if not notice.address:
            raise ValueError(f"notice {notice.id} has no e-mail address")
        message = EmailMessage()
        message["Subject"] = notice.subject
        message["From"] = Address(SENDER_NAME, addr_spec=self.settings.sender)
        message["To"] = notice.address
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = message_id(notice.id, self._domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
        if notice.urgent:
            message["X-Priority"] = "1"
            message["Importance"] = "high"
        # base64: Chinese text through any relay, 8BITMIME or not
        message.set_content(notice.body, charset="utf-8", cte="base64")
        return message

    def _client(self) -> aiosmtplib.SMTP:
        security = self.settings.security
        return aiosmtplib.SMTP(
            hostname=self.settings.host,
            port=self.settings.port,
            use_tls=security == "tls",
            start_tls=False,  # STARTTLS below, when configured: required then, never opportunistic
            validate_certs=self.settings.validate_certs,
            cert_bundle=self._cert_bundle,
            timeout=self.settings.timeout,
        )

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """One e-mail per notice over one connection; on a failure DeliveryFailed.sent names
        the notices delivered before it."""
        if not messages:
            return
        built = [(notice.id, self.message(notice)) for notice in messages]
        client = self._client()
        try:
            await client.connect()
            if self.settings.security == "starttls":
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    # a configuration to fix, not a passing fault: never send in the clear instead
                    raise aiosmtplib.SMTPNotSupported("the relay does not offer STARTTLS")
                await client.starttls()
            if self.settings.username:
                await client.login(self.settings.username, self._password or "")
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:  # ssl.SSLError is an OSError
            client.close()
            raise _failure(error) from error
        sent: list[str] = []
        try:
            for delivery_id, message in built:
                try:
                    await client.send_message(message)
                except (aiosmtplib.SMTPException, OSError, ValueError) as error:
                    raise _failure(error).after(sent, delivery_id) from error
                sent.append(delivery_id)
        finally:
            await _quit(client)

    async def aclose(self) -> None:
        """Nothing held between sends."""


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError):
        client.close()
