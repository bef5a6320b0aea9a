"""The investigation case (调查) and its deadlines. Pure: no I/O.

A case opens when a complaint is registered. The deadlines that can be known at opening are
computed from the factory policy (DOMAIN.md §3 "Deadlines"); later milestones (on-site
sheet, training) get their due time when their anchor event happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cqm_shared.contracts.complaint import ComplaintRecord, Province, Region, RequestKind
from cqm_shared.contracts.events import Deadline
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


# Milestones whose due time is known when the case opens.
OPENING_MILESTONES = ("first_response", "handling_proposal", "customer_reply", "customer_reply_latest")


def close_milestone(complaint: ComplaintRecord, policy: InvestigationPolicy) -> str:
    """Which close deadline applies.

    Province basis (seed 000 §4.2.1): in-province 5 days, out-of-province 15 days; foreign
    markets count as out of province; an unknown province gets the stricter in-province
    deadline so that no case is overdue unnoticed. Region basis (seed 002 (十)): domestic
    13 days, foreign 17 days.
    """
    market = complaint.market
    if policy.close_basis is CloseBasis.REGION:
        return "close_foreign" if market.region is Region.FOREIGN else "close_domestic"
    if market.region is Region.FOREIGN or market.province is Province.OUT:
        return "close_out_of_province"
    return "close_in_province"


def opening_deadlines(complaint: ComplaintRecord, policy: InvestigationPolicy) -> list[Deadline]:
    anchors = {Anchor.REGISTERED: complaint.registered_at, Anchor.RECEIVED: complaint.received_at}
    deadlines = []
    milestones = [*OPENING_MILESTONES, close_milestone(complaint, policy)]
    request = complaint.customer_request
    if request is not None and request.kind is RequestKind.REPORT_8D:
        # A customer who asked for a report gets a preliminary one within 3 days (seed 001 §1.4.3).
        milestones.append("preliminary_report")
    for milestone in milestones:
        rule = policy.deadlines[milestone]
        start = anchors.get(rule.anchor)
        if start is None:
            raise ValueError(f"milestone {milestone} cannot be anchored at opening ({rule.anchor})")
        name = "close" if milestone.startswith("close_") else milestone
        deadlines.append(Deadline(milestone=name, due_at=start + rule.duration, source=rule.source))
    return sorted(deadlines, key=lambda d: d.due_at)


@dataclass
class Transition:
    at: datetime
    actor: str
    action: str
    from_state: CaseState | None
    to_state: CaseState
    reason: str = ""


@dataclass
class Case:
    number: str
    factory: str
    state: CaseState
    opened_at: datetime
    complaint: ComplaintRecord
    deadlines: list[Deadline]
    history: list[Transition] = field(default_factory=list)


def open_case(complaint: ComplaintRecord, policy: InvestigationPolicy, *, now: datetime) -> Case:
    case = Case(
        number=complaint.number,
        factory=complaint.factory,
        state=CaseState.OPENED,
        opened_at=now,
        complaint=complaint,
        deadlines=opening_deadlines(complaint, policy),
    )
    case.history.append(
        Transition(
            at=now,
            actor="system",
            action="open",
            from_state=None,
            to_state=CaseState.OPENED,
            reason="complaint registered",
        )
    )
    return case
