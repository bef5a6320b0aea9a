"""Statistics investigation owns (DOMAIN.md §6): on-time rate per milestone, cycle times, cases by
responsible department and by accident class, and the overdue list.

`Statistics` is the port: the adapter answers the counts from rollups kept current on every save
(a year or ten answer alike in milliseconds) and the overdue list from an index of pending
deadlines. The use cases here turn the counts into the figures shown (rates, means,
percentiles) and decide which factories a caller sees.

Every count is by the month the case *opened* (a cohort): a case opened in March whose close
deadline is met in April counts in March, so a month's figures grow until its cases are done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from cqm_shared.domain import NotFound

Factories = frozenset[str] | None  # None: every factory


def month_number(text: str) -> int:
    """'2026-11' -> 202611."""
    year, month = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        raise ValueError(f"not a month: {text}")
    return year * 100 + month


def month_text(number: int) -> str:
    return f"{number // 100:04d}-{number % 100:02d}"


def months_back(number: int, months: int) -> int:
    """The month `months` before `number` (yyyymm)."""
    index = (number // 100) * 12 + (number % 100 - 1) - months
    return (index // 12) * 100 + index % 12 + 1


@dataclass(frozen=True)
class Period:
    factories: Factories
    first: int  # yyyymm, inclusive
    last: int


# -- what the port answers -------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineCounts:
    month: int
    milestone: str  # action deadlines as "action"
    on_time: int
    late: int
    cancelled: int
    breached: int  # still pending, past due (counted live)


@dataclass(frozen=True)
class CaseCounts:
    month: int
    outcome: str  # '' while the case is open
    cases: int
    cycle_seconds: int  # summed over the closed ones


@dataclass(frozen=True)
class CycleBucket:
    days: int  # whole days from opening to closing; the last bucket holds "this many or more"
    cases: int


@dataclass(frozen=True)
class DepartmentCounts:
    month: int
    department: str  # '' for parties without a department
    cases: int
    share_bp: int  # the department's shares summed, in hundredths of a percent


@dataclass(frozen=True)
class AccidentCounts:
    month: int
    dimension: str  # "cause" or "loss"
    accident_class: str
    cases: int
    loss_cents: int


@dataclass(frozen=True)
class OverdueDeadline:
    number: str
    factory: str
    milestone: str
    round: int
    due_at: datetime
    case_state: str
    severity: str | None
    responsible_department: str | None


@dataclass(frozen=True)
class OverduePage:
    items: list[OverdueDeadline]
    total: int
    limit: int
    offset: int


class Statistics(Protocol):
    async def deadlines(self, period: Period, now: datetime) -> list[DeadlineCounts]: ...

    async def cases(self, period: Period) -> list[CaseCounts]: ...

    async def cycle_days(self, period: Period) -> list[CycleBucket]:
        """Closed cases (not withdrawn) of the period by whole days to close."""
        ...

    async def departments(self, period: Period) -> list[DepartmentCounts]: ...

    async def accidents(self, period: Period) -> list[AccidentCounts]: ...

    async def overdue(self, factories: Factories, now: datetime, limit: int, offset: int) -> OverduePage:
        """Pending deadlines past due, most overdue first."""
        ...


# -- who sees what -----------------------------------------------------------------------------


def scope(visible: Factories, factory: str | None) -> Factories:
    """The factories a caller's question covers: one they named (404 if they may not see it,
    never disclosed), else all they see."""
    if factory is None:
        return visible
    if visible is not None and factory not in visible:
        raise NotFound(f"factory {factory} not found")
    return frozenset({factory})


# -- the figures -------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class MilestoneFigures:
    milestone: str
    on_time: int
    late: int
    cancelled: int
    breached: int  # pending past due
    on_time_rate: float | None  # on_time / (on_time + late + breached)


@dataclass(frozen=True, kw_only=True)
class MonthMilestoneFigures(MilestoneFigures):
    month: str


@dataclass(frozen=True)
class OnTimeReport:
    first: str
    last: str
    milestones: list[MilestoneFigures]
    by_month: list[MonthMilestoneFigures]


def _milestone_figures(rows: Iterable[DeadlineCounts]) -> tuple[int, int, int, int]:
    on_time = late = cancelled = breached = 0
    for r in rows:
        on_time, late, cancelled, breached = (
            on_time + r.on_time,
            late + r.late,
            cancelled + r.cancelled,
            breached + r.breached,
        )
    return on_time, late, cancelled, breached


async def on_time(stats: Statistics, period: Period, now: datetime) -> OnTimeReport:
    rows = await stats.deadlines(period, now)
    by_milestone: dict[str, list[DeadlineCounts]] = defaultdict(list)
    for r in rows:
        by_milestone[r.milestone].append(r)
    totals = []
    for milestone, group in sorted(by_milestone.items()):
        ok, late, cancelled, breached = _milestone_figures(group)
        totals.append(MilestoneFigures(milestone, ok, late, cancelled, breached, _rate(ok, ok + late + breached)))
    months = [
        MonthMilestoneFigures(
            r.milestone,
            r.on_time,
            r.late,
            r.cancelled,
            r.breached,
            _rate(r.on_time, r.on_time + r.late + r.breached),
            month=month_text(r.month),
        )
        for r in sorted(rows, key=lambda r: (r.month, r.milestone))
    ]
    return OnTimeReport(month_text(period.first), month_text(period.last), totals, months)


SECONDS_PER_DAY = 86400
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class OutcomeFigures:
    outcome: str  # "open" while not closed
    cases: int
    mean_days: float | None  # closed ones


@dataclass(frozen=True)
class MonthCycleFigures:
    month: str
    opened: int
    closed: int  # handled to the end (not withdrawn)
    mean_days: float | None


@dataclass(frozen=True)
class CycleReport:
    first: str
    last: str
    opened: int
    closed: int  # handled to the end: every outcome but withdrawn
    withdrawn: int
    mean_days: float | None  # opening to closing, closed cases
    p50_days: int | None  # whole days (rounded down) of the median closed case
    p90_days: int | None
    by_outcome: list[OutcomeFigures]
    by_month: list[MonthCycleFigures]


def _mean_days(seconds: int, cases: int) -> float | None:
    return round(seconds / cases / SECONDS_PER_DAY, 2) if cases else None


def _percentile(buckets: list[CycleBucket], q: float) -> int | None:
    total = sum(b.cases for b in buckets)
    if not total:
        return None
    seen = 0
    for b in sorted(buckets, key=lambda b: b.days):
        seen += b.cases
        if seen >= q * total:
            return b.days
    return None  # unreachable: the loop ends at the total


async def cycle_times(stats: Statistics, period: Period) -> CycleReport:
    rows = await stats.cases(period)
    buckets = await stats.cycle_days(period)
    outcomes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    months: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # opened, closed, seconds
    for r in rows:
        outcomes[r.outcome][0] += r.cases
        outcomes[r.outcome][1] += r.cycle_seconds
        month = months[r.month]
        month[0] += r.cases
        if r.outcome not in ("", WITHDRAWN):
            month[1] += r.cases
            month[2] += r.cycle_seconds
    closed = sum(n for o, (n, _) in outcomes.items() if o not in ("", WITHDRAWN))
    seconds = sum(s for o, (_, s) in outcomes.items() if o not in ("", WITHDRAWN))
    return CycleReport(
        first=month_text(period.first),
        last=month_text(period.last),
        opened=sum(n for n, _ in outcomes.values()),
        closed=closed,
        withdrawn=outcomes[WITHDRAWN][0] if WITHDRAWN in outcomes else 0,
        mean_days=_mean_days(seconds, closed),
        p50_days=_percentile(buckets, 0.5),
        p90_days=_percentile(buckets, 0.9),
        by_outcome=[
            OutcomeFigures(o or "open", n, _mean_days(s, n) if o else None) for o, (n, s) in sorted(outcomes.items())
        ],
        by_month=[MonthCycleFigures(month_text(m), o, c, _mean_days(s, c)) for m, (o, c, s) in sorted(months.items())],
    )


@dataclass(frozen=True)
class DepartmentFigures:
    department: str | None  # None: parties named without a department
    cases: int  # cases whose current determination names the department
    share_cases: Decimal  # the department's shares summed, in cases (70 % of one case = 0.7)


@dataclass(frozen=True, kw_only=True)
class MonthDepartmentFigures(DepartmentFigures):
    month: str


@dataclass(frozen=True)
class DepartmentReport:
    first: str
    last: str
    departments: list[DepartmentFigures]  # most cases first (Pareto)
    by_month: list[MonthDepartmentFigures]


def _share_cases(share_bp: int) -> Decimal:
    return (Decimal(share_bp) / 10000).normalize()


async def departments(stats: Statistics, period: Period) -> DepartmentReport:
    rows = await stats.departments(period)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        totals[r.department][0] += r.cases
        totals[r.department][1] += r.share_bp
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return DepartmentReport(
        first=month_text(period.first),
        last=month_text(period.last),
        departments=[DepartmentFigures(d or None, n, _share_cases(bp)) for d, (n, bp) in ranked if n],
        by_month=[
            MonthDepartmentFigures(r.department or None, r.cases, _share_cases(r.share_bp), month=month_text(r.month))
            for r in sorted(rows, key=lambda r: (r.month, r.department))
            if r.cases
        ],
    )


@dataclass(frozen=True)
class ClassFigures:
    accident_class: str
    cases: int
    loss: Decimal  # CNY


@dataclass(frozen=True, kw_only=True)
class MonthClassFigures(ClassFigures):
    month: str
    dimension: str  # "cause" or "loss"


@dataclass(frozen=True)
class AccidentReport:
    first: str
    last: str
    by_cause: list[ClassFigures]  # seed 000 §4.2.2
    by_loss: list[ClassFigures]  # seed 000 品質事故處理管理規定 §5.2
    by_month: list[MonthClassFigures]


def _yuan(cents: int) -> Decimal:
    return Decimal(cents) / 100


async def accident_classes(stats: Statistics, period: Period) -> AccidentReport:
    rows = await stats.accidents(period)
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        totals[(r.dimension, r.accident_class)][0] += r.cases
        totals[(r.dimension, r.accident_class)][1] += r.loss_cents

    def of(dimension: str) -> list[ClassFigures]:
        found = [(c, n, cents) for (d, c), (n, cents) in totals.items() if d == dimension and n]
        return [ClassFigures(c, n, _yuan(cents)) for c, n, cents in sorted(found, key=lambda x: (-x[1], x[0]))]

    return AccidentReport(
        month_text(period.first),
        month_text(period.last),
        of("cause"),
        of("loss"),
        [
            MonthClassFigures(
                r.accident_class, r.cases, _yuan(r.loss_cents), month=month_text(r.month), dimension=r.dimension
            )
            for r in sorted(rows, key=lambda r: (r.month, r.dimension, r.accident_class))
            if r.cases
        ],
    )


async def overdue(stats: Statistics, factories: Factories, now: datetime, limit: int, offset: int) -> OverduePage:
    return await stats.overdue(factories, now, limit, offset)
