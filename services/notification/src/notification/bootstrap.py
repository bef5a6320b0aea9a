"""Composition root of notification: the one place its parts are chosen and wired.

Tests swap parts here (a fake clock, other settings, senders) instead of patching modules.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cqm_shared.clock import Clock, SystemClock
from cqm_shared.db import is_sqlite
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.sql_uow import sql_units_of_work
from cqm_shared.uow import Actor, InboxEntry, system_actor
from notification.adapters.budget import SqlSendBudget
from notification.adapters.claims import Claims
from notification.adapters.orm import audit_log, notifications, tables, timers
from notification.adapters.publishing import PUBLISHES, to_public
from notification.adapters.sending import PolicySenders
from notification.adapters.templates import JinjaRenderer
from notification.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification.config import NotificationSettings
from notification.domain.policy import NotificationPolicy
from notification.domain.timers import TimerKind
from notification.entrypoints.consumers import subscriptions
from notification.entrypoints.workers import LATENESS, SLA_BREACHES, DueWorker, each
from notification.service.delivering import Deliverer
from notification.service.handlers import Notifying, fire_timer
from notification.service.ports import Senders

SOURCE = "/services/notification"


@dataclass(frozen=True)
class NotificationService:
    settings: NotificationSettings
    clock: Clock
    policies: PolicyBook[NotificationPolicy]
    notifying: Notifying
    runtime: ServiceRuntime
    units_of_work: Callable[[Actor, InboxEntry | None], SqlNotificationUnitOfWork]
    timer_worker: DueWorker
    delivery_worker: DueWorker
    deliverer: Deliverer


def _call_all(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        hook()


def _owner(service: str) -> str:
    """Who holds a claim: this process, recognisable in the tables."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def bootstrap(
    settings: NotificationSettings | None = None, *, clock: Clock | None = None, senders: Senders | None = None
) -> NotificationService:
    settings = settings or NotificationSettings()
    clock = clock or SystemClock()
    policies = PolicyBook(settings.policy_dir, "notification", NotificationPolicy)
    notifying = Notifying(policies, JinjaRenderer())
    runtime = ServiceRuntime(settings, tables=tables, clock=clock, publishes=PUBLISHES)
    sqlite = is_sqlite(settings.resolved_database_url())
    owner = _owner(settings.service_name)
    lease = timedelta(seconds=settings.claim_lease_seconds)
    wake_deliveries: list[Callable[[], None]] = []

    units_of_work = sql_units_of_work(
        runtime,
        SqlNotificationUnitOfWork,
        audit=audit_log,
        translate=to_public,
        source=SOURCE,
        also_wake=lambda: _call_all(wake_deliveries),
    )
    worker_actor = system_actor(SOURCE)

    def unit() -> SqlNotificationUnitOfWork:
        return units_of_work(worker_actor, None)

    async def fire(timer_id: str) -> None:
        timer = await fire_timer(unit(), timer_id, notifying)
        if timer is not None:
            LATENESS.labels("timers").observe(max(0.0, (clock.now() - timer.fire_at).total_seconds()))
            if timer.kind is not TimerKind.REMINDER:
                SLA_BREACHES.labels(timer.factory, timer.milestone, str(timer.level)).inc()

    deliverer = Deliverer(
        units=unit,
        senders=senders or PolicySenders(policies, clock),
        notifying=notifying,
        budget=SqlSendBudget(runtime.sessions, sqlite_dialect=sqlite),
        clock=clock,
    )

    async def deliver(ids: list[str]) -> None:
        await deliverer.deliver(ids)

    common = {"clock": clock, "batch_size": settings.worker_batch_size, "poll_interval": settings.worker_poll_interval}
    timer_worker = DueWorker(
        "timers",
        claims=Claims(runtime.sessions, timers, due="fire_at", state="state", owner=owner, lease=lease, sqlite=sqlite),
        handle=each(fire, "timers", clock),
        **common,  # type: ignore[arg-type]
    )
    delivery_worker = DueWorker(
        "deliveries",
        claims=Claims(
            runtime.sessions,
            notifications,
            due="next_attempt_at",
            state="status",
            owner=owner,
            lease=lease,
            sqlite=sqlite,
        ),
        handle=deliver,
        **common,  # type: ignore[arg-type]
    )
    wake_deliveries.append(delivery_worker.wake)
    runtime.subscribe(subscriptions(notifying), units_of_work)
    if settings.workers:
        runtime.add_worker(timer_worker)
        runtime.add_worker(delivery_worker)
    return NotificationService(
        settings, clock, policies, notifying, runtime, units_of_work, timer_worker, delivery_worker, deliverer
    )
