"""Notification's aggregates in its database: dispatches and deliveries (`notifications` rows),
read marks, deadline tracks and timers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.domain import StaleVersion
from notification.adapters.orm import deadline_tracks, inbox_reads, notifications, timers
from notification.domain.deliveries import Channel, Delivery, DeliveryStatus
from notification.domain.inbox import ReadMark
from notification.domain.model import Dispatch
from notification.domain.timers import DeadlineKey, Timer, TimerKind, TimerState, Track
from notification.service.unit_of_work import (
    DeliveryRepository,
    DispatchRepository,
    InboxItem,
    OpenDeadline,
    ReadMarkRepository,
    TimerRepository,
    TrackRepository,
)

n = notifications
t = timers


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        number=r.number,
        factory=r.factory,
        event_id=r.event_id,
        event_type=r.event_type,
        recipient_role=r.recipient_role,
        recipient=r.recipient,
        channel=Channel(r.channel),
        locale=r.locale,
        urgent=r.urgent,
        subject=r.subject,
        body=r.body,
        status=DeliveryStatus(r.status),
        created_at=r.created_at,
        target=r.target,
        digest=r.digest,
        attempts=r.attempts,
        last_error=r.last_error,
        next_attempt_at=r.next_attempt_at,
        delivered_at=r.delivered_at,
        failed_at=r.failed_at,
        version=r.version,
    )


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "number": d.number,
        "factory": d.factory,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "recipient_role": d.recipient_role,
        "recipient": d.recipient,
        "channel": d.channel.value,
        "locale": d.locale,
        "urgent": d.urgent,
        "subject": d.subject,
        "body": d.body,
        "status": d.status.value,
        "created_at": d.created_at,
        "target": d.target,
        "digest": d.digest,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at,
        "delivered_at": d.delivered_at,
        "failed_at": d.failed_at,
        "version": d.version,
    }


class SqlDispatchRepository(DispatchRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, event_id: str) -> Dispatch | None:
        stmt = sa.select(n).where(n.c.event_id == event_id).order_by(n.c.id)
        found = _dispatches(list((await self._session.execute(stmt)).all()))
        return self._track(found[0]) if found else None

    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        stmt = sa.select(n).where(n.c.number == number)
        if factories is not None:
            stmt = stmt.where(n.c.factory.in_(sorted(factories)))
        if recipient is not None:
            stmt = stmt.where(n.c.recipient == recipient)
        return _dispatches(list((await self._session.execute(stmt.order_by(n.c.created_at, n.c.id))).all()))

    async def _insert(self, d: Dispatch) -> None:
        if not d.deliveries:
            return  # nobody to tell: the audit row says so
        await self._session.execute(sa.insert(n), [_delivery_row(x) for x in d.deliveries])

    async def _update(self, d: Dispatch, expected_version: int) -> None:
        raise NotImplementedError(f"dispatch {d.event_id} is written once; its deliveries change on their own")


def _dispatches(rows: list[sa.Row[Any]]) -> list[Dispatch]:
    """Rows grouped by their event, in the order of each event's first row."""
    grouped: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.event_id, []).append(row)
    return [
        Dispatch(
            event_id=event_id,
            event_type=first.event_type,
            number=first.number,
            factory=first.factory,
            created_at=first.created_at,
            deliveries=tuple(_delivery(r) for r in group),
            version=1,  # written once, at version 1
        )
        for event_id, group in grouped.items()
        for first in group[:1]
    ]


