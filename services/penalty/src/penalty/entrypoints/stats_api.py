"""HTTP API of the cost of poor quality penalty owns (质量成本, DOMAIN.md §6), permission
`costs:read`: compensation + penalties per month, quarter or year, by period or by responsible
department, from the rollup kept with the ledger.

Months are `yyyy-mm`, inclusive, by ledger month; by default the 12 months, 4 quarters or
5 years up to the current one. Without `factory` the figures cover every factory the caller
sees; a factory they may not see (or one without a policy) answers 404, as the ledger does.
Money is decimal strings with two places ("1200.50"), CNY.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from cqm_shared.policy import UnknownFactory
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from penalty.adapters.rule_book import RuleBook
from penalty.entrypoints.api import FACTORY, PERIOD
from penalty.service import statistics as stats
from penalty.service.statistics import By, CostFigures, CostReport, CostRow, CostStatistics, Grain

stats_router = APIRouter(prefix="/api/v1/stats/penalties", tags=["statistics"])

READ = require("costs:read")


class FiguresView(BaseModel):
    compensation: Decimal  # 客诉赔偿额: the determinations' loss amounts
    penalties: Decimal  # fines + charge-backs: the assessments' money lines (DOMAIN.md §4)
    fines: Decimal  # 罚款
    charge_backs: Decimal  # 供应商转嫁: suppliers' shares of the loss
    total: Decimal  # cost of poor quality = compensation + penalties
    lines: int  # fine and charge-back lines counted, net of reversals


def _figures(f: CostFigures) -> dict[str, Any]:
    return {
        "compensation": f.compensation,
        "penalties": f.penalties,
        "fines": f.fines,
        "charge_backs": f.charge_backs,
        "total": f.total,
        "lines": f.lines,
    }


class _PeriodKey(BaseModel):
    period: str  # 2026-11 (month), 2026-Q4 (quarter) or 2026 (year)


class _DepartmentKey(_PeriodKey):
    department: str | None  # the responsible department; null: none (suppliers' charge-backs and shares)


class PeriodRowView(FiguresView, _PeriodKey):  # the key first in JSON: pydantic takes the last base's fields first
    @classmethod
    def of(cls, r: CostRow) -> PeriodRowView:
        return cls(period=r.period, **_figures(r))


class DepartmentRowView(FiguresView, _DepartmentKey):
    @classmethod
    def of(cls, r: CostRow) -> DepartmentRowView:
        return cls(period=r.period, department=r.department, **_figures(r))


class CostReportView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    grain: Grain
    by: By
    first: str = Field(alias="from")  # yyyy-mm, the first month counted
    last: str = Field(alias="to")  # yyyy-mm, the last month counted
    factory: str | None  # the factory asked for; null: every factory the caller sees
    rows: list[DepartmentRowView] | list[PeriodRowView]  # periods in order; those without figures left out
    totals: FiguresView  # of every row

    @classmethod
    def of(cls, report: CostReport) -> CostReportView:
        rows: list[DepartmentRowView] | list[PeriodRowView]
        if report.by is By.DEPARTMENT:
            rows = [DepartmentRowView.of(r) for r in report.rows]
        else:
            rows = [PeriodRowView.of(r) for r in report.rows]
        return cls(
            grain=report.grain,
            by=report.by,
            first=report.first,
            last=report.last,
            factory=report.factory,
            rows=rows,
            totals=FiguresView(**_figures(report.totals)),
        )


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.runtime.clock.now()
    return now


@stats_router.get(
    "/cost",
    response_model=CostReportView,
    summary="Cost of poor quality (质量成本): compensation + penalties per month, quarter or year",
)
async def cost_of_poor_quality(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    grain: Annotated[Grain, Query(description="month, quarter or year")] = Grain.MONTH,
    by: Annotated[By, Query(description="period, or period and responsible department")] = By.PERIOD,
    first: Annotated[
        str | None,
        Query(
            alias="from",
            pattern=PERIOD,
            description="first month, yyyy-mm (default: 12 months, 4 quarters or 5 years up to `to`)",
        ),
    ] = None,
    last: Annotated[
        str | None, Query(alias="to", pattern=PERIOD, description="last month, yyyy-mm (default: the current month)")
    ] = None,
    factory: Annotated[
        str | None, Query(pattern=FACTORY, description="one factory (default: every factory you see)")
    ] = None,
) -> CostReportView:
    """Per ledger month, as the monthly ledger counts it: an assessment in its month, a reversal
    (replaced or voided after its month closed) negative in the month it is reversed in.
    Compensation is split between departments by the parties' shares; penalties are the fines
    and suppliers' charge-backs by their line's department. Total = compensation + penalties,
    the ledger's cost of poor quality. Default range: 12 months, 4 quarters or 5 years up to the
    current month; `from` after `to` answers no figures."""
    statistics: CostStatistics = request.app.state.cost_statistics
    rules: RuleBook = request.app.state.rules
    try:
        report = await stats.cost_of_poor_quality(
            statistics,
            rules,
            visible=principal.visible_factories(),
            factory=factory,
            grain=grain,
            by=by,
            first=first,
            last=last,
            now=_now(request),
        )
    except UnknownFactory as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no factory {exc}") from None
    return CostReportView.of(report)
