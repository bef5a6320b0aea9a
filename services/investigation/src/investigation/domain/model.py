"""The investigation case (调查) and its deadlines. Pure: no I/O.

A case opens when a complaint is registered. The deadlines that can be known at opening are
computed from the factory policy (DOMAIN.md §3 "Deadlines"); later milestones (on-site
sheet, training) get their due time when their anchor event happens.

The complaint is kept in investigation's own terms (`ComplaintFacts`): only the fields the
deadlines and the case view use, translated from the public `complaint.registered` record at
the edge. Deadlines are values of their own (`Deadline`) with a state, one per milestone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent
from investigation.domain.policy import Anchor, CloseBasis, InvestigationPolicy


class CaseState(StrEnum):
    """States of the case (DOMAIN.md §3, steps 1-8)."""

    OPENED = "opened"
    TRIAGED = "triaged"  # 确认/分类
    CONTAINED = "contained"  # 围堵
    RESPONSIBILITY_DETERMINED = "responsibility_determined"  # 责任判定
    DISPUTED = "disputed"  # 异议
    ACTIONS_OPEN = "actions_open"  # 纠正预防措施
    REPLIED = "replied"  # 回复
    CLOSED = "closed"


class Region(StrEnum):
    DOMESTIC = "domestic"  # 国内
    FOREIGN = "foreign"  # 国外


class Province(StrEnum):
    IN = "in"  # 本省
    OUT = "out"  # 外省


# The customer request kind that asks for a written (8D) report (seed 001 §1.4.3).
REPORT_8D = "report_8d"


@dataclass(frozen=True)
class ComplaintFacts:
    """What investigation keeps of a registered complaint (its own copy, its own types)."""

    number: str
    factory: str
    registered_at: datetime  # 受理: numbered by intake
    received_at: datetime  # received from the customer
    region: Region
    province: Province | None  # None: not known
    phenomenon: str  # 问题现象
    customer_company: str
    part_number: str | None = None  # 料号
    product_model: str | None = None  # 型号
    request_kind: str | None = None  # what the customer asked for (客户希望之处理方式)
    batch_return: bool = False  # 批量退货

    def __post_init__(self) -> None:
        if self.registered_at.tzinfo is None or self.received_at.tzinfo is None:
            raise ValueError("complaint times are timezone-aware")

    @property
    def report_requested(self) -> bool:
        return self.request_kind == REPORT_8D


class DeadlineState(StrEnum):
    PENDING = "pending"
    MET = "met"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Deadline:
    """One SLA milestone of a case, with the clause its default comes from."""

    milestone: str
    due_at: datetime
    source: str
    state: DeadlineState = DeadlineState.PENDING
    met_at: datetime | None = None
    cancelled_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.due_at.tzinfo is None:
            raise ValueError("deadlines are timezone-aware")
        if (self.met_at is not None) != (self.state is DeadlineState.MET):
            raise ValueError("met_at is set exactly when the deadline is met")
        if (self.cancelled_at is not None) != (self.state is DeadlineState.CANCELLED):
            raise ValueError("cancelled_at is set exactly when the deadline is cancelled")

    def snapshot(self) -> dict[str, Any]:
        return {
            "milestone": self.milestone,
            "due_at": self.due_at,
            "state": self.state.value,
            "source": self.source,
            "met_at": self.met_at,
            "cancelled_at": self.cancelled_at,
        }


# Milestones whose due time is known when the case opens.
OPENING_MILESTONES = ("first_response", "handling_proposal", "customer_reply", "customer_reply_latest")


def close_milestone(complaint: ComplaintFacts, policy: InvestigationPolicy) -> str:
    """Which close deadline applies.

    Province basis (seed 000 §4.2.1): in-province 5 days, out-of-province 15 days; foreign
    markets count as out of province; an unknown province gets the stricter in-province
    deadline so that no case is overdue unnoticed. Region basis (seed 002 (十)): domestic
    13 days, foreign 17 days.
    """
    if policy.close_basis is CloseBasis.REGION:
        return "close_foreign" if complaint.region is Region.FOREIGN else "close_domestic"
    if complaint.region is Region.FOREIGN or complaint.province is Province.OUT:
        return "close_out_of_province"
    return "close_in_province"


def opening_deadlines(complaint: ComplaintFacts, policy: InvestigationPolicy) -> list[Deadline]:
    anchors = {Anchor.REGISTERED: complaint.registered_at, Anchor.RECEIVED: complaint.received_at}
    deadlines = []
    milestones = [*OPENING_MILESTONES, close_milestone(complaint, policy)]
    if complaint.report_requested:
        # A customer who asked for a report gets a preliminary one within 3 days (seed 001 §1.4.3).
        milestones.append("preliminary_report")
    for milestone in milestones:
        rule = policy.deadlines[milestone]
        start = anchors.get(rule.anchor)
        if start is None:
            raise ValueError(f"milestone {milestone} cannot be anchored at opening ({rule.anchor})")
        name = "close" if milestone.startswith("close_") else milestone
        deadlines.append(Deadline(milestone=name, due_at=start + rule.duration, source=rule.source))
    return sorted(deadlines, key=lambda d: (d.due_at, d.milestone))


@dataclass(frozen=True)
class Transition:
    """One line of the case history (DOMAIN.md §3, §7: who / when / why of every transition)."""

    at: datetime
    actor: str
    action: str
    from_state: CaseState | None
    to_state: CaseState
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CaseOpened(DomainEvent):
    action: ClassVar[str] = "open"
    number: str
    factory: str
    state: CaseState
    deadlines: tuple[Deadline, ...]
    version: int  # the case's version after the change


@dataclass
class Case(Aggregate):
    entity: ClassVar[str] = "investigation"

    number: str
    factory: str
    state: CaseState
    complaint: ComplaintFacts
    deadlines: tuple[Deadline, ...]
    opened_at: datetime
    updated_at: datetime
    history: list[Transition] = field(default_factory=list)
    version: int = 0

    @property
    def identity(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value, "deadlines": [d.snapshot() for d in self.deadlines]}

    def deadline(self, milestone: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.milestone == milestone), None)

    @classmethod
    def open(
        cls, complaint: ComplaintFacts, policy: InvestigationPolicy, *, at: datetime, by: str, reason: str
    ) -> Case:
        """A new case for a registered complaint, with the deadlines known at opening."""
        case = cls(
            number=complaint.number,
            factory=complaint.factory,
            state=CaseState.OPENED,
            complaint=complaint,
            deadlines=tuple(opening_deadlines(complaint, policy)),
            opened_at=at,
            updated_at=at,
        )
        opened = CaseOpened(
            at=at,
            reason=reason,
            actor=by,
            number=case.number,
            factory=case.factory,
            state=CaseState.OPENED,
            deadlines=case.deadlines,
            version=case.version + 1,
        )
        case._transition(opened, from_state=None, to_state=CaseState.OPENED, before=None)
        return case

    def _transition(
        self,
        event: DomainEvent,
        *,
        from_state: CaseState | None,
        to_state: CaseState,
        before: dict[str, Any] | None,
    ) -> None:
        """Move to `to_state`: one history line and one recorded change (audit row, public event).

        The event names who made the change, so the history and the audit row agree on it.
        """
        if event.actor is None:
            raise ValueError(f"{event.action} of case {self.number}: the event must name its actor")
        self.state = to_state
        self.updated_at = event.at
        self.history.append(
            Transition(
                at=event.at,
                actor=event.actor,
                action=event.action,
                from_state=from_state,
                to_state=to_state,
                reason=event.reason,
            )
        )
        self.record(event, before=before)