class SqlDeliveryRepository(DeliveryRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, delivery_id: str) -> Delivery | None:
        row = (await self._session.execute(sa.select(n).where(n.c.id == delivery_id))).first()
        return self._track(_delivery(row)) if row is not None else None

    async def get_many(self, ids: Sequence[str]) -> list[Delivery]:
        if not ids:
            return []
        rows = {r.id: r for r in (await self._session.execute(sa.select(n).where(n.c.id.in_(list(ids))))).all()}
        return [d for i in ids if i in rows for d in [self._track(_delivery(rows[i]))] if d is not None]

    def _inbox_query(self, addresses: Collection[str], reader: str, factories: frozenset[str] | None) -> sa.Select[Any]:
        r = inbox_reads
        stmt = (
            sa.select(n, r.c.read_at)
            .outerjoin(r, sa.and_(r.c.notification_id == n.c.id, r.c.reader == reader))
            .where(n.c.channel == Channel.IN_APP.value, n.c.recipient.in_(sorted(addresses)))
        )
        if factories is not None:
            stmt = stmt.where(n.c.factory.in_(sorted(factories)))
        return stmt

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
        stmt = self._inbox_query(addresses, reader, factories)
        if unread_only:
            stmt = stmt.where(inbox_reads.c.read_at.is_(None))
        if before is not None:
            stmt = stmt.where(n.c.created_at < before)
        rows = (await self._session.execute(stmt.order_by(n.c.created_at.desc(), n.c.id).limit(limit))).all()
        return [InboxItem(_delivery(row), row.read_at) for row in rows]

    async def unread(self, addresses: Collection[str], reader: str, factories: frozenset[str] | None) -> int:
        query = self._inbox_query(addresses, reader, factories).where(inbox_reads.c.read_at.is_(None)).subquery()
        return int((await self._session.execute(sa.select(sa.func.count()).select_from(query))).scalar_one())

    async def _insert(self, d: Delivery) -> None:
        await self._session.execute(sa.insert(n).values(**_delivery_row(d)))

    async def _update(self, d: Delivery, expected_version: int) -> None:
        values = _delivery_row(d)
        # Settled or retried: the claim is over either way.
        values.update(claimed_by=None, lease_until=None)
        result = await self._session.execute(
            sa.update(n).where(n.c.id == d.id, n.c.version == expected_version).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleVersion(d.entity, d.id, expected_version, None)


class SqlReadMarkRepository(ReadMarkRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, notification_id: str, reader: str) -> ReadMark | None:
        r = inbox_reads
        stmt = (
            sa.select(r.c.read_at, n.c.number, n.c.factory)
            .join(n, n.c.id == r.c.notification_id)
            .where(r.c.notification_id == notification_id, r.c.reader == reader)
        )
        row = (await self._session.execute(stmt)).first()
        if row is None:
            return None
        return self._track(ReadMark(notification_id, reader, row.read_at, row.number, row.factory, version=1))

    async def _insert(self, mark: ReadMark) -> None:
        await self._session.execute(
            sa.insert(inbox_reads).values(
                notification_id=mark.notification_id, reader=mark.reader, read_at=mark.read_at
            )
        )

    async def _update(self, mark: ReadMark, expected_version: int) -> None:
        raise NotImplementedError("a read mark is never changed")


class SqlTrackRepository(TrackRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, key: str) -> Track | None:
        row = (await self._session.execute(sa.select(deadline_tracks).where(deadline_tracks.c.key == key))).first()
        if row is None:
            return None
        return self._track(
            Track(
                key=row.key,
                factory=row.factory,
                number=row.number,
                producer=row.producer,
                applied_version=row.applied_version,
                updated_at=row.updated_at,
                department=row.department,
                version=row.version,
            )
        )

    @staticmethod
    def _row(track: Track) -> dict[str, Any]:
        return {
            "key": track.key,
            "factory": track.factory,
            "number": track.number,
            "producer": track.producer,
            "applied_version": track.applied_version,
            "department": track.department,
            "updated_at": track.updated_at,
            "version": track.version,
        }

    async def _insert(self, track: Track) -> None:
        await self._session.execute(sa.insert(deadline_tracks).values(**self._row(track)))

    async def _update(self, track: Track, expected_version: int) -> None:
        d = deadline_tracks
        result = await self._session.execute(
            sa.update(d).where(d.c.key == track.key, d.c.version == expected_version).values(**self._row(track))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleVersion(track.entity, track.key, expected_version, None)


# The timers that still stand for a pending deadline (the partial indexes' predicate, spelled as
# a literal: both planners use a partial index only when the query visibly implies it).
COUNTING = sa.text("kind <> 'reminder' AND state <> 'cancelled' AND settled_at IS NULL")


def _key_values(key: DeadlineKey) -> tuple[datetime, str, str, int]:
    return key.due_at, key.track, key.milestone, key.round


def _timer(r: Any) -> Timer:
    return Timer(
        id=r.id,
        track=r.track,
        number=r.number,
        factory=r.factory,
        milestone=r.milestone,
        round=r.round,
        kind=TimerKind(r.kind),
        level=r.level,
        due_at=r.due_at,
        fire_at=r.fire_at,
        state=TimerState(r.state),
        source=r.source,
        producer=r.producer,
        created_at=r.created_at,
        department=r.department,
        fired_at=r.fired_at,
        cancelled_at=r.cancelled_at,
        settled_at=r.settled_at,
        version=r.version,
    )


def _timer_row(x: Timer) -> dict[str, Any]:
    return {
        "id": x.id,
        "track": x.track,
        "number": x.number,
        "factory": x.factory,
        "milestone": x.milestone,
        "round": x.round,
        "kind": x.kind.value,
        "level": x.level,
        "due_at": x.due_at,
        "fire_at": x.fire_at,
        "state": x.state.value,
        "source": x.source[:100],
        "producer": x.producer,
        "department": x.department,
        "created_at": x.created_at,
        "fired_at": x.fired_at,
        "cancelled_at": x.cancelled_at,
        "settled_at": x.settled_at,
        "version": x.version,
    }


class SqlTimerRepository(TimerRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, timer_id: str) -> Timer | None:
        row = (await self._session.execute(sa.select(t).where(t.c.id == timer_id))).first()
        return self._track(_timer(row)) if row is not None else None

    async def of_track(self, track: str) -> list[Timer]:
        rows = (await self._session.execute(sa.select(t).where(t.c.track == track).order_by(t.c.fire_at))).all()
        return [x for r in rows for x in [self._track(_timer(r))] if x is not None]

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Timer]:
        stmt = sa.select(t).where(t.c.number == number)
        if factories is not None:
            stmt = stmt.where(t.c.factory.in_(sorted(factories)))
        rows = (await self._session.execute(stmt.order_by(t.c.fire_at, t.c.level))).all()
        return [_timer(r) for r in rows]

    async def open_deadlines(
        self,
        factories: frozenset[str] | None,
        *,
        number: str | None = None,
        after: DeadlineKey | None = None,
        limit: int = 50,
    ) -> list[OpenDeadline]:
        # The page of deadlines is cut from a partial index of the timers that still count, in its
        # order; only that page's timers and tracks are then read.
        key = (t.c.due_at, t.c.track, t.c.milestone, t.c.round)
        where: list[sa.ColumnElement[bool] | sa.TextClause] = [COUNTING]
        if factories is not None:
            where.append(t.c.factory.in_(sorted(factories)))
        if number is not None:
            where.append(t.c.number == number)
        if after is not None:
            where.append(
                sa.tuple_(*key)
                > sa.tuple_(*(sa.literal(v, c.type) for v, c in zip(_key_values(after), key, strict=True)))
            )
        page = [
            DeadlineKey(*row)
            for row in await self._session.execute(
                sa.select(*key).where(*where).group_by(*key).order_by(*key).limit(limit)
            )
        ]
        if not page:
            return []
        wanted = set(page)
        found: dict[DeadlineKey, list[Timer]] = {k: [] for k in page}
        tracks = sorted({k.track for k in page})
        rows = await self._session.execute(
            sa.select(t).where(t.c.track.in_(tracks), t.c.due_at.in_(sorted({k.due_at for k in page})))
        )
        for row in rows:
            timer = _timer(row)
            if timer.deadline in wanted:
                found[timer.deadline].append(timer)
        d = deadline_tracks
        departments: dict[str, str | None] = {
            k: department
            for k, department in await self._session.execute(
                sa.select(d.c.key, d.c.department).where(d.c.key.in_(tracks))
            )
        }
        return [
            OpenDeadline(k, sorted(found[k], key=lambda x: (x.fire_at, x.level)), departments.get(k.track))
            for k in page
        ]

    async def flush(self) -> None:
        # Many timers are added at once (a case's every deadline): one multi-row insert.
        added, self._added = self._added, []
        if added:
            await self._session.execute(sa.insert(t), [_timer_row(x) for x in added])
            for x in added:
                self._loaded[x.identity] = (x, x.version)
        await super().flush()

    async def _insert(self, x: Timer) -> None:
        await self._session.execute(sa.insert(t).values(**_timer_row(x)))

    async def _update(self, x: Timer, expected_version: int) -> None:
        values = _timer_row(x)
        values.update(lease_until=None)  # claimed_by stays: which replica fired it
        result = await self._session.execute(
            sa.update(t).where(t.c.id == x.id, t.c.version == expected_version).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleVersion(x.entity, x.id, expected_version, None)
