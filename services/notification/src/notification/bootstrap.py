"""Composition root of notification: the one place its parts are chosen and wired.

Tests swap parts here (a fake clock, other settings) instead of patching modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cqm_shared.clock import Clock, SystemClock
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.sql_uow import sql_units_of_work
from cqm_shared.uow import Actor, InboxEntry
from notification.adapters.orm import audit_log, tables
from notification.adapters.publishing import to_public
from notification.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification.config import NotificationSettings
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.consumers import subscriptions

SOURCE = "/services/notification"


@dataclass(frozen=True)
class NotificationService:
    settings: NotificationSettings
    clock: Clock
    policies: PolicyBook[NotificationPolicy]
    runtime: ServiceRuntime
    units_of_work: Callable[[Actor, InboxEntry | None], SqlNotificationUnitOfWork]


def bootstrap(settings: NotificationSettings | None = None, *, clock: Clock | None = None) -> NotificationService:
    settings = settings or NotificationSettings()
    clock = clock or SystemClock()
    policies = PolicyBook(settings.policy_dir, "notification", NotificationPolicy)
    runtime = ServiceRuntime(settings, tables=tables, clock=clock)
    units_of_work = sql_units_of_work(
        runtime, SqlNotificationUnitOfWork, audit=audit_log, translate=to_public, source=SOURCE
    )
    runtime.subscribe(subscriptions(policies), units_of_work)
    return NotificationService(settings, clock, policies, runtime, units_of_work)
