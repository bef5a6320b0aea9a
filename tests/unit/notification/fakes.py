"""Notification's unit of work in memory, and in-memory stand-ins for its claims, senders and budget."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cqm_shared.uow import MemoryRepository, MemoryStore, MemoryUnitOfWork
from notification.domain.deliveries import Channel, Delivery, DeliveryStatus
from notification.domain.inbox import ReadMark
from notification.domain.model import Dispatch
from notification.domain.timers import DeadlineKey, Timer, TimerState, Track, open_deadlines
from notification.service.ports import Outgoing, SendFailed
from notification.service.unit_of_work import (
    DeliveryRepository,
    DispatchRepository,
    InboxItem,
    NotificationUnitOfWork,
    OpenDeadline,
    ReadMarkRepository,
    TimerRepository,
    TrackRepository,
)


class MemoryDispatches(MemoryRepository[Dispatch], DispatchRepository):
    table_name = "dispatches"

    def _current(self, d: Dispatch) -> Dispatch:
        """A dispatch with its deliveries as they are now (they change on their own)."""
        rows = self.table("deliveries")
        return replace(d, deliveries=tuple(copy.deepcopy(rows.get(x.id, x)) for x in d.deliveries))

    async def get(self, identity: str) -> Dispatch | None:
        found = await super().get(identity)
        return found

    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        found = [
            self._current(d)
            for d in self.rows.values()
            if d.number == number and (factories is None or d.factory in factories)
        ]
        if recipient is not None:
            found = [replace(d, deliveries=d.to(recipient)) for d in found]
            found = [d for d in found if d.deliveries]
        return sorted(found, key=lambda d: d.created_at)

    async def _insert(self, aggregate: Dispatch) -> None:
        await super()._insert(aggregate)
        staged = self._staged.setdefault("deliveries", {})
        for d in aggregate.deliveries:
            kept = copy.deepcopy(d)
            kept.pull_changes()
            staged[d.id] = kept


class MemoryDeliveries(MemoryRepository[Delivery], DeliveryRepository):
    table_name = "deliveries"

    async def get_many(self, ids: Sequence[str]) -> list[Delivery]:
        return [d for i in ids for d in [await self.get(i)] if d is not None]

    def _inbox(self, addresses: Collection[str], reader: str, factories: frozenset[str] | None) -> list[InboxItem]:
        marks = self.table("reads")
        out = []
        for d in self.rows.values():
            if (
                d.channel is Channel.IN_APP
                and d.recipient in addresses
                and (factories is None or d.factory in factories)
            ):
                mark = marks.get(f"{d.id}/{reader}")
                out.append(InboxItem(copy.deepcopy(d), mark.read_at if mark else None))
        return sorted(out, key=lambda i: (i.delivery.created_at, i.delivery.id), reverse=True)

    async def inbox(
        self,
        addresses: Collection[str],
        reader: str,
        factories: frozenset[str] | None,
        *,
        unread_only: bool = False,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[InboxItem]:
        items = self._inbox(addresses, reader, factories)
        items = [
            i for i in items if not (unread_only and i.read_at) and (before is None or i.delivery.created_at < before)
        ]
        return items[:limit]

    async def unread(self, addresses: Collection[str], reader: str, factories: frozenset[str] | None) -> int:
        return sum(1 for i in self._inbox(addresses, reader, factories) if i.read_at is None)


class MemoryReads(MemoryRepository[ReadMark], ReadMarkRepository):
    table_name = "reads"

    async def get(self, notification_id: str, reader: str = "") -> ReadMark | None:
        return await super().get(f"{notification_id}/{reader}")


class MemoryTracks(MemoryRepository[Track], TrackRepository):
    table_name = "tracks"


class MemoryTimers(MemoryRepository[Timer], TimerRepository):
    table_name = "timers"

    async def of_track(self, track: str) -> list[Timer]:
        found = [t for t in self.rows.values() if t.track == track]
        return [x for t in sorted(found, key=lambda t: t.fire_at) for x in [self._track(copy.deepcopy(t))] if x]

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Timer]:
        found = [t for t in self.rows.values() if t.number == number and (factories is None or t.factory in factories)]
        return sorted((copy.deepcopy(t) for t in found), key=lambda t: (t.fire_at, t.level))

    async def open_deadlines(
        self,
        factories: frozenset[str] | None,
        *,
        number: str | None = None,
        after: DeadlineKey | None = None,
        limit: int = 50,
    ) -> list[OpenDeadline]:
        tracks = self.table("tracks")
        found = [
            copy.deepcopy(t)
            for t in self.rows.values()
            if (factories is None or t.factory in factories) and (number is None or t.number == number)
        ]
        groups = open_deadlines(found)
        keys = sorted(k for k in groups if after is None or k > after)[:limit]
        return [
            OpenDeadline(
                k,
                sorted(groups[k], key=lambda t: (t.fire_at, t.level)),
                tracks[k.track].department if k.track in tracks else None,
            )
            for k in keys
        ]


class MemoryNotificationUnitOfWork(MemoryUnitOfWork, NotificationUnitOfWork):
    def _build_repositories(self) -> None:
        self.dispatches = MemoryDispatches(self.store, self.staged)
        self.deliveries = MemoryDeliveries(self.store, self.staged)
        self.reads = MemoryReads(self.store, self.staged)
        self.tracks = MemoryTracks(self.store, self.staged)
        self.timers = MemoryTimers(self.store, self.staged)


@dataclass
class MemoryClaims:
    """Due rows of a memory table, claimed like the SQL claims (due <= now, earliest first)."""

    store: MemoryStore
    table: str  # "timers" or "deliveries"

    async def claim(self, now: datetime, limit: int) -> list[str]:
        rows = self.store.table(self.table).values()
        if self.table == "timers":
            due = [(t.fire_at, t.id) for t in rows if t.state is TimerState.PENDING and t.fire_at <= now]
        else:
            due = [
                (d.next_attempt_at, d.id)
                for d in rows
                if d.status is DeliveryStatus.PENDING and d.next_attempt_at is not None and d.next_attempt_at <= now
            ]
        return [i for _, i in sorted(due)[:limit]]

    async def release(self, ids: Sequence[str]) -> None:
        return None

    async def next_due(self) -> datetime | None:
        return None


@dataclass
class FakeSender:
    """A channel that records what it sent and fails when told to."""

    sent: list[list[Outgoing]] = field(default_factory=list)
    failures: list[SendFailed] = field(default_factory=list)  # raised by the next sends, in order
    per_batch: int = 1  # messages joined into one post (a robot joins several)

    def batches(self, messages: Sequence[Outgoing]) -> list[list[Outgoing]]:
        return [list(messages[i : i + self.per_batch]) for i in range(0, len(messages), self.per_batch)]

    async def send(self, messages: Sequence[Outgoing]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(list(messages))


@dataclass
class FakeSenders:
    channels: dict[str, FakeSender] = field(default_factory=dict)  # "<channel>/<target>" -> sender

    def sender(self, factory: str, channel: str, target: str | None) -> FakeSender:
        key = f"{channel}/{target}" if channel != "email" else "email"
        if key not in self.channels:
            raise LookupError(f"{key} not configured")
        return self.channels[key]


@dataclass
class FakeBudget:
    """A robot's budget per minute, counted in memory."""

    spent: dict[tuple[str, datetime], int] = field(default_factory=dict)

    async def take(self, target: str, now: datetime, per_minute: int) -> datetime | None:
        window = now.replace(second=0, microsecond=0)
        used = self.spent.get((target, window), 0)
        if used >= per_minute:
            return window + timedelta(minutes=1)
        self.spent[(target, window)] = used + 1
        return None


def stored(store: MemoryStore, table: str) -> dict[str, Any]:
    return store.table(table)
