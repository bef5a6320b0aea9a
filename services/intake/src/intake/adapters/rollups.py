"""What a complaint adds to the statistics rollups (`stats_complaint_days`, `_months`, `_years`). Pure.

A complaint's *projection* is the handful of facts the rollups count: its factory, the day it
was registered (the factory's calendar), its product, defect type and channel, and what it
counts as. The repository builds the projection stored before a change (from the row) and the
one after it (from the `Complaint`) and upserts the difference, in the transaction of the
change: every rollup stays equal to a GROUP BY over the complaint rows, however often a
complaint is corrected or withdrawn.

What a complaint counts as agrees with the raw counts (`tally` in repository.py): a repeat of
an earlier complaint is linked to it and counted as a repeat, never again as a complaint
(DOMAIN.md §2 "link, don't double count"); a withdrawn complaint is counted apart.

Each complaint adds to five *dimensions*, in a day, a month and a year table alike, so that
every question of the statistics API reads a few rows per factory and period whatever the
number of complaints (DOMAIN.md §6; ARCHITECTURE.md "Statistics at scale"):

| dimension             | product column | key column  | answers                                |
|-----------------------|----------------|-------------|----------------------------------------|
| `channel`             | ''             | channel     | totals, by factory, by channel         |
| `defect_type`         | ''             | defect type | by defect type, the Pareto             |
| `product`             | ''             | product     | by product                             |
| `product_channel`     | product        | channel     | one product: totals, by factory/channel|
| `product_defect_type` | product        | defect type | one product by defect type, its Pareto |

Every question thus fixes the dimension and the product column, and reads a range of periods:
the leading columns of the primary key. The coarsest table the question allows answers most of
it (see `spans`): whole years from the year table (when the answer is per year or for the whole
period), whole months from the month table, and the days of a month the period covers only in
part (its first and last month at most) from the day table.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from cqm_shared.contracts.complaint import ComplaintRecord, ComplaintStatus
from intake.domain.model import Complaint
from intake.service.statistics import By

DAYS = "stats_complaint_days"
MONTHS = "stats_complaint_months"
YEARS = "stats_complaint_years"

CHANNEL = "channel"
DEFECT_TYPE = "defect_type"
PRODUCT = "product"
PRODUCT_CHANNEL = "product_channel"
PRODUCT_DEFECT_TYPE = "product_defect_type"
DIMENSIONS = (CHANNEL, DEFECT_TYPE, PRODUCT, PRODUCT_CHANNEL, PRODUCT_DEFECT_TYPE)

COMPLAINT, REPEAT, WITHDRAWN = "complaint", "repeat", "withdrawn"
_COUNTERS = {COMPLAINT: (1, 0, 0), REPEAT: (0, 1, 0), WITHDRAWN: (0, 0, 1)}  # complaints, repeats, withdrawn

# (table name, (dimension, product, day, month or year, factory, key)) -> (complaints, repeats, withdrawn)
RollupKey = tuple[str, str, int, str, str]
Key = tuple[str, RollupKey]
Deltas = dict[Key, tuple[int, ...]]


@dataclass(frozen=True)
class Projection:
    factory: str
    day: int  # yyyymmdd of registration, the factory's calendar
    product: str  # part number, else model, else ''
    defect_type: str  # '' when not classified (shown as 未分类)
    channel: str
    counted_as: str  # COMPLAINT, REPEAT or WITHDRAWN


def product_key(part_number: str | None, model: str | None) -> str:
    """A product is named by its part number (料号), else its model (型号)."""
    return part_number or model or ""


def counted_as(status: str, repeat_of: str | None) -> str:
    """A repeat counts as a repeat (withdrawn or not); otherwise a withdrawn one as withdrawn."""
    if repeat_of is not None:
        return REPEAT
    return WITHDRAWN if status == ComplaintStatus.WITHDRAWN.value else COMPLAINT


def record_projection(factory: str, day: int, record: ComplaintRecord) -> Projection:
    return Projection(
        factory=factory,
        day=day,
        product=product_key(record.product.part_number, record.product.model),
        defect_type=record.defect_type or "",
        channel=record.channel.value,
        counted_as=counted_as(record.status.value, record.repeat_of),
    )


def projection(complaint: Complaint) -> Projection:
    return record_projection(complaint.factory, complaint.day, complaint.details)


def dimension_keys(p: Projection) -> list[tuple[str, str, str]]:
    """(dimension, product, key) of the five rows a complaint counts in, per period."""
    return [
        (CHANNEL, "", p.channel),
        (DEFECT_TYPE, "", p.defect_type),
        (PRODUCT, "", p.product),
        (PRODUCT_CHANNEL, p.product, p.channel),
        (PRODUCT_DEFECT_TYPE, p.product, p.defect_type),
    ]


def contributions(p: Projection) -> Deltas:
    """Every rollup counter this complaint adds to: five rows of its day, month and year each."""
    counters = _COUNTERS[p.counted_as]
    out: Deltas = {}
    for dimension, product, key in dimension_keys(p):
        out[(DAYS, (dimension, product, p.day, p.factory, key))] = counters
        out[(MONTHS, (dimension, product, p.day // 100, p.factory, key))] = counters
        out[(YEARS, (dimension, product, p.day // 10000, p.factory, key))] = counters
    return out


def difference(new: Mapping[Key, tuple[int, ...]], old: Mapping[Key, tuple[int, ...]]) -> Deltas:
    """new − old, without the keys that did not change."""
    out: Deltas = {}
    for key in new.keys() | old.keys():
        after, before = new.get(key, (0, 0, 0)), old.get(key, (0, 0, 0))
        delta = tuple(a - b for a, b in zip(after, before, strict=True))
        if any(delta):
            out[key] = delta
    return out


def accumulate(into: dict[Key, tuple[int, ...]], deltas: Iterable[tuple[Key, tuple[int, ...]]]) -> None:
    for key, delta in deltas:
        known = into.get(key)
        into[key] = delta if known is None else tuple(a + b for a, b in zip(known, delta, strict=True))


# -- reading: which rows answer a question -----------------------------------------------------------


def dimension_for(by: By | None, product: str | None) -> tuple[str, str, str | None]:
    """The rows that answer a question grouped `by` (or not), of one product or all: their
    dimension, the product column they have, and the column that holds the value of `by`
    (None: no grouping; a product's own rows name it in `product`)."""
    if product is None:
        if by is By.DEFECT_TYPE:
            return DEFECT_TYPE, "", "key"
        if by is By.PRODUCT:
            return PRODUCT, "", "key"
        return CHANNEL, "", {By.CHANNEL: "key", By.FACTORY: "factory", None: None}[by]
    if by is By.DEFECT_TYPE:
        return PRODUCT_DEFECT_TYPE, product, "key"
    # totals, by factory, channel or product (itself): its rows per channel count each complaint once
    return PRODUCT_CHANNEL, product, {By.CHANNEL: "key", By.FACTORY: "factory", By.PRODUCT: "product", None: None}[by]


def day_number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def month_number(day: date) -> int:
    return day.year * 100 + day.month


def _shift(month: int, months: int) -> int:
    index = (month // 100) * 12 + month % 100 - 1 + months
    return (index // 12) * 100 + index % 12 + 1


@dataclass(frozen=True)
class Spans:
    """Where the counters of `first`..`last` are, each range inclusive."""

    years: tuple[int, int] | None  # yyyy: whole years
    months: tuple[tuple[int, int], ...]  # yyyymm: whole months (of the years only partly covered)
    days: tuple[tuple[int, int], ...]  # yyyymmdd: the days of the months only partly covered


def spans(first: date, last: date, *, years: bool = False) -> Spans:
    """The days, months and (if `years`: the answer needs no finer period) years to read."""
    if first > last:
        return Spans(None, (), ())
    starts_whole = first.day == 1
    ends_whole = last.day == calendar.monthrange(last.year, last.month)[1]
    head, tail = month_number(first), month_number(last)
    if head == tail and not (starts_whole and ends_whole):
        return Spans(None, (), ((day_number(first), day_number(last)),))
    days = []
    if not starts_whole:
        days.append((day_number(first), head * 100 + calendar.monthrange(first.year, first.month)[1]))
        head = _shift(head, 1)
    if not ends_whole:
        days.append((tail * 100 + 1, day_number(last)))
        tail = _shift(tail, -1)
    if head > tail:
        return Spans(None, (), tuple(days))
    whole_first = head // 100 if head % 100 == 1 else head // 100 + 1
    whole_last = tail // 100 if tail % 100 == 12 else tail // 100 - 1
    if not years or whole_first > whole_last:
        return Spans(None, ((head, tail),), tuple(days))
    months = []
    if head < whole_first * 100 + 1:
        months.append((head, (whole_first - 1) * 100 + 12))
    if tail > whole_last * 100 + 12:
        months.append(((whole_last + 1) * 100 + 1, tail))
    return Spans((whole_first, whole_last), tuple(months), tuple(days))
