"""What the monthly quality meeting looks at, gathered from the services that own each figure
(DOMAIN.md §6): intake (counts, trends, Pareto of defect types, repeats), investigation
(on-time rates, cycle times, responsible departments) and penalty (cost of poor quality).

The calls go out together; a figure the user's role may not read, or a service that is down,
leaves its own panel saying so and the rest of the dashboard intact.
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from console.service.backends import ServiceApi
from console.service.gathering import Answers, gather_named

Grain = Literal["month", "quarter", "year"]


@dataclass(frozen=True)
class DashboardQuery:
    first: str  # yyyy-mm
    last: str  # yyyy-mm
    grain: Grain = "month"
    factory: str | None = None
    product: str | None = None

    @classmethod
    def default(cls, now: datetime, grain: Grain = "month") -> DashboardQuery:
        months_back = {"month": 11, "quarter": 11, "year": 59}[grain]
        index = now.year * 12 + now.month - 1 - months_back
        return cls(f"{index // 12:04d}-{index % 12 + 1:02d}", f"{now.year:04d}-{now.month:02d}", grain)

    @property
    def first_day(self) -> str:
        return f"{self.first}-01"

    @property
    def last_day(self) -> str:
        year, month = (int(x) for x in self.last.split("-"))
        return f"{self.last}-{calendar.monthrange(year, month)[1]:02d}"


Figures = Answers


async def gather(api: ServiceApi, q: DashboardQuery) -> Figures:
    days = {"from": q.first_day, "to": q.last_day, "factory": q.factory, "product": q.product}
    months = {"from": q.first, "to": q.last, "factory": q.factory}
    calls: dict[str, Awaitable[Any]] = {
        "trend_factory": api.get(
            "intake", "/api/v1/stats/complaints/trend", {**days, "grain": q.grain, "by": "factory"}
        ),
        "trend_product": api.get(
            "intake", "/api/v1/stats/complaints/trend", {**days, "grain": q.grain, "by": "product"}
        ),
        "pareto": api.get("intake", "/api/v1/stats/complaints/pareto", days),
        "repeats": api.get("intake", "/api/v1/stats/complaints/repeats", {**days, "grain": q.grain}),
        "on_time": api.get("investigation", "/api/v1/stats/investigations/on-time", months),
        "cycle": api.get("investigation", "/api/v1/stats/investigations/cycle-times", months),
        "departments": api.get("investigation", "/api/v1/stats/investigations/departments", months),
        "cost": api.get("penalty", "/api/v1/stats/penalties/cost", {**months, "grain": q.grain, "by": "period"}),
    }
    return await gather_named(calls)
