"""Application factory of the notification service."""

from __future__ import annotations

from fastapi import FastAPI

from cqm_shared.clock import Clock
from cqm_shared.web import create_app as create_service_app
from notification.adapters.orm import audit_log
from notification.bootstrap import bootstrap
from notification.config import NotificationSettings
from notification.entrypoints.api import router
from notification.entrypoints.permissions import MATRIX


def create_app(settings: NotificationSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    service = bootstrap(settings, clock=clock)
    app = create_service_app(
        service.runtime,
        title="Notification 通知",
        description="Notifies everyone who must act, logs every delivery.",
        routers=[router],
        matrix=MATRIX,
        audit_log=audit_log,
    )
    app.state.units_of_work = service.units_of_work
    app.state.policies = service.policies
    app.state.service = service
    return app
