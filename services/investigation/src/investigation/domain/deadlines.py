"""Deadlines (SLA) of a case: values with a state, and their due times from the factory policy.

DOMAIN.md §3 "Deadlines": every milestone's duration, anchor and counting (calendar hours, the
seeds' default, or working time on the factory's calendar) come from the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from investigation.domain.calendar import WorkingCalendar
from investigation.domain.policy import Counting, DeadlineRule, InvestigationPolicy


class DeadlineState(StrEnum):
    PENDING = "pending"
    MET = "met"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Deadline:
    """One SLA milestone of a case, with the clause its default comes from.

    A milestone is unique per handling round: a reopened case gets its own customer reply
    and close deadlines in round 2 (seed 002 (九) 9).
    """

    milestone: str
    due_at: datetime
    source: str
    state: DeadlineState = DeadlineState.PENDING
    met_at: datetime | None = None
    cancelled_at: datetime | None = None
    round: int = 1

    def __post_init__(self) -> None:
        if self.due_at.tzinfo is None:
            raise ValueError("deadlines are timezone-aware")
        if (self.met_at is not None) != (self.state is DeadlineState.MET):
            raise ValueError("met_at is set exactly when the deadline is met")
        if (self.cancelled_at is not None) != (self.state is DeadlineState.CANCELLED):
            raise ValueError("cancelled_at is set exactly when the deadline is cancelled")

    @property
    def pending(self) -> bool:
        return self.state is DeadlineState.PENDING

    @property
    def met_on_time(self) -> bool:
        return self.met_at is not None and self.met_at <= self.due_at

    def met(self, at: datetime) -> Deadline:
        return replace(self, state=DeadlineState.MET, met_at=at)

    def cancelled(self, at: datetime) -> Deadline:
        return replace(self, state=DeadlineState.CANCELLED, cancelled_at=at)

    def snapshot(self) -> dict[str, Any]:
        return {
            "milestone": self.milestone,
            "round": self.round,
            "due_at": self.due_at,
            "state": self.state.value,
            "source": self.source,
            "met_at": self.met_at,
            "cancelled_at": self.cancelled_at,
        }


def due_at(rule: DeadlineRule, start: datetime, policy: InvestigationPolicy) -> datetime:
    """When a milestone counted from `start` is due: calendar hours or the factory's working time."""
    if rule.counting is Counting.WORKING:
        # Cheap to build: the holiday data is cached per year inside the calendar module.
        return WorkingCalendar(policy.calendar).add(start, rule.duration)
    return start + rule.duration


def schedule(milestone: str, rule_name: str, start: datetime, policy: InvestigationPolicy, *, round: int) -> Deadline:
    rule = policy.deadlines[rule_name]
    return Deadline(milestone=milestone, due_at=due_at(rule, start, policy), source=rule.source, round=round)
