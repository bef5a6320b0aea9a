"""Application factory of the notification service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.contracts.events import COMPLAINT_REGISTERED, INVESTIGATION_OPENED
from cqm_shared.messaging.consumer import Subscription
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.web import create_app as create_service_app
from notification.adapters.orm import audit_log, tables
from notification.config import NotificationSettings
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.api import router
from notification.entrypoints.permissions import MATRIX
from notification.service.handlers import on_complaint_registered, on_investigation_opened


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    policies = PolicyBook(settings.policy_dir, "notification", NotificationPolicy)
    subscriptions = [
        Subscription(
            purpose="complaints",
            handlers={COMPLAINT_REGISTERED: on_complaint_registered(policies)},
            description="Tells QE and R&D after-sales of new complaints; the quality head of batch returns.",
        ),
        Subscription(
            purpose="investigations",
            handlers={INVESTIGATION_OPENED: on_investigation_opened(policies)},
            description="Tells QE and customer service the deadlines of a new case.",
        ),
    ]
    runtime = ServiceRuntime(settings, tables=tables, subscriptions=subscriptions)
    app = create_service_app(
        runtime,
        title="Notification 通知",
        description="Notifies everyone who must act, logs every delivery.",
        routers=[router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.policies = policies
    return app
