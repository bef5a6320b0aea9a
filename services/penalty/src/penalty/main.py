"""Application factory of the penalty service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.clock import Clock
from cqm_shared.web import create_app as create_service_app
from penalty.adapters.orm import audit_log
from penalty.adapters.statistics import SqlCostStatistics
from penalty.bootstrap import bootstrap
from penalty.config import PenaltySettings
from penalty.entrypoints.api import router
from penalty.entrypoints.permissions import MATRIX
from penalty.entrypoints.stats_api import stats_router


def create_app(settings: PenaltySettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    service = bootstrap(settings, clock=clock)
    app = create_service_app(
        service.runtime,
        title="Penalty 考核",
        description="Penalty assessments from the factory rule table, monthly ledger.",
        routers=[router, stats_router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.units_of_work = service.units_of_work
    app.state.rules = service.rules
    app.state.cost_statistics = SqlCostStatistics(service.runtime.sessions)
    return app
