"""Application factory of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    COMPLAINT_AMENDED,
    COMPLAINT_REGISTERED,
    COMPLAINT_REJECTED,
    COMPLAINT_SUBMITTED,
    COMPLAINT_WITHDRAWN,
    INVESTIGATION_TRIAGED,
    ComplaintAmended,
    ComplaintRejected,
    ComplaintWithdrawn,
)
from cqm_shared.db import utcnow
from cqm_shared.messaging.consumer import Subscription
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.web import create_app as create_service_app
from cqm_shared.web import publish_factories
from intake.adapters.orm import audit_log, tables
from intake.adapters.storage import build_store
from intake.config import IntakeSettings
from intake.domain.policy import IntakePolicy
from intake.entrypoints.api import router, stats_router
from intake.entrypoints.permissions import MATRIX
from intake.service.handlers import on_complaint_submitted, on_investigation_triaged


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    policies = PolicyBook(settings.policy_dir, "intake", IntakePolicy)
    subscriptions = [
        Subscription(
            purpose="submissions",
            handlers={COMPLAINT_SUBMITTED: on_complaint_submitted(policies)},
            description=(
                "complaint.submitted from other systems (CRM, ERP, portal): registered exactly once per event id "
                "and per (source, external_ref); invalid ones are answered with complaint.rejected."
            ),
        ),
        Subscription(
            purpose="investigations",
            handlers={INVESTIGATION_TRIAGED: on_investigation_triaged},
            description="Keeps the triage severity beside the complaint for search.",
        ),
    ]
    runtime = ServiceRuntime(
        settings,
        tables=tables,
        subscriptions=subscriptions,
        publishes={
            COMPLAINT_REGISTERED: ComplaintRecord,
            COMPLAINT_REJECTED: ComplaintRejected,
            COMPLAINT_AMENDED: ComplaintAmended,
            COMPLAINT_WITHDRAWN: ComplaintWithdrawn,
        },
    )
    app = create_service_app(
        runtime,
        title="Intake 受理",
        description="Registers customer complaints from people and systems, numbers them, keeps their history.",
        routers=[router, stats_router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.policies = policies
    app.state.settings = settings
    app.state.clock = utcnow  # registration time; replaceable so tests can cross a month boundary
    app.state.attachments = build_store(settings)
    publish_factories(app, policies.factories)
    return app
