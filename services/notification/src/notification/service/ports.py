"""What the delivery use cases need from the outside world (the adapters implement them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel sends it."""

    id: str  # the delivery id (a digest: derived from its deliveries): the receiver's idempotency key
    subject: str
    body: str
    address: str | None = None  # the e-mail address; None for robots and webhooks
    urgent: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)  # facts for a webhook's JSON


class SendFailed(Exception):
    """A send did not go through: `permanent` when retrying cannot help; `retry_after` (seconds)
    when the receiver said when to come back; `sent` the ids that got through before it failed."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, sent: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.sent = list(sent)


class Sender(Protocol):
    def batches(self, messages: Sequence[Outgoing]) -> list[list[Outgoing]]:
        """The messages grouped as the channel sends them (a robot joins several into one post)."""
        ...

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Send one batch; raises SendFailed."""
        ...


class Senders(Protocol):
    def sender(self, factory: str, channel: str, target: str | None) -> Sender:
        """The factory's sender for a channel (and robot or webhook name); LookupError if not configured."""
        ...


class SendBudget(Protocol):
    async def take(self, target: str, now: datetime, per_minute: int) -> datetime | None:
        """Use one send of `target`'s budget for the minute: None when granted, else when to try again."""
        ...
