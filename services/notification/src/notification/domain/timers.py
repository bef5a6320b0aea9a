"""Deadline timers (期限提醒与逾期升级, DOMAIN.md §3 "Deadlines"). Pure: no I/O.

A `Track` is what notification knows of one holder of deadlines (a case, an assessment): the
newest version it applied and the responsible department. Each pending deadline becomes
timers: reminders before it (fractions of the time between learning of it and its due time),
the breach at it, and one timer per escalation level after it. A newer version reconciles
them: a met, cancelled, moved or vanished deadline cancels its pending timers; a version no
newer than the applied one changes nothing, so a late, older event never resurrects a
cancelled timer.

A timer fires once: the state moves from pending to fired under an optimistic version check,
whichever replica claimed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent, InvalidTransition
from notification.domain.policy import TimerPolicy

_IDS = uuid.UUID("0b7f4a8e-3c2d-4e51-9a6b-7d1c2e3f4a5b")


class TimerKind(StrEnum):
    REMINDER = "reminder"  # sla.warning, level 0
    BREACH = "breach"  # sla.breached, level 0 (the owner)
    ESCALATION = "escalation"  # sla.breached, level 1, 2, 3 …


class TimerState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeadlineFact:
    """One deadline as an event states it."""

    milestone: str
    due_at: datetime
    state: str = "pending"  # pending, met or cancelled
    round: int = 1
    source: str = ""

    @property
    def pending(self) -> bool:
        return self.state == "pending"


def timer_id(track: str, milestone: str, round_: int, due_at: datetime, step: str) -> str:
    """The same deadline at the same due time names the same timers, whoever computes them."""
    return str(uuid.uuid5(_IDS, f"{track}/{milestone}/{round_}/{due_at.isoformat()}/{step}"))


@dataclass(frozen=True, kw_only=True)
class SlaRaised(DomainEvent):
    """A reminder, a breach or an escalation fired: `sla.warning` / `sla.breached`."""

    action: ClassVar[str] = "fire"
    timer_id: str
    number: str
    factory: str
    milestone: str
    round: int
    kind: TimerKind
    level: int
    due_at: datetime
    source: str
    department: str | None
    producer: str

    @property
    def breached(self) -> bool:
        return self.kind is not TimerKind.REMINDER


@dataclass(frozen=True, kw_only=True)
class TimerCancelled(DomainEvent):
    action: ClassVar[str] = "cancel"
    timer_id: str


@dataclass(frozen=True, kw_only=True)
class TimerSettled(DomainEvent):
    action: ClassVar[str] = "settle"
    timer_id: str


@dataclass(frozen=True, order=True)
class DeadlineKey:
    """One deadline of a track as its timers name it; ordered by due time (the escalation list's
    order), then track, milestone and round."""

    due_at: datetime
    track: str
    milestone: str
    round: int


@dataclass
class Timer(Aggregate):
    entity: ClassVar[str] = "timer"

    id: str
    track: str
    number: str
    factory: str
    milestone: str
    round: int
    kind: TimerKind
    level: int
    due_at: datetime
    fire_at: datetime
    state: TimerState
    source: str
    producer: str
    created_at: datetime
    department: str | None = None
    fired_at: datetime | None = None
    cancelled_at: datetime | None = None
    # When the timer stopped counting for its deadline's escalation state: fired, and then its
    # deadline was met, cancelled or moved (None while it counts; a cancelled timer never counts).
    settled_at: datetime | None = None
    version: int = 0

    @property
    def identity(self) -> str:
        return self.id

    @property
    def deadline(self) -> DeadlineKey:
        return DeadlineKey(self.due_at, self.track, self.milestone, self.round)

    @property
    def counts(self) -> bool:
        """Whether the timer still stands for a pending deadline: pending, or fired and not settled."""
        return self.state is TimerState.PENDING or (self.state is TimerState.FIRED and self.settled_at is None)

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {
            "timer": self.id,
            "milestone": self.milestone,
            "round": self.round,
            "kind": self.kind.value,
            "level": self.level,
            "due_at": self.due_at.isoformat(),
            "fire_at": self.fire_at.isoformat(),
            "state": self.state.value,
            "settled_at": self.settled_at.isoformat() if self.settled_at else None,
        }

    def fire(self, at: datetime, department: str | None) -> SlaRaised:
        if self.state is not TimerState.PENDING:
            raise InvalidTransition(self.entity, self.id, self.state.value, "fire", "only a pending timer fires")
        before = self.snapshot()
        self.state, self.fired_at, self.department = TimerState.FIRED, at, department or self.department
        what = "reminder before" if self.kind is TimerKind.REMINDER else f"level {self.level} after"
        raised = SlaRaised(
            at=at,
            reason=f"{what} {self.milestone} due {self.due_at.isoformat()}",
            timer_id=self.id,
            number=self.number,
            factory=self.factory,
            milestone=self.milestone,
            round=self.round,
            kind=self.kind,
            level=self.level,
            due_at=self.due_at,
            source=self.source,
            department=self.department,
            producer=self.producer,
        )
        self.record(raised, before=before)
        return raised

    def cancel(self, at: datetime, why: str) -> None:
        if self.state is not TimerState.PENDING:
            return  # fired or already cancelled: nothing to stop
        before = self.snapshot()
        self.state, self.cancelled_at = TimerState.CANCELLED, at
        self.record(TimerCancelled(at=at, reason=why, timer_id=self.id), before=before)

    def settle(self, at: datetime, why: str) -> None:
        """The fired timer's deadline is no longer pending: it leaves the escalation state."""
        if self.state is not TimerState.FIRED or self.settled_at is not None:
            return  # pending ones are cancelled instead; settled once
        before = self.snapshot()
        self.settled_at = at
        self.record(TimerSettled(at=at, reason=why, timer_id=self.id), before=before)


