"""Deliveries (投递): one notice to one recipient on one channel, and its log. Pure: no I/O.

Addressing turns the recipients a route chose (person ids, `role:<r>`, `department:<d>`,
`department_head:<d>`, `director:<d>`) into people of the factory's directory and their
channels; an address that names nobody stays a shared in-app inbox, never dropped. An in-app
notice is delivered when it is written; e-mail, robots and webhooks wait for the delivery
worker, respecting quiet hours and the daily digest, and are retried with backoff until they
are delivered or given up (`notification.failed`), never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from cqm_shared.domain import Aggregate, DomainEvent, InvalidTransition
from notification.domain.policy import DeliveryPolicy, NotificationPolicy, Person, QuietHours, RouteRule

_IDS = uuid.UUID("5f3c2a61-8d0e-4b7a-9c61-2f0a6e1d9b44")  # the ids in-app notices always had


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WEBHOOK = "webhook"


ROBOTS = frozenset({Channel.WECOM, Channel.DINGTALK, Channel.FEISHU})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after the policy's attempts, or refused for good


def delivery_id(event_id: str, recipient: str, channel: Channel) -> str:
    """Derived from (event, recipient, channel): a replay names the same rows."""
    return str(uuid.uuid5(_IDS, f"{event_id}/{recipient}/{channel.value}"))


@dataclass(frozen=True)
class Address:
    """Where one notice goes: the recipient as the log names it, the channel and its target."""

    recipient: str
    channel: Channel
    locale: str  # zh, en or both
    target: str | None = None  # e-mail address, robot or webhook name
    person: Person | None = None


def people_at(address: str, policy: NotificationPolicy) -> list[Person]:
    """The people of the directory an address names (none: it stays a shared inbox)."""
    found = policy.person(address)
    if found is not None:
        return [found]
    kind, _, name = address.partition(":")
    match kind:
        case "role":
            return [p for p in policy.people if name in p.roles]
        case "department":
            return [p for p in policy.people if name in p.departments]
        case "department_head":
            return [p for p in policy.people if name in p.heads]
        case "director":
            return [p for p in policy.people if name in p.directs]
    return []


def addresses(recipient: str, rule: RouteRule | None, policy: NotificationPolicy) -> list[Address]:
    """The in-app notices and person channels for one recipient a route chose."""
    channels = rule.channels if rule is not None else ["in_app", "preferred"]
    people = people_at(recipient, policy)
    out: list[Address] = []
    if not people:
        return [Address(recipient, Channel.IN_APP, "both")] if "in_app" in channels else []
    for person in people:
        if "in_app" in channels:
            out.append(Address(person.id, Channel.IN_APP, person.locale, person=person))
        wants_email = "email" in channels or ("preferred" in channels and "email" in person.channels)
        if wants_email and person.email:
            out.append(Address(person.id, Channel.EMAIL, person.locale, target=person.email, person=person))
    return out


def group_addresses(rule: RouteRule | None, policy: NotificationPolicy) -> list[Address]:
    """A rule's robots and webhooks: one message per event to each group, not per person."""
    out: list[Address] = []
    for channel in rule.channels if rule is not None else []:
        kind, _, name = channel.partition(":")
        if kind == "robot":
            robot = policy.robots[name]
            out.append(Address(f"robot:{name}", Channel(robot.kind), robot.locale, target=name))
        elif kind == "webhook":
            out.append(Address(f"webhook:{name}", Channel.WEBHOOK, "both", target=name))
    return out


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def quiet_until(at: datetime, hours: QuietHours | None, zone: str) -> datetime | None:
    """When quiet hours around `at` end (None: `at` is not in quiet hours)."""
    if hours is None:
        return None
    local = _local(at, zone)
    if not hours.covers(local.time().replace(tzinfo=None)):
        return None
    end = local.replace(hour=hours.end.hour, minute=hours.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(at.tzinfo)


def next_local(at: datetime, moment: time, zone: str) -> datetime:
    """The next `moment` (factory local time) at or after `at`."""
    local = _local(at, zone)
    candidate = local.replace(hour=moment.hour, minute=moment.minute, second=0, microsecond=0)
    if candidate < local:
        candidate += timedelta(days=1)
    return candidate.astimezone(at.tzinfo)


def first_attempt(address: Address, urgent: bool, at: datetime, policy: DeliveryPolicy) -> tuple[datetime, bool]:
    """When an external delivery is first tried, and whether it waits for the daily digest.

    Urgent notices go at once. A person who chose the digest gets non-urgent e-mail once a day;
    otherwise quiet hours (the person's, else the factory's) hold it until they end."""
    if urgent:
        return at, False
    person = address.person
    if person is not None and person.digest and address.channel is Channel.EMAIL:
        return next_local(at, policy.digest_at, policy.timezone), True
    hours = person.quiet_hours if person is not None and person.quiet_hours else policy.quiet_hours
    return quiet_until(at, hours, policy.timezone) or at, False


def backoff(attempts: int, policy: DeliveryPolicy) -> timedelta:
    """The wait after the n-th failed attempt: doubling from the first, capped."""
    wait: timedelta = policy.backoff_first * (2 ** max(0, attempts - 1))
    return min(policy.backoff_cap, wait)


@dataclass(frozen=True, kw_only=True)
class Delivered(DomainEvent):
    action: ClassVar[str] = "deliver"
    delivery: DeliveryFacts


@dataclass(frozen=True, kw_only=True)
class AttemptFailed(DomainEvent):
    action: ClassVar[str] = "retry"
    delivery: DeliveryFacts
    error: str
    retry_at: datetime


@dataclass(frozen=True, kw_only=True)
class GaveUp(DomainEvent):
    action: ClassVar[str] = "give_up"
    delivery: DeliveryFacts
    error: str


@dataclass(frozen=True, kw_only=True)
class Postponed(DomainEvent):
    action: ClassVar[str] = "postpone"
    delivery: DeliveryFacts
    until: datetime


@dataclass(frozen=True)
class DeliveryFacts:
    """What `notification.delivered` / `notification.failed` tell of a delivery."""

    id: str
    number: str
    factory: str
    event_id: str
    event_type: str
    recipient_role: str
    recipient: str
    channel: Channel
    target: str | None
    status: DeliveryStatus
    attempts: int
    urgent: bool
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


@dataclass
class Delivery(Aggregate):
    """One notice to one recipient on one channel: the delivery log's row."""

    entity: ClassVar[str] = "delivery"

    id: str
    number: str
    factory: str
    event_id: str
    event_type: str
    recipient_role: str
    recipient: str
    channel: Channel
    locale: str
    urgent: bool
    subject: str
    body: str
    status: DeliveryStatus
    created_at: datetime
    target: str | None = None
    digest: bool = False
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    version: int = 1

    @property
    def identity(self) -> str:
        return self.id

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {
            "delivery": self.id,
            "recipient": self.recipient,
            "channel": self.channel.value,
            "status": self.status.value,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }

    def facts(self) -> DeliveryFacts:
        return DeliveryFacts(
            id=self.id,
            number=self.number,
            factory=self.factory,
            event_id=self.event_id,
            event_type=self.event_type,
            recipient_role=self.recipient_role,
            recipient=self.recipient,
            channel=self.channel,
            target=self.target,
            status=self.status,
            attempts=self.attempts,
            urgent=self.urgent,
            created_at=self.created_at,
            delivered_at=self.delivered_at,
            last_error=self.last_error,
        )

    def _require_pending(self, action: str) -> None:
        if self.status is not DeliveryStatus.PENDING:
            raise InvalidTransition(self.entity, self.id, self.status.value, action, "the delivery is settled")

    def delivered(self, at: datetime, how: str = "") -> None:
        self._require_pending("deliver")
        before = self.snapshot()
        self.status, self.delivered_at, self.attempts = DeliveryStatus.DELIVERED, at, self.attempts + 1
        self.last_error, self.next_attempt_at = None, None
        self.record(
            Delivered(at=at, reason=how or f"delivered on {self.channel.value}", delivery=self.facts()), before=before
        )

    def failed(
        self, at: datetime, error: str, *, permanent: bool, policy: DeliveryPolicy, retry_after: timedelta | None = None
    ) -> None:
        """A failed attempt: retried after a backoff (or the platform's `retry_after`), or given up
        when refused for good or out of attempts."""
        self._require_pending("retry")
        before = self.snapshot()
        self.attempts += 1
        self.last_error = error[:2000]
        if permanent or self.attempts >= policy.max_attempts:
            self.status, self.failed_at, self.next_attempt_at = DeliveryStatus.FAILED, at, None
            self.record(
                GaveUp(
                    at=at,
                    reason=f"given up after {self.attempts} attempts",
                    delivery=self.facts(),
                    error=self.last_error,
                ),
                before=before,
            )
            return
        self.next_attempt_at = at + max(retry_after or timedelta(0), backoff(self.attempts, policy))
        self.record(
            AttemptFailed(
                at=at,
                reason=f"attempt {self.attempts} failed",
                delivery=self.facts(),
                error=self.last_error,
                retry_at=self.next_attempt_at,
            ),
            before=before,
        )

    def postpone(self, at: datetime, until: datetime, why: str) -> None:
        """Not tried now (a robot's send budget is spent): no attempt is counted."""
        self._require_pending("postpone")
        before = self.snapshot()
        self.next_attempt_at = until
        self.record(Postponed(at=at, reason=why, delivery=self.facts(), until=until), before=before)


def in_app_notices(deliveries: Iterable[Delivery]) -> list[Delivery]:
    return [d for d in deliveries if d.channel is Channel.IN_APP]
