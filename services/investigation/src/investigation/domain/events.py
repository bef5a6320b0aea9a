"""Domain events of a case: one per step, each with the case as it is after the step.

Every event carries the case's version, state, round and complete list of deadlines, so the
public `investigation.*` events built from them let a consumer keep the newest version and
ignore an older one that arrives late (CONTRACT.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cqm_shared.domain import DomainEvent
from investigation.domain.deadlines import Deadline
from investigation.domain.records import (
    Action,
    Containment,
    Dispute,
    FollowUp,
    Onsite,
    Reply,
    Responsibility,
    RootCause,
    Standardisation,
    Training,
    Triage,
)
from investigation.domain.transitions import CaseState


@dataclass(frozen=True, kw_only=True)
class CaseEvent(DomainEvent):
    number: str
    factory: str
    state: CaseState
    version: int  # the case's version after the change
    round: int
    deadlines: tuple[Deadline, ...]


@dataclass(frozen=True, kw_only=True)
class CaseOpened(CaseEvent):
    action: ClassVar[str] = "open"


@dataclass(frozen=True, kw_only=True)
class CaseTriaged(CaseEvent):
    action: ClassVar[str] = "triage"
    triage: Triage


@dataclass(frozen=True, kw_only=True)
class ContainmentRecorded(CaseEvent):
    action: ClassVar[str] = "containment"
    containment: Containment


@dataclass(frozen=True, kw_only=True)
class RootCauseRecorded(CaseEvent):
    action: ClassVar[str] = "root_cause"
    root_cause: RootCause


@dataclass(frozen=True, kw_only=True)
class ResponsibilityDetermined(CaseEvent):
    action: ClassVar[str] = "responsibility"
    responsibility: Responsibility
    dispute_window_ends_at: datetime
    supersedes: int | None  # the determination this one replaces


@dataclass(frozen=True, kw_only=True)
class ResponsibilityDisputed(CaseEvent):
    action: ClassVar[str] = "dispute"
    dispute: Dispute


@dataclass(frozen=True, kw_only=True)
class DisputeRuled(CaseEvent):
    action: ClassVar[str] = "ruling"
    dispute: Dispute  # with its ruling
    responsibility_cleared: bool  # a market cause was accepted: nobody is responsible


@dataclass(frozen=True, kw_only=True)
class ActionsAdded(CaseEvent):
    action: ClassVar[str] = "actions"
    actions: tuple[Action, ...]


@dataclass(frozen=True, kw_only=True)
class ActionChecked(CaseEvent):
    action: ClassVar[str] = "verification"
    checked: Action  # with its lots; verified_at set once N consecutive lots were clean
    clean_lots_required: int


@dataclass(frozen=True, kw_only=True)
class Standardised(CaseEvent):
    action: ClassVar[str] = "standardisation"
    standardisation: Standardisation


@dataclass(frozen=True, kw_only=True)
class CustomerReplied(CaseEvent):
    action: ClassVar[str] = "reply"
    reply: Reply


@dataclass(frozen=True, kw_only=True)
class FollowedUp(CaseEvent):
    action: ClassVar[str] = "follow_up"
    follow_up: FollowUp


@dataclass(frozen=True, kw_only=True)
class CaseClosed(CaseEvent):
    action: ClassVar[str] = "close"
    outcome: str  # resolved, not_valid, non_quality, not_our_fault, market_cause, withdrawn


@dataclass(frozen=True, kw_only=True)
class CaseWithdrawn(CaseClosed):
    """The complaint was withdrawn: published as `investigation.closed` with outcome withdrawn."""

    action: ClassVar[str] = "withdraw"


@dataclass(frozen=True, kw_only=True)
class CaseReopened(CaseEvent):
    action: ClassVar[str] = "reopen"


@dataclass(frozen=True, kw_only=True)
class OnsiteRecorded(CaseEvent):
    action: ClassVar[str] = "onsite"
    onsite: Onsite
    what: str  # arrived, sheet_returned, returned, report_sent


@dataclass(frozen=True, kw_only=True)
class TrainingRecorded(CaseEvent):
    action: ClassVar[str] = "training"
    training: Training


@dataclass(frozen=True, kw_only=True)
class ComplaintUpdated(CaseEvent):
    """The case's copy of the complaint was corrected; deadlines depending on it recomputed."""

    action: ClassVar[str] = "amend"
    changed: tuple[str, ...]  # the facts that changed
    rescheduled: tuple[str, ...]  # the milestones whose due time moved