@dataclass(frozen=True, kw_only=True)
class DeadlinesReconciled(DomainEvent):
    action: ClassVar[str] = "schedule"
    scheduled: tuple[str, ...]  # milestone@due of the new timers
    cancelled: tuple[str, ...]
    applied_version: int | None


@dataclass
class Track(Aggregate):
    """A holder of deadlines as notification knows it (a case or an assessment)."""

    entity: ClassVar[str] = "deadlines"

    key: str  # case:<number> or assessment:<id>
    factory: str
    number: str
    producer: str  # investigation or penalty
    applied_version: int
    updated_at: datetime
    department: str | None = None
    version: int = 0

    @property
    def identity(self) -> str:
        return self.key

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {"track": self.key, "applied_version": self.applied_version, "department": self.department}

    @classmethod
    def new(cls, key: str, factory: str, number: str, producer: str, at: datetime) -> Track:
        return cls(key=key, factory=factory, number=number, producer=producer, applied_version=0, updated_at=at)

    def is_newer(self, version: int | None) -> bool:
        """Whether an event at `version` is newer than what was applied (no version: cannot tell, applied)."""
        return version is None or version > self.applied_version

    def reconcile(
        self,
        *,
        version: int | None,
        deadlines: Sequence[DeadlineFact],
        department: str | None,
        existing: Iterable[Timer],
        policy: TimerPolicy,
        at: datetime,
        why: str,
    ) -> list[Timer]:
        """Bring the timers in line with the deadlines an event states; returns the new timers
        (existing ones changed in place: cancelled). An event no newer than the applied version
        changes nothing."""
        if not self.is_newer(version):
            return []
        before = self.snapshot()
        if department:
            self.department = department
        existing = list(existing)
        known = {t.id for t in existing}
        first_seen = _first_seen(existing)
        wanted: dict[str, Timer] = {}
        for d in deadlines:
            if d.pending:
                start = first_seen.get((d.milestone, d.round, d.due_at), at)
                for timer in self._timers_for(d, start, policy, at):
                    wanted[timer.id] = timer
        new = [t for t in wanted.values() if t.id not in known]
        pending = {(d.milestone, d.round, d.due_at) for d in deadlines if d.pending}
        cancelled = []
        for timer in existing:
            gone = f"{timer.milestone} is no longer pending as of version {version}: {why}"
            if timer.state is TimerState.PENDING and timer.id not in wanted:
                timer.cancel(at, gone)
                cancelled.append(timer)
            elif timer.state is TimerState.FIRED and (timer.milestone, timer.round, timer.due_at) not in pending:
                timer.settle(at, gone)
        if version is not None:
            self.applied_version = version
        self.updated_at = at
        self.record(
            DeadlinesReconciled(
                at=at,
                reason=why,
                scheduled=tuple(sorted({f"{t.milestone}@{t.due_at.isoformat()}" for t in new})),
                cancelled=tuple(sorted({f"{t.milestone}@{t.due_at.isoformat()}" for t in cancelled})),
                applied_version=version,
            ),
            before=before,
        )
        return new

    def _timers_for(self, d: DeadlineFact, start: datetime, policy: TimerPolicy, now: datetime) -> list[Timer]:
        span = d.due_at - start
        planned: list[tuple[TimerKind, int, datetime, str]] = []
        for fraction in policy.reminders_for(d.milestone):
            fire_at = start + span * float(fraction)
            # A reminder is worth sending only before its moment has passed (and before the due time).
            if span.total_seconds() > 0 and fire_at > now:
                planned.append((TimerKind.REMINDER, 0, fire_at, f"reminder/{fraction}"))
        planned.append((TimerKind.BREACH, 0, d.due_at, "breach"))
        planned += [
            (TimerKind.ESCALATION, e.level, d.due_at + e.after, f"escalation/{e.level}")
            for e in policy.escalation_for(d.milestone)
        ]
        return [
            Timer(
                id=timer_id(self.key, d.milestone, d.round, d.due_at, step),
                track=self.key,
                number=self.number,
                factory=self.factory,
                milestone=d.milestone,
                round=d.round,
                kind=kind,
                level=level,
                due_at=d.due_at,
                fire_at=fire_at,
                state=TimerState.PENDING,
                source=d.source,
                producer=self.producer,
                created_at=start,
                department=self.department,
                version=1,
            )
            for kind, level, fire_at, step in planned
        ]


