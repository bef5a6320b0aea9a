"""Application factory of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.clock import Clock
from cqm_shared.web import create_app as create_service_app
from cqm_shared.web import publish_factories
from intake.adapters.orm import audit_log
from intake.adapters.statistics import SqlStatistics
from intake.bootstrap import bootstrap
from intake.config import IntakeSettings
from intake.entrypoints.api import router
from intake.entrypoints.permissions import MATRIX
from intake.entrypoints.stats_api import stats_router
from intake.service.unit_of_work import AttachmentStore


def create_app(
    settings: IntakeSettings | None = None, *, clock: Clock | None = None, attachments: AttachmentStore | None = None
) -> FastAPI:
    service = bootstrap(settings, clock=clock, attachments=attachments)
    app = create_service_app(
        service.runtime,
        title="Intake 受理",
        description="Registers customer complaints from people and systems, numbers them, keeps their history.",
        routers=[router, stats_router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.units_of_work = service.units_of_work
    app.state.policies = service.policies
    app.state.settings = service.settings
    app.state.attachments = service.attachments
    app.state.statistics = SqlStatistics(service.runtime.sessions)
    publish_factories(app, service.policies.factories)
    return app
