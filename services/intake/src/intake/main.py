"""Application factory of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import COMPLAINT_REGISTERED
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.web import create_app as create_service_app
from cqm_shared.web import publish_factories
from intake.adapters.orm import audit_log, tables
from intake.config import IntakeSettings
from intake.domain.policy import IntakePolicy
from intake.entrypoints.api import router
from intake.entrypoints.permissions import MATRIX


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    policies = PolicyBook(settings.policy_dir, "intake", IntakePolicy)
    runtime = ServiceRuntime(settings, tables=tables, publishes={COMPLAINT_REGISTERED: ComplaintRecord})
    app = create_service_app(
        runtime,
        title="Intake 受理",
        description="Registers customer complaints, numbers them and publishes complaint.registered.",
        routers=[router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.policies = policies
    publish_factories(app, policies.factories)
    return app