def _first_seen(timers: Iterable[Timer]) -> dict[tuple[str, int, datetime], datetime]:
    """When each deadline (milestone, round, due) was first learned: its timers' creation time."""
    seen: dict[tuple[str, int, datetime], datetime] = {}
    for t in timers:
        key = (t.milestone, t.round, t.due_at)
        seen[key] = min(seen.get(key, t.created_at), t.created_at)
    return seen


# -- escalation state (逾期反应, DOMAIN.md §3 "Deadlines") -----------------------------------------


@dataclass(frozen=True)
class EscalationState:
    """Where one pending deadline stands: the highest breach or escalation level fired (0: the
    breach, to the owner; 1, 2, 3: department head, director, general manager), and what fires next."""

    deadline: DeadlineKey
    number: str
    factory: str
    producer: str
    level: int | None  # None: no breach fired yet (not due, or due and not fired yet)
    reached_at: datetime | None  # when that level fired
    next: Timer | None  # the earliest pending timer (a reminder too); None: every level fired
    overdue: bool  # past its due time, by the clock given
    department: str | None  # the track's responsible department
    owner: str | None  # the role that must meet the milestone (policy timers.owners)


def open_deadlines(timers: Iterable[Timer]) -> dict[DeadlineKey, list[Timer]]:
    """The timers of every deadline still pending, as its timers tell: one of its breach or
    escalation timers still counts (pending, or fired and not settled)."""
    groups: dict[DeadlineKey, list[Timer]] = {}
    for t in timers:
        groups.setdefault(t.deadline, []).append(t)
    return {
        key: group for key, group in groups.items() if any(t.counts and t.kind is not TimerKind.REMINDER for t in group)
    }


def escalation_state(
    timers: Sequence[Timer], *, now: datetime, department: str | None, owner: str | None
) -> EscalationState:
    """The escalation state of one deadline from all its timers, at `now`."""
    first = timers[0]
    fired = [t for t in timers if t.state is TimerState.FIRED and t.kind is not TimerKind.REMINDER]
    top = max(fired, key=lambda t: (t.level, t.fire_at), default=None)
    upcoming = min(
        (t for t in timers if t.state is TimerState.PENDING), key=lambda t: (t.fire_at, t.level), default=None
    )
    return EscalationState(
        deadline=first.deadline,
        number=first.number,
        factory=first.factory,
        producer=first.producer,
        level=top.level if top else None,
        reached_at=top.fired_at if top else None,
        next=upcoming,
        overdue=first.due_at < now,
        department=department,
        owner=owner,
    )
