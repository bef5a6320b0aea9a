"""Complaint statistics for the monthly quality meeting and the management review (DOMAIN.md §6):
monthly, quarterly and yearly counts and trends per factory, product, defect type and channel;
the Pareto of defect types; repeat complaints.

`Statistics` is the port: the adapter answers counters summed from rollups kept current in the
transaction of every change (ten years answer as fast as one month). The use cases here turn
them into the figures shown (periods, shares, cumulative shares, repeat rates).

What counts (as the raw counts of `GET /api/v1/stats/complaints`): a *complaint* is one that
is neither a repeat nor withdrawn; a *repeat* is linked to the first complaint of its chain and
never counted again as a complaint (DOMAIN.md §2 "link, don't double count"); *withdrawn*
complaints are counted apart. A complaint counts on the day it was registered, in its
factory's calendar (the calendar of its number's month), under its current product (part
number, else model), defect type ('' = not classified, 未分类) and channel.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, NamedTuple, Protocol

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

Factories = frozenset[str] | None  # None: every factory


class Grain(StrEnum):
    MONTH = "month"  # "2026-11"
    QUARTER = "quarter"  # "2026-Q4"
    YEAR = "year"  # "2026"


class By(StrEnum):
    FACTORY = "factory"
    PRODUCT = "product"
    DEFECT_TYPE = "defect_type"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Scope:
    """Which complaints a question covers: registered on `first`..`last` (inclusive, each factory's
    calendar) in these factories, of one product or all."""

    factories: Factories
    first: date
    last: date
    product: str | None = None


class Counts(NamedTuple):  # a tuple: thousands of them are cheap to make, sort and collect
    period: int  # by the grain: yyyymm, yyyy·10 + quarter, yyyy; 0 without a grain
    key: str  # the value of `by` ('' without)
    complaints: int
    repeats: int
    withdrawn: int


class Statistics(Protocol):
    async def counts(self, scope: Scope, grain: Grain | None, by: By | None) -> list[Counts]:
        """The counters of the scope summed per period of `grain` and value of `by`; only
        (period, key) pairs with a count, ordered by period and key."""
        ...


# -- periods ---------------------------------------------------------------------------------------


def period_of(month: int, grain: Grain | None) -> int:
    """The period a month (yyyymm) falls in, numbered as `Counts.period`."""
    if grain is None:
        return 0
    if grain is Grain.MONTH:
        return month
    if grain is Grain.QUARTER:
        return (month // 100) * 10 + (month % 100 - 1) // 3 + 1
    return month // 100


def period_label(period: int, grain: Grain | None) -> str:
    if grain is Grain.MONTH:
        return f"{period // 100:04d}-{period % 100:02d}"
    if grain is Grain.QUARTER:
        return f"{period // 10:04d}-Q{period % 10}"
    if grain is Grain.YEAR:
        return f"{period:04d}"
    return ""


def last_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def default_period(today: date, first: date | None, last: date | None) -> tuple[date, date]:
    """What a question without `from` / `to` covers: the twelve months up to the current one.

    Without `to`, to the end of today's month; without `from`, from the first day of the month
    eleven months before `to`'s. `from` after `to` is an empty period (answered with nothing).
    """
    end = last or last_of_month(today)
    if first is not None:
        return first, end
    index = end.year * 12 + end.month - 1 - 11
    year, month = divmod(index, 12)
    return (date(year, month + 1, 1) if year >= 1 else date.min), end


# -- figures ---------------------------------------------------------------------------------------

TENTH = Decimal("0.1")


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole in percent, one decimal, rounded half up; None of nothing."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, rounding=ROUND_HALF_UP)


def repeat_rate(complaints: int, repeats: int) -> Decimal | None:
    """Repeats among the complaints received (counted ones + repeats; withdrawn ones apart)."""
    return percent(repeats, complaints + repeats)


class TrendPoint(TypedDict):
    """One period and key: counted complaints (no repeats, no withdrawn ones), repeats (linked to
    an earlier complaint, not counted again) and withdrawn complaints (not repeats)."""

    period: Annotated[str, Field(description='"2026-11", "2026-Q4" or "2026"', examples=["2026-11"])]
    key: Annotated[
        str, Field(description="the factory, product, defect type ('' = 未分类) or channel; '' without `by`")
    ]
    complaints: int
    repeats: int
    withdrawn: int


class TrendReport(BaseModel):
    grain: Grain
    by: By | None
    first: date
    last: date
    product: str | None
    series: list[TrendPoint] = Field(description="periods with a count only, by period then key")


class DefectTypeShare(BaseModel):
    defect_type: str = Field(description="'' for complaints without a defect type (未分类)")
    complaints: int
    share: Decimal = Field(description="percent of the total, one decimal", examples=["42.5"])
    cumulative: Decimal = Field(description="percent of the total down to this line, one decimal", examples=["80.0"])


class ParetoReport(BaseModel):
    first: date
    last: date
    product: str | None
    total: int = Field(description="counted complaints of the period")
    defect_types: list[DefectTypeShare] = Field(description="most complaints first")


class RepeatPeriod(BaseModel):
    period: str
    complaints: int
    repeats: int
    repeat_rate: Decimal | None = Field(description="repeats / (complaints + repeats), percent, one decimal")


class RepeatedProduct(BaseModel):
    product: str
    repeats: int
    complaints: int
    repeat_rate: Decimal | None


class RepeatReport(BaseModel):
    grain: Grain
    first: date
    last: date
    product: str | None
    complaints: int
    repeats: int
    repeat_rate: Decimal | None = Field(description="repeats / (complaints + repeats), percent, one decimal")
    periods: list[RepeatPeriod] = Field(description="periods with a count only")
    top_products: list[RepeatedProduct] = Field(description="most repeats first (products with repeats only)")


def _labels(rows: Iterable[Counts], grain: Grain | None) -> dict[int, str]:
    return {period: period_label(period, grain) for period in {r.period for r in rows}}


async def trend(stats: Statistics, scope: Scope, grain: Grain, by: By | None) -> TrendReport:
    rows = await stats.counts(scope, grain, by)
    label = _labels(rows, grain)
    # A series can have thousands of points (ten years × products): plain dicts, built once.
    series: list[TrendPoint] = [
        {
            "period": label[r.period],
            "key": r.key,
            "complaints": r.complaints,
            "repeats": r.repeats,
            "withdrawn": r.withdrawn,
        }
        for r in rows
    ]
    return TrendReport.model_construct(
        grain=grain, by=by, first=scope.first, last=scope.last, product=scope.product, series=series
    )


async def pareto(stats: Statistics, scope: Scope) -> ParetoReport:
    """Defect types by counted complaints, most first (ties by name), with share and cumulative share."""
    ranked = sorted(
        ((r.key, r.complaints) for r in await stats.counts(scope, None, By.DEFECT_TYPE) if r.complaints),
        key=lambda kv: (-kv[1], kv[0]),
    )
    total = sum(n for _, n in ranked)
    lines = []
    running = 0
    for defect_type, n in ranked:
        running += n
        share, cumulative = percent(n, total), percent(running, total)
        assert share is not None and cumulative is not None  # total > 0 when there is a line
        lines.append(DefectTypeShare(defect_type=defect_type, complaints=n, share=share, cumulative=cumulative))
    return ParetoReport(first=scope.first, last=scope.last, product=scope.product, total=total, defect_types=lines)


async def repeats(stats: Statistics, scope: Scope, grain: Grain, top: int) -> RepeatReport:
    periods = await stats.counts(scope, grain, None)
    products = [r for r in await stats.counts(scope, None, By.PRODUCT) if r.repeats]
    products.sort(key=lambda r: (-r.repeats, r.key))
    complaints = sum(r.complaints for r in periods)
    repeated = sum(r.repeats for r in periods)
    return RepeatReport(
        grain=grain,
        first=scope.first,
        last=scope.last,
        product=scope.product,
        complaints=complaints,
        repeats=repeated,
        repeat_rate=repeat_rate(complaints, repeated),
        periods=[
            RepeatPeriod(
                period=period_label(r.period, grain),
                complaints=r.complaints,
                repeats=r.repeats,
                repeat_rate=repeat_rate(r.complaints, r.repeats),
            )
            for r in periods
            if r.complaints or r.repeats
        ],
        top_products=[
            RepeatedProduct(
                product=r.key,
                repeats=r.repeats,
                complaints=r.complaints,
                repeat_rate=repeat_rate(r.complaints, r.repeats),
            )
            for r in products[:top]
        ],
    )


EVER = (date.min, date.max)


async def overview(stats: Statistics, factories: Factories) -> dict[str, object]:
    """The counts of `GET /api/v1/stats/complaints` over every month, from the rollups: totals,
    counted complaints by month and by channel (the shape `tally` gives the raw counts)."""
    rows = await stats.counts(Scope(factories, *EVER), Grain.MONTH, By.CHANNEL)
    by_month: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for r in rows:
        if r.complaints:
            month = period_label(r.period, Grain.MONTH)
            by_month[month] = by_month.get(month, 0) + r.complaints
            by_channel[r.key] = by_channel.get(r.key, 0) + r.complaints
    return {
        "complaints": sum(r.complaints for r in rows),
        "repeats": sum(r.repeats for r in rows),
        "withdrawn": sum(r.withdrawn for r in rows),
        "by_month": dict(sorted(by_month.items())),
        "by_channel": dict(sorted(by_channel.items())),
    }
