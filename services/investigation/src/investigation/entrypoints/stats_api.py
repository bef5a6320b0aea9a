"""HTTP API of the statistics investigation owns (DOMAIN.md §6), permission `stats:read`.

Months are `yyyy-mm`, inclusive, by the month a case opened; by default the twelve months up to
the current one. Without `factory` the figures cover every factory the caller sees; a factory
they may not see answers 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from investigation.service import statistics as stats
from investigation.service.statistics import (
    AccidentReport,
    CycleReport,
    DepartmentReport,
    OnTimeReport,
    OverduePage,
    Period,
    Statistics,
)

stats_router = APIRouter(prefix="/api/v1/stats/investigations", tags=["statistics"])

READ = require("stats:read")
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
FactoryParam = Annotated[str | None, Query(max_length=10, description="one factory (default: all you see)")]
FromParam = Annotated[str | None, Query(alias="from", pattern=MONTH, description="first month, yyyy-mm")]
ToParam = Annotated[
    str | None, Query(alias="to", pattern=MONTH, description="last month, yyyy-mm (default: this month)")
]


def _statistics(request: Request) -> Statistics:
    found: Statistics = request.app.state.statistics
    return found


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.runtime.clock.now()
    return now


def _period(request: Request, principal: Principal, factory: str | None, first: str | None, last: str | None) -> Period:
    now = _now(request)
    to = stats.month_number(last) if last else now.year * 100 + now.month
    start = stats.month_number(first) if first else stats.months_back(to, 11)
    # `from` after `to` is an empty period (answered with no figures), as in intake's counts.
    return Period(stats.scope(principal.visible_factories(), factory), start, to)


@stats_router.get("/on-time", response_model=OnTimeReport, summary="On-time rate per milestone")
async def on_time(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    factory: FactoryParam = None,
    first: FromParam = None,
    last: ToParam = None,
) -> OnTimeReport:
    """Deadlines met on time, late, cancelled, and pending past due (breached) per milestone.
    Rate: on time / (on time + late + breached)."""
    period = _period(request, principal, factory, first, last)
    return await stats.on_time(_statistics(request), period, _now(request))


@stats_router.get("/cycle-times", response_model=CycleReport, summary="Cycle times, opening to closing")
async def cycle_times(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    factory: FactoryParam = None,
    first: FromParam = None,
    last: ToParam = None,
) -> CycleReport:
    """Cases opened and closed, mean and percentile days to close (withdrawn cases apart)."""
    return await stats.cycle_times(_statistics(request), _period(request, principal, factory, first, last))


@stats_router.get("/departments", response_model=DepartmentReport, summary="Cases by responsible department")
async def departments(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    factory: FactoryParam = None,
    first: FromParam = None,
    last: ToParam = None,
) -> DepartmentReport:
    """Per department of the current determination: cases, and its shares summed in cases."""
    return await stats.departments(_statistics(request), _period(request, principal, factory, first, last))


@stats_router.get("/accident-classes", response_model=AccidentReport, summary="Accident classes, by cause and loss")
async def accident_classes(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    factory: FactoryParam = None,
    first: FromParam = None,
    last: ToParam = None,
) -> AccidentReport:
    """Cases and losses (CNY) per accident class of the current determination."""
    return await stats.accident_classes(_statistics(request), _period(request, principal, factory, first, last))


@stats_router.get("/overdue", response_model=OverduePage, summary="Overdue deadlines, most overdue first")
async def overdue(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    factory: FactoryParam = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> OverduePage:
    """Pending deadlines past their due time, of open and closed cases alike."""
    factories = stats.scope(principal.visible_factories(), factory)
    return await stats.overdue(_statistics(request), factories, _now(request), limit, offset)
