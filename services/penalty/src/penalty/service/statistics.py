"""The cost of poor quality (质量成本, DOMAIN.md §6): compensation + penalties per factory,
month / quarter / year and responsible department, for the monthly quality meeting and the
management review.

`CostStatistics` is the port: the adapter sums the `stats_cost` rollup, which the assessment
repository keeps equal to the monthly ledger in the transaction of every change (a year or ten
answer alike in milliseconds). Figures are by ledger month: an assessment counts in the month
its ledger counts it, and a reversal (an assessment replaced or voided after its month closed)
in the month it was reversed in, negative. The use case here picks the factories a caller sees,
buckets the months into quarters or years and turns fen into yuan.

- compensation: the determinations' loss amounts (客诉赔偿额), split by the parties' shares
  between their departments (a supplier's share: no department);
- penalties: the money lines of the assessments (DOMAIN.md §4): fines (罚款) plus suppliers'
  charge-backs (供应商转嫁), each by its line's department (charge-backs: none);
- total = compensation + penalties, the ledger's "cost of poor quality".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from cqm_shared.domain import NotFound
from penalty.domain.ledger import period_of
from penalty.service.rules import RuleSource

Factories = frozenset[str] | None  # None: every factory


class Grain(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class By(StrEnum):
    PERIOD = "period"
    DEPARTMENT = "department"


# -- what the port answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class CostCounts:
    """The rollup summed over the factories asked for: one month (and department)."""

    period: str  # yyyy-mm
    department: str | None  # None when not asked by department; '' for no department
    compensation_fen: int
    fines_fen: int
    charge_backs_fen: int
    lines: int


class CostStatistics(Protocol):
    async def costs(self, factories: Factories, first: str, last: str, *, by_department: bool) -> list[CostCounts]:
        """Months `first`..`last` (yyyy-mm, inclusive) of `factories`, per month (and department)."""
        ...


# -- the months ----------------------------------------------------------------------------------


def month_index(period: str) -> int:
    year, month = (int(x) for x in period.split("-"))
    if not 1 <= month <= 12:
        raise ValueError(f"not a month: {period}")
    return year * 12 + month - 1


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def bucket(period: str, grain: Grain) -> str:
    """The label of the month's month, quarter or year: 2026-11, 2026-Q4, 2026."""
    if grain is Grain.MONTH:
        return period
    year, month = period.split("-")
    return f"{year}-Q{(int(month) - 1) // 3 + 1}" if grain is Grain.QUARTER else year


def default_first(last: str, grain: Grain) -> str:
    """Without `from`: 12 months, 4 quarters or 5 years up to and including `last`'s."""
    index = month_index(last)
    if grain is Grain.MONTH:
        return month_text(index - 11)
    if grain is Grain.QUARTER:
        return month_text(index - index % 3 - 9)
    return month_text(index - index % 12 - 48)


def this_month(rules: RuleSource, factories: Iterable[str], now: datetime) -> str:
    """The current ledger month: the latest of the factories' own (each in its time zone)."""
    months = [period_of(now, rules.for_factory(f).policy.zone) for f in factories]
    return max(months) if months else period_of(now, ZoneInfo("UTC"))


# -- who sees what -----------------------------------------------------------------------------


def scope(visible: Factories, factory: str | None, rules: RuleSource) -> Factories:
    """The factories a question covers: the one named (404 if the caller may not see it or no
    such factory has a policy, as the ledger answers), else all the caller sees."""
    if factory is None:
        return visible
    if visible is not None and factory not in visible:
        raise NotFound(f"factory {factory} not found")
    rules.for_factory(factory)  # an unknown factory is refused, not answered with nothing
    return frozenset({factory})


# -- the figures -------------------------------------------------------------------------------


def yuan(value: int) -> Decimal:
    """Fen to yuan with exactly two places: 123456 -> Decimal('1234.56')."""
    return Decimal(value).scaleb(-2)


@dataclass(frozen=True)
class CostFigures:
    compensation: Decimal  # 客诉赔偿额
    penalties: Decimal  # fines + charge-backs
    fines: Decimal  # 罚款
    charge_backs: Decimal  # 供应商转嫁
    total: Decimal  # compensation + penalties
    lines: int  # fine and charge-back lines, net of reversals

    @classmethod
    def of(cls, compensation: int, fines: int, charge_backs: int, lines: int) -> CostFigures:
        return cls(*_figures(compensation, fines, charge_backs, lines))


def _figures(
    compensation: int, fines: int, charge_backs: int, lines: int
) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal, int]:
    penalties = fines + charge_backs
    return (
        yuan(compensation),
        yuan(penalties),
        yuan(fines),
        yuan(charge_backs),
        yuan(compensation + penalties),
        lines,
    )


@dataclass(frozen=True, kw_only=True)
class CostRow(CostFigures):
    period: str  # 2026-11, 2026-Q4 or 2026
    department: str | None = None  # by department only; None there: no department (suppliers)


@dataclass(frozen=True)
class CostReport:
    grain: Grain
    by: By
    first: str  # yyyy-mm, inclusive
    last: str
    factory: str | None  # the one asked for; None: every factory the caller sees
    rows: list[CostRow]  # by period (then department, largest total first); none without figures
    totals: CostFigures


def _row(period: str, department: str | None, values: list[int]) -> CostRow:
    compensation, penalties, fines, charge_backs, total, lines = _figures(*values)
    return CostRow(compensation, penalties, fines, charge_backs, total, lines, period=period, department=department)


async def cost_of_poor_quality(
    stats: CostStatistics,
    rules: RuleSource,
    *,
    visible: Factories,
    factory: str | None,
    grain: Grain,
    by: By,
    first: str | None,
    last: str | None,
    now: datetime,
) -> CostReport:
    """`first` after `last` is an empty period, answered with no figures."""
    factories = scope(visible, factory, rules)
    if last is None:
        last = this_month(rules, [f for f in rules.factories if factories is None or f in factories], now)
    first = first or default_first(last, grain)
    by_department = by is By.DEPARTMENT
    counts = await stats.costs(factories, first, last, by_department=by_department) if first <= last else []
    sums: dict[tuple[str, str | None], list[int]] = {}
    for c in counts:
        # '' (no department) is shown as None
        key = (bucket(c.period, grain), (c.department or None) if by_department else None)
        known = sums.get(key)
        if known is None:
            sums[key] = [c.compensation_fen, c.fines_fen, c.charge_backs_fen, c.lines]
        else:
            known[0] += c.compensation_fen
            known[1] += c.fines_fen
            known[2] += c.charge_backs_fen
            known[3] += c.lines
    rows = [_row(period, department, values) for (period, department), values in sums.items() if any(values)]
    rows.sort(key=lambda r: (r.period, -r.total, r.department or ""))
    grand = [sum(values[i] for values in sums.values()) for i in range(4)]
    return CostReport(grain, by, first, last, factory, rows, CostFigures.of(*grand))
