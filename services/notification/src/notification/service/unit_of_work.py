"""The notification unit of work and the repositories it offers to use cases (ports)."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from cqm_shared.uow import Repository, UnitOfWork
from notification.domain.deliveries import Delivery
from notification.domain.inbox import ReadMark
from notification.domain.model import Dispatch
from notification.domain.timers import DeadlineKey, Timer, Track


class DispatchRepository(Repository[Dispatch], abc.ABC):
    @abc.abstractmethod
    async def get(self, event_id: str) -> Dispatch | None: ...

    @abc.abstractmethod
    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        """The complaint's dispatches, each holding only `recipient`'s deliveries when one is named."""


@dataclass(frozen=True)
class InboxItem:
    delivery: Delivery
    read_at: datetime | None


class DeliveryRepository(Repository[Delivery], abc.ABC):
    @abc.abstractmethod
    async def get(self, delivery_id: str) -> Delivery | None: ...

    @abc.abstractmethod
    async def get_many(self, ids: Sequence[str]) -> list[Delivery]:
        """The deliveries with these ids (those that exist), in the order given."""

    @abc.abstractmethod
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
        """In-app notices to any of `addresses`, newest first, with `reader`'s read mark."""

    @abc.abstractmethod
    async def unread(self, addresses: Collection[str], reader: str, factories: frozenset[str] | None) -> int: ...


class ReadMarkRepository(Repository[ReadMark], abc.ABC):
    @abc.abstractmethod
    async def get(self, notification_id: str, reader: str) -> ReadMark | None: ...


class TrackRepository(Repository[Track], abc.ABC):
    @abc.abstractmethod
    async def get(self, key: str) -> Track | None: ...


@dataclass(frozen=True)
class OpenDeadline:
    deadline: DeadlineKey
    timers: list[Timer]  # all of them: pending, fired (settled or not) and cancelled
    department: str | None  # the track's


class TimerRepository(Repository[Timer], abc.ABC):
    @abc.abstractmethod
    async def get(self, timer_id: str) -> Timer | None: ...

    @abc.abstractmethod
    async def of_track(self, track: str) -> list[Timer]:
        """Every timer of a track (pending, fired and cancelled)."""

    @abc.abstractmethod
    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Timer]: ...

    @abc.abstractmethod
    async def open_deadlines(
        self,
        factories: frozenset[str] | None,
        *,
        number: str | None = None,
        after: DeadlineKey | None = None,
        limit: int = 50,
    ) -> list[OpenDeadline]:
        """The deadlines still pending (domain.timers.open_deadlines), earliest due first, after
        `after`: each with all its timers and its track's department."""


class NotificationUnitOfWork(UnitOfWork, abc.ABC):
    dispatches: DispatchRepository
    deliveries: DeliveryRepository
    reads: ReadMarkRepository
    tracks: TrackRepository
    timers: TimerRepository

    def repositories(
        self,
    ) -> tuple[TimerRepository, TrackRepository, DispatchRepository, DeliveryRepository, ReadMarkRepository]:
        # Timers first: a replica firing a timer another already fired meets the version check
        # (StaleVersion, skipped) before it writes that firing's notices.
        return (self.timers, self.tracks, self.dispatches, self.deliveries, self.reads)
