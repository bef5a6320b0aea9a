"""HTTP API of intake's complaint statistics (DOMAIN.md §6), permission `stats:read`.

Periods are days `yyyy-mm-dd`, inclusive, in each factory's calendar; by default the twelve
months up to the current one. Without `factory` the figures cover every factory the caller
sees; a factory they may not see answers with nothing (as `GET /api/v1/stats/complaints`
always has), an unknown one with 422. `from` after `to` is an empty period.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cqm_shared.policy import PolicyBook
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from intake.domain.policy import IntakePolicy
from intake.entrypoints.api import SearchParams, _filter, _uow
from intake.service import statistics as stats
from intake.service.handlers import complaint_counts
from intake.service.statistics import (
    By,
    Grain,
    ParetoReport,
    RepeatReport,
    Scope,
    Statistics,
    TrendReport,
)

stats_router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

READ = require("stats:read")
_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_day(value: object) -> object:
    """A calendar day as `yyyy-mm-dd` only (pydantic would also take a date-time at midnight)."""
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        raise ValueError("expected a date yyyy-mm-dd")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


class StatsParams(BaseModel):
    """The complaints a statistic covers."""

    model_config = ConfigDict(extra="forbid")

    factory: str | None = Field(
        default=None, pattern=r"^[A-Z][A-Z0-9]{1,9}$", description="one factory (default: every one you see)"
    )
    product: str | None = Field(
        default=None,
        pattern=r"^[^\x00-\x1f\x7f]{1,200}$",
        description="one product: its part number (料号), or its model (型号) if it has none",
    )
    from_: Day | None = Field(
        default=None, alias="from", description="first day, yyyy-mm-dd (default: the 1st, eleven months before `to`)"
    )
    to: Day | None = Field(default=None, description="last day, yyyy-mm-dd (default: the end of this month)")


class TrendParams(StatsParams):
    grain: Grain = Field(default=Grain.MONTH, description="periods of the series")
    by: By | None = Field(default=None, description="one line per factory, product, defect type or channel")


class RepeatParams(StatsParams):
    grain: Grain = Field(default=Grain.MONTH, description="periods of the repeat rate")
    top: int = Field(default=10, ge=1, le=100, description="how many of the most repeated products")


def _statistics(request: Request) -> Statistics:
    found: Statistics = request.app.state.statistics
    return found


def _today(request: Request) -> date:
    """Today in the calendar of the factory furthest ahead (so the current month is nobody's future)."""
    now: datetime = request.app.state.runtime.clock.now()
    policies: PolicyBook[IntakePolicy] = request.app.state.policies
    return max((now.astimezone(policies.for_factory(f).zone).date() for f in policies.factories), default=now.date())


def _factories(request: Request, principal: Principal, factory: str | None) -> frozenset[str] | None:
    """The factories asked about: the one named (none if the caller may not see it), else all they see."""
    if factory is None:
        return principal.visible_factories()
    if factory not in request.app.state.policies.factories:
        raise RequestValidationError(
            [{"loc": ("query", "factory"), "msg": f"unknown factory {factory}", "type": "unknown_factory"}]
        )
    return frozenset({factory}) if principal.can_see(factory) else frozenset()


def _scope(request: Request, principal: Principal, params: StatsParams) -> Scope:
    first, last = stats.default_period(_today(request), params.from_, params.to)
    return Scope(_factories(request, principal, params.factory), first, last, params.product)


@stats_router.get(
    "/complaints/trend", response_model=TrendReport, summary="Complaint counts per month, quarter or year (trend)"
)
async def trend(
    request: Request, principal: Annotated[Principal, Depends(READ)], params: Annotated[TrendParams, Query()]
) -> TrendReport:
    """Counted complaints, repeats and withdrawn ones per period, as one line or one per factory,
    product, defect type ('' = 未分类) or channel."""
    scope = _scope(request, principal, params)
    return await stats.trend(_statistics(request), scope, params.grain, params.by)


@stats_router.get("/complaints/pareto", response_model=ParetoReport, summary="Pareto of defect types (不良类型)")
async def pareto(
    request: Request, principal: Annotated[Principal, Depends(READ)], params: Annotated[StatsParams, Query()]
) -> ParetoReport:
    """Counted complaints per defect type, most first, with its share and the cumulative share
    (percent, one decimal, as text)."""
    return await stats.pareto(_statistics(request), _scope(request, principal, params))


@stats_router.get("/complaints/repeats", response_model=RepeatReport, summary="Repeat complaints and repeat rate")
async def repeat_complaints(
    request: Request, principal: Annotated[Principal, Depends(READ)], params: Annotated[RepeatParams, Query()]
) -> RepeatReport:
    """Repeats (same customer, order and part within the policy's window, DOMAIN.md §2) per
    period, the repeat rate (repeats / (complaints + repeats)) and the most repeated products."""
    scope = _scope(request, principal, params)
    return await stats.repeats(_statistics(request), scope, params.grain, params.top)


class ComplaintCounts(BaseModel):
    complaints: int = Field(description="counted complaints: no repeats, no withdrawn")
    repeats: int
    withdrawn: int
    by_month: dict[str, int]
    by_channel: dict[str, int]


def _unfiltered(params: SearchParams) -> bool:
    """Only factories asked for: the rollups answer (every other filter reads the rows)."""
    return all(
        value is None
        for value in (params.status, params.customer, params.part, params.severity, params.q, params.from_, params.to)
    )


@stats_router.get("/complaints", response_model=ComplaintCounts, summary="Counts by month and channel")
async def counts(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    params: Annotated[SearchParams, Query()],
) -> ComplaintCounts:
    found = _filter(request, principal, params.model_copy(update={"include_repeats": True}))
    if found is None:
        return ComplaintCounts(complaints=0, repeats=0, withdrawn=0, by_month={}, by_channel={})
    if _unfiltered(params):
        factories = frozenset({found.factory}) if found.factory else found.factories
        return ComplaintCounts.model_validate(await stats.overview(_statistics(request), factories))
    return ComplaintCounts.model_validate(await complaint_counts(_uow(request, principal), found))
