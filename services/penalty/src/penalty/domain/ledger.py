"""The monthly ledger (月度考核台账) per factory, and the monthly cycle's deadlines.

Seed 000 §4.2.2: by the 15th the previous month's complaints are summarised, by the 18th the
workshop proposes penalties, by the 20th production operations approves; HR publishes and
archives, finance deducts. A closed period is immutable: a later correction becomes an
adjustment in the next open period (reversal of the old lines, the new lines).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from cqm_shared.domain import Aggregate, DomainEvent, InvalidTransition
from penalty.domain.policy import MonthlyCycle
from penalty.domain.terms import LineItem, LineKind


def period_of(moment: dt.datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def next_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def parse_period(text: str) -> str:
    """A `yyyy-mm` period, validated (ValueError otherwise)."""
    try:
        moment = dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise ValueError(f"period {text!r} is not yyyy-mm") from None
    return f"{moment.year:04d}-{moment.month:02d}"


class CycleMilestone(StrEnum):
    SUMMARY = "monthly_summary"  # 每月15日之前汇总上月客诉
    WORKSHOP_PROPOSAL = "workshop_proposal"  # 18日之前车间报处罚意见
    APPROVAL = "production_approval"  # 20日之前生产运营部部长签准


@dataclass(frozen=True)
class CycleDeadline:
    milestone: CycleMilestone
    due_at: dt.datetime
    source: str
    state: str = "pending"  # pending / met / cancelled
    met_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None

    def met(self, at: dt.datetime) -> CycleDeadline:
        if self.state != "pending":
            return self
        return CycleDeadline(self.milestone, self.due_at, self.source, "met", met_at=at)

    def cancelled(self, at: dt.datetime) -> CycleDeadline:
        if self.state != "pending":
            return self
        return CycleDeadline(self.milestone, self.due_at, self.source, "cancelled", cancelled_at=at)


def cycle_deadlines(period: str, cycle: MonthlyCycle, zone: ZoneInfo) -> tuple[CycleDeadline, ...]:
    """The period's deadlines: the end of day N of the following month, factory time, in UTC."""
    year, month = (int(x) for x in next_period(period).split("-"))

    def end_of(day: int) -> dt.datetime:
        return (dt.datetime(year, month, day, tzinfo=zone) + dt.timedelta(days=1)).astimezone(dt.UTC)

    return (
        CycleDeadline(CycleMilestone.SUMMARY, end_of(cycle.summary.day), cycle.summary.source),
        CycleDeadline(
            CycleMilestone.WORKSHOP_PROPOSAL, end_of(cycle.workshop_proposal.day), cycle.workshop_proposal.source
        ),
        CycleDeadline(CycleMilestone.APPROVAL, end_of(cycle.approval.day), cycle.approval.source),
    )


# -- totals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """A line as the ledger counts it: from an assessment, possibly reversed (adjustment)."""

    assessment_id: str
    number: str
    status: str
    line: LineItem
    adjustment: bool = False


@dataclass
class Totals:
    fines: Decimal = Decimal(0)
    performance_points: Decimal = Decimal(0)
    management_points: Decimal = Decimal(0)
    lines: int = 0

    def add(self, line: LineItem) -> None:
        self.lines += 1
        if line.kind is LineKind.FINE:
            self.fines += line.amount
        elif line.kind is LineKind.POINTS:
            if line.points_ledger == "management":
                self.management_points += line.points
            else:
                self.performance_points += line.points

    def as_dict(self) -> dict[str, Any]:
        return {
            "fines": str(self.fines),
            "performance_points": str(self.performance_points),
            "management_points": str(self.management_points),
            "lines": self.lines,
        }


@dataclass
class LedgerTotals:
    """Totals per department and person, points, charge-backs, cost of poor quality."""

    compensation: Decimal = Decimal(0)  # 客诉赔偿额 of the period's determinations
    fines: Decimal = Decimal(0)
    charge_backs: Decimal = Decimal(0)
    performance_points: Decimal = Decimal(0)
    management_points: Decimal = Decimal(0)
    departments: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    people: dict[tuple[str, str], Totals] = field(default_factory=lambda: defaultdict(Totals))  # (id, name)
    suppliers: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    unresolved: int = 0  # lines addressed to a role, for HR to resolve
    pending: int = 0  # assessments not yet approved

    @property
    def cost_of_poor_quality(self) -> Decimal:
        """Compensation + penalties + charge-backs, as the monthly quality meeting reads it."""
        return self.compensation + self.fines + self.charge_backs

    def add(self, entry: LedgerEntry) -> None:
        line = entry.line
        if line.kind is LineKind.CHARGE_BACK:
            self.charge_backs += line.amount
            self.suppliers[line.payee.name] += line.amount
            return
        if line.kind is LineKind.FINE:
            self.fines += line.amount
        elif line.kind is LineKind.POINTS:
            if line.points_ledger == "management":
                self.management_points += line.points
            else:
                self.performance_points += line.points
        else:
            return
        if line.department:
            self.departments[line.department].add(line)
        if line.unresolved:
            self.unresolved += 1
        elif line.payee.kind.value == "person":
            self.people[(line.payee.id, line.payee.name)].add(line)

    def by_department(self) -> dict[str, dict[str, Any]]:
        return {name: t.as_dict() for name, t in sorted(self.departments.items())}


def ledger_totals(entries: list[LedgerEntry], compensation: Decimal, pending: int) -> LedgerTotals:
    totals = LedgerTotals(compensation=compensation, pending=pending)
    for entry in entries:
        totals.add(entry)
    return totals


# -- the period aggregate -----------------------------------------------------------------------


class PeriodState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class PeriodClosed(DomainEvent):
    action: ClassVar[str] = "close_period"
    factory: str
    period: str
    totals: dict[str, Any]
    departments: dict[str, dict[str, Any]]


@dataclass
class LedgerPeriod(Aggregate):
    """A factory's month: open while assessments may land in it, then closed for good."""

    entity: ClassVar[str] = "ledger_period"

    factory: str
    period: str
    state: PeriodState = PeriodState.OPEN
    closed_at: dt.datetime | None = None
    closed_by: str | None = None
    totals: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    @property
    def identity(self) -> str:
        return f"{self.factory}/{self.period}"

    def snapshot(self) -> dict[str, Any]:
        closed_at = self.closed_at.isoformat() if self.closed_at else None
        return {"state": self.state.value, "closed_at": closed_at, "totals": self.totals}

    @property
    def closed(self) -> bool:
        return self.state is PeriodState.CLOSED

    def close(self, totals: LedgerTotals, *, by: str, at: dt.datetime, reason: str) -> None:
        if self.closed:
            raise InvalidTransition(self.entity, self.identity, self.state.value, "close", "it is closed already")
        if totals.pending:
            raise InvalidTransition(
                self.entity,
                self.identity,
                self.state.value,
                "close",
                f"{totals.pending} assessment(s) are not approved yet: approve them (or decide their appeals) first",
            )
        before = self.snapshot()
        self.state = PeriodState.CLOSED
        self.closed_at = at
        self.closed_by = by
        self.totals = {
            "compensation": str(totals.compensation),
            "fines": str(totals.fines),
            "charge_backs": str(totals.charge_backs),
            "cost_of_poor_quality": str(totals.cost_of_poor_quality),
            "performance_points": str(totals.performance_points),
            "management_points": str(totals.management_points),
            "unresolved_lines": totals.unresolved,
        }
        self.record(
            PeriodClosed(
                at=at,
                reason=reason,
                actor=by,
                factory=self.factory,
                period=self.period,
                totals=self.totals,
                departments=totals.by_department(),
            ),
            before=before,
        )
