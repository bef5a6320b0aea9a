"""Composition root of intake: the one place its parts are chosen and wired.

Tests swap parts here (a fake clock, another attachment store, other settings) instead of
patching modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cqm_shared.clock import Clock, SystemClock
from cqm_shared.policy import PolicyBook
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.sql_uow import sql_units_of_work
from cqm_shared.uow import Actor, InboxEntry
from intake.adapters.orm import audit_log, tables
from intake.adapters.publishing import PUBLISHES, to_public
from intake.adapters.storage import build_store
from intake.adapters.unit_of_work import SqlIntakeUnitOfWork
from intake.config import IntakeSettings
from intake.domain.policy import IntakePolicy
from intake.entrypoints.consumers import subscriptions
from intake.service.handlers import SOURCE
from intake.service.unit_of_work import AttachmentStore


@dataclass(frozen=True)
class Intake:
    settings: IntakeSettings
    clock: Clock
    runtime: ServiceRuntime
    policies: PolicyBook[IntakePolicy]
    attachments: AttachmentStore
    units_of_work: Callable[[Actor, InboxEntry | None], SqlIntakeUnitOfWork]


def bootstrap(
    settings: IntakeSettings | None = None, *, clock: Clock | None = None, attachments: AttachmentStore | None = None
) -> Intake:
    settings = settings or IntakeSettings()
    clock = clock or SystemClock()
    policies = PolicyBook(settings.policy_dir, "intake", IntakePolicy)
    runtime = ServiceRuntime(settings, tables=tables, clock=clock, publishes=PUBLISHES)
    units_of_work = sql_units_of_work(runtime, SqlIntakeUnitOfWork, audit=audit_log, translate=to_public, source=SOURCE)
    runtime.subscribe(subscriptions(policies), units_of_work)
    return Intake(settings, clock, runtime, policies, attachments or build_store(settings), units_of_work)
