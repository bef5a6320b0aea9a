"""The cost statistics port on the penalty database: sums of the `stats_cost` rollup.

A few rows per factory, month and department whatever the number of assessments (ten factories
over ten years: some ten thousand), read through the primary key (factory, period, department).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from penalty.adapters.orm import stats_cost
from penalty.service.statistics import CostCounts, Factories


class SqlCostStatistics:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def costs(self, factories: Factories, first: str, last: str, *, by_department: bool) -> list[CostCounts]:
        t = stats_cost
        where: list[sa.ColumnElement[bool]] = [t.c.period.between(first, last)]
        if factories is not None:
            where.append(t.c.factory.in_(sorted(factories)))
        keys: list[Any] = [t.c.period, t.c.department] if by_department else [t.c.period]
        statement = (
            sa.select(
                *keys,
                sa.func.sum(t.c.compensation_fen),
                sa.func.sum(t.c.fines_fen),
                sa.func.sum(t.c.charge_backs_fen),
                sa.func.sum(t.c.lines),
            )
            .where(*where)
            .group_by(*keys)
            .order_by(*keys)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        out = []
        for row in rows:
            period, department = (row[0], row[1]) if by_department else (row[0], None)
            compensation, fines, charge_backs, lines = (int(x or 0) for x in row[len(keys) :])
            out.append(CostCounts(period, department, compensation, fines, charge_backs, lines))
        return out
