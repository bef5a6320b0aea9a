"""Notifications (通知). Pure: no I/O.

A `Dispatch` is what one consumed event made notification send: one notice per recipient,
on one channel. In-app is the only channel yet: an in-app notice is delivered when its
dispatch commits (the stored row is the delivery). Every dispatch is audited: who, the
recipients, the channel, and why (the event's type and id).

What notification reads of other services' events is kept in its own terms
(`ComplaintSummary`, `CaseOpened`): only what its messages say, translated from the public
payloads at the edge (entrypoints/consumers.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent

# Notification ids are derived from (event, recipient, channel): a replay names the same rows.
_IDS = uuid.UUID("5f3c2a61-8d0e-4b7a-9c61-2f0a6e1d9b44")


class Channel(StrEnum):
    IN_APP = "in_app"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"


@dataclass(frozen=True)
class ComplaintSummary:
    """What notification tells of a registered complaint."""

    number: str
    factory: str
    company: str
    product: str  # part number, else model
    phenomenon: str
    batch_return: bool = False


@dataclass(frozen=True)
class Deadline:
    milestone: str
    due_at: datetime


@dataclass(frozen=True)
class CaseOpened:
    """What notification tells of a newly opened investigation."""

    number: str
    factory: str
    deadlines: tuple[Deadline, ...]


@dataclass(frozen=True)
class Cause:
    """The consumed event a dispatch answers."""

    event_id: str
    event_type: str


@dataclass(frozen=True)
class Notice:
    """What to tell whom (before it is sent on a channel)."""

    recipient_role: str
    recipient: str
    subject: str
    body: str
    urgent: bool = False


@dataclass(frozen=True)
class Notification:
    """A notice as sent to one recipient on the dispatch's channel."""

    id: str
    recipient_role: str
    recipient: str
    urgent: bool
    subject: str
    body: str
    status: DeliveryStatus
    delivered_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Notified(DomainEvent):
    action: ClassVar[str] = "notify"
    event_id: str
    event_type: str
    number: str
    factory: str
    channel: Channel
    recipients: tuple[str, ...]


@dataclass
class Dispatch(Aggregate):
    """The notices one event caused, on one channel. Written once (never updated yet)."""

    entity: ClassVar[str] = "notification"

    event_id: str
    event_type: str
    number: str
    factory: str
    channel: Channel
    created_at: datetime
    notifications: tuple[Notification, ...]
    version: int = 0

    @property
    def identity(self) -> str:
        return self.event_id

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "channel": self.channel.value,
            "recipients": [n.recipient for n in self.notifications],
            "urgent": [n.recipient for n in self.notifications if n.urgent],
        }

    def to(self, recipient: str | None) -> tuple[Notification, ...]:
        """The notifications addressed to `recipient` (all of them when None)."""
        return tuple(n for n in self.notifications if recipient is None or n.recipient == recipient)

    @classmethod
    def in_app(
        cls, cause: Cause, number: str, factory: str, notices: list[Notice], *, at: datetime, reason: str
    ) -> Dispatch:
        """In-app notices: delivered when the dispatch commits."""
        channel = Channel.IN_APP
        dispatch = cls(
            event_id=cause.event_id,
            event_type=cause.event_type,
            number=number,
            factory=factory,
            channel=channel,
            created_at=at,
            notifications=tuple(
                Notification(
                    id=str(uuid.uuid5(_IDS, f"{cause.event_id}/{n.recipient}/{channel.value}")),
                    recipient_role=n.recipient_role,
                    recipient=n.recipient,
                    urgent=n.urgent,
                    subject=n.subject,
                    body=n.body,
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=at,
                )
                for n in notices
            ),
        )
        dispatch.record(
            Notified(
                at=at,
                reason=reason,
                event_id=cause.event_id,
                event_type=cause.event_type,
                number=number,
                factory=factory,
                channel=channel,
                recipients=tuple(n.recipient for n in notices),
            ),
            before=None,
        )
        return dispatch
