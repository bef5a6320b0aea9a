"""The statistics port on the investigation database: rollup sums, plus two bounded raw reads.

Counts come from the `stats_*` rollups (a few hundred rows per factory and year, whatever the
number of cases). Only what changes with the clock is read raw, from the partial index of
pending deadlines: the breached ones per milestone and the overdue list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from investigation.adapters.orm import (
    case_deadlines,
    cases,
    stats_accidents,
    stats_cases,
    stats_cycle_days,
    stats_deadlines,
    stats_departments,
)
from investigation.adapters.rollups import milestone_group
from investigation.service.statistics import (
    AccidentCounts,
    CaseCounts,
    CycleBucket,
    DeadlineCounts,
    DepartmentCounts,
    Factories,
    OverdueDeadline,
    OverduePage,
    Period,
)

# Spelled as a literal, not a bound parameter: both planners use a partial index only when
# the query's predicate visibly implies the index's (`state = 'pending'`).
PENDING = case_deadlines.c.state == sa.literal_column("'pending'")


def _in(column: sa.Column[Any], factories: Factories) -> list[sa.ColumnElement[bool]]:
    return [] if factories is None else [column.in_(sorted(factories))]


def _rollup_where(table: sa.Table, period: Period) -> list[sa.ColumnElement[bool]]:
    return [*_in(table.c.factory, period.factories), table.c.month.between(period.first, period.last)]


class SqlStatistics:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _rows(self, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
        async with self._sessions() as session:
            return [tuple(row) for row in await session.execute(statement)]

    async def deadlines(self, period: Period, now: datetime) -> list[DeadlineCounts]:
        t, d = stats_deadlines, case_deadlines
        settled = await self._rows(
            sa.select(
                t.c.month, t.c.milestone, sa.func.sum(t.c.on_time), sa.func.sum(t.c.late), sa.func.sum(t.c.cancelled)
            )
            .where(*_rollup_where(t, period))
            .group_by(t.c.month, t.c.milestone)
        )
        breached = await self._rows(
            sa.select(d.c.opened_month, d.c.milestone, sa.func.count())
            .where(
                PENDING,
                *_in(d.c.factory, period.factories),
                d.c.due_at < now,
                d.c.opened_month.between(period.first, period.last),
            )
            .group_by(d.c.opened_month, d.c.milestone)
        )
        counts: dict[tuple[int, str], list[int]] = {}
        for month, milestone, on_time, late, cancelled in settled:
            counts[(month, milestone)] = [int(on_time), int(late), int(cancelled), 0]
        for month, milestone, n in breached:
            counts.setdefault((month, milestone_group(milestone)), [0, 0, 0, 0])[3] += int(n)
        return [
            DeadlineCounts(month, milestone, on_time=v[0], late=v[1], cancelled=v[2], breached=v[3])
            for (month, milestone), v in sorted(counts.items())
            if any(v)
        ]

    async def cases(self, period: Period) -> list[CaseCounts]:
        t = stats_cases
        rows = await self._rows(
            sa.select(t.c.month, t.c.outcome, sa.func.sum(t.c.cases), sa.func.sum(t.c.cycle_seconds))
            .where(*_rollup_where(t, period))
            .group_by(t.c.month, t.c.outcome)
        )
        return [CaseCounts(m, o, int(n), int(s)) for m, o, n, s in rows if n]

    async def cycle_days(self, period: Period) -> list[CycleBucket]:
        t = stats_cycle_days
        rows = await self._rows(
            sa.select(t.c.days, sa.func.sum(t.c.cases)).where(*_rollup_where(t, period)).group_by(t.c.days)
        )
        return [CycleBucket(days, int(n)) for days, n in rows if n]

    async def departments(self, period: Period) -> list[DepartmentCounts]:
        t = stats_departments
        rows = await self._rows(
            sa.select(t.c.month, t.c.department, sa.func.sum(t.c.cases), sa.func.sum(t.c.share_bp))
            .where(*_rollup_where(t, period))
            .group_by(t.c.month, t.c.department)
        )
        return [DepartmentCounts(m, d, int(n), int(bp)) for m, d, n, bp in rows if n]

    async def accidents(self, period: Period) -> list[AccidentCounts]:
        t = stats_accidents
        rows = await self._rows(
            sa.select(t.c.month, t.c.dimension, t.c.accident_class, sa.func.sum(t.c.cases), sa.func.sum(t.c.loss_cents))
            .where(*_rollup_where(t, period))
            .group_by(t.c.month, t.c.dimension, t.c.accident_class)
        )
        return [AccidentCounts(m, dim, c, int(n), int(cents)) for m, dim, c, n, cents in rows if n]

    async def overdue(self, factories: Factories, now: datetime, limit: int, offset: int) -> OverduePage:
        d = case_deadlines
        where = [PENDING, *_in(d.c.factory, factories), d.c.due_at < now]
        # The page is cut from the index alone (it holds the order and these columns); only its
        # rows then look up their case.
        page = (
            sa.select(d.c.number, d.c.factory, d.c.milestone, d.c.round, d.c.due_at)
            .where(*where)
            .order_by(d.c.due_at, d.c.number, d.c.milestone, d.c.round)
            .limit(limit)
            .offset(offset)
            .subquery()
        )
        async with self._sessions() as session:
            total = (await session.execute(sa.select(sa.func.count()).select_from(d).where(*where))).scalar_one()
            rows = (
                await session.execute(
                    sa.select(page, cases.c.state, cases.c.severity, cases.c.responsible_department)
                    .join(cases, cases.c.number == page.c.number)
                    .order_by(page.c.due_at, page.c.number, page.c.milestone, page.c.round)
                )
            ).all()
        return OverduePage(
            items=[
                OverdueDeadline(
                    r.number, r.factory, r.milestone, r.round, r.due_at, r.state, r.severity, r.responsible_department
                )
                for r in rows
            ],
            total=int(total),
            limit=limit,
            offset=offset,
        )
