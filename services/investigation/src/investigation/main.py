"""Application factory of the investigation service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.clock import Clock
from cqm_shared.web import create_app as create_service_app
from investigation.adapters.orm import audit_log
from investigation.adapters.statistics import SqlStatistics
from investigation.bootstrap import bootstrap
from investigation.config import InvestigationSettings
from investigation.entrypoints.api import router
from investigation.entrypoints.permissions import MATRIX
from investigation.entrypoints.stats_api import stats_router


def create_app(settings: InvestigationSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    service = bootstrap(settings, clock=clock)
    app = create_service_app(
        service.runtime,
        title="Investigation 调查",
        description="Investigation cases: triage, containment, root cause, responsibility, CAPA, reply.",
        routers=[router, stats_router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.units_of_work = service.units_of_work
    app.state.statistics = SqlStatistics(service.runtime.sessions)
    app.state.policies = service.policies
    app.state.clock = service.clock
    return app
