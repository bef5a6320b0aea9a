"""The statistics port on the intake database: sums over the `stats_complaint_*` rollups.

A question reads one dimension's rows (see rollups.py): whole years from the year table when
the answer is per year or for the whole period, whole months from the month table, the days of
a partly covered first or last month from the day table, each summed in SQL per period of the
grain and value of `by`. The rows read grow with factories × periods × keys, never with the
number of complaints.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intake.adapters import rollups
from intake.adapters.orm import stats_complaint_days, stats_complaint_months, stats_complaint_years
from intake.service.statistics import By, Counts, Grain, Scope


def _period(month: Any, grain: Grain | None) -> Any:
    """`Counts.period` of a month column or expression (yyyymm), in integer arithmetic; None: no grain."""
    if grain is None:
        return None
    if grain is Grain.MONTH:
        return month
    if grain is Grain.QUARTER:
        return (month // 100) * 10 + (month % 100 - 1) // 3 + 1
    return month // 100


def statement(
    table: sa.Table, within: sa.ColumnElement[bool], period: Any, scope: Scope, by: By | None
) -> sa.Select[Any]:
    """SELECT period, key, sums … GROUP BY period, key of one rollup table (constants are not
    grouped: PostgreSQL refuses them in GROUP BY)."""
    dimension, product, column = rollups.dimension_for(by, scope.product)
    key = table.c[column] if column else None
    conditions = [table.c.dimension == dimension, table.c.product == product, within]
    if scope.factories is not None:
        conditions.append(table.c.factory.in_(sorted(scope.factories)))
    groups = [e for e in (period, key) if e is not None]
    return (
        sa.select(
            period if period is not None else sa.literal(0),
            key if key is not None else sa.literal(""),
            sa.func.sum(table.c.complaints),
            sa.func.sum(table.c.repeats),
            sa.func.sum(table.c.withdrawn),
        )
        .where(*conditions)
        .group_by(*groups)
    )


class SqlStatistics:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def counts(self, scope: Scope, grain: Grain | None, by: By | None) -> list[Counts]:
        found = rollups.spans(scope.first, scope.last, years=grain in (Grain.YEAR, None))
        y, m, d = stats_complaint_years, stats_complaint_months, stats_complaint_days
        statements = []  # one per range: each is read off the primary key
        if found.years is not None:
            year = y.c.year if grain is Grain.YEAR else None  # years are read only per year or for the whole
            statements.append(statement(y, y.c.year.between(*found.years), year, scope, by))
        for first, last in found.months:
            statements.append(statement(m, m.c.month.between(first, last), _period(m.c.month, grain), scope, by))
        for first, last in found.days:
            statements.append(statement(d, d.c.day.between(first, last), _period(d.c.day // 100, grain), scope, by))
        async with self._sessions() as session:
            found_rows = [(await session.execute(select)).all() for select in statements]
        if len(found_rows) == 1:  # most questions: nothing to add up across tables
            return sorted(Counts(int(p), k, int(c), int(r), int(w)) for p, k, c, r, w in found_rows[0] if c or r or w)
        summed: dict[tuple[int, str], list[int]] = {}
        for rows in found_rows:
            for period, key, complaints, repeats, withdrawn in rows:
                counters = summed.setdefault((int(period), key), [0, 0, 0])
                counters[0] += int(complaints)
                counters[1] += int(repeats)
                counters[2] += int(withdrawn)
        return [Counts(period, key, *counters) for (period, key), counters in sorted(summed.items()) if any(counters)]
