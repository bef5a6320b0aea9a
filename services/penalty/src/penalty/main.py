"""Application factory of the penalty service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.contracts.events import RESPONSIBILITY_DETERMINED
from cqm_shared.messaging.consumer import Subscription
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.web import create_app as create_service_app
from penalty.adapters.orm import audit_log, tables
from penalty.config import PenaltySettings
from penalty.entrypoints.api import router
from penalty.entrypoints.permissions import MATRIX
from penalty.service.handlers import on_responsibility_determined


def create_app(settings: PenaltySettings | None = None) -> FastAPI:
    settings = settings or PenaltySettings()
    determinations = Subscription(
        purpose="responsibility",
        handlers={RESPONSIBILITY_DETERMINED: on_responsibility_determined},
        description="Opens a penalty assessment for every responsibility determination.",
    )
    runtime = ServiceRuntime(settings, tables=tables, subscriptions=[determinations])
    return create_service_app(
        runtime,
        title="Penalty 考核",
        description="Penalty assessments from the factory rule table, monthly ledger.",
        routers=[router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
