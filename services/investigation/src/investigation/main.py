"""Application factory of the investigation service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.contracts.events import COMPLAINT_REGISTERED, INVESTIGATION_OPENED, InvestigationOpened
from cqm_shared.messaging.consumer import Subscription
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.web import create_app as create_service_app
from investigation.adapters.orm import audit_log, tables
from investigation.config import InvestigationSettings
from investigation.domain.policy import InvestigationPolicy
from investigation.entrypoints.api import router
from investigation.entrypoints.permissions import MATRIX
from investigation.service.handlers import on_complaint_registered


def create_app(settings: InvestigationSettings | None = None) -> FastAPI:
    settings = settings or InvestigationSettings()
    policies = PolicyBook(settings.policy_dir, "investigation", InvestigationPolicy)
    complaints = Subscription(
        purpose="complaints",
        handlers={COMPLAINT_REGISTERED: on_complaint_registered(policies)},
        description="Opens a case with its deadlines for every registered complaint.",
    )
    runtime = ServiceRuntime(
        settings,
        tables=tables,
        subscriptions=[complaints],
        publishes={INVESTIGATION_OPENED: InvestigationOpened},
    )
    app = create_service_app(
        runtime,
        title="Investigation 调查",
        description="Investigation cases: triage, containment, root cause, responsibility, CAPA, reply.",
        routers=[router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.policies = policies
    return app
