"""Composition root of investigation: the one place its parts are chosen and wired.

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
from investigation.adapters.orm import audit_log, tables
from investigation.adapters.publishing import PUBLISHES, to_public
from investigation.adapters.unit_of_work import SqlInvestigationUnitOfWork
from investigation.config import InvestigationSettings
from investigation.domain.policy import InvestigationPolicy
from investigation.entrypoints.consumers import subscriptions

SOURCE = "/services/investigation"


@dataclass(frozen=True)
class Investigation:
    settings: InvestigationSettings
    clock: Clock
    policies: PolicyBook[InvestigationPolicy]
    runtime: ServiceRuntime
    units_of_work: Callable[[Actor, InboxEntry | None], SqlInvestigationUnitOfWork]


def bootstrap(settings: InvestigationSettings | None = None, *, clock: Clock | None = None) -> Investigation:
    settings = settings or InvestigationSettings()
    clock = clock or SystemClock()
    policies = PolicyBook(settings.policy_dir, "investigation", InvestigationPolicy)
    runtime = ServiceRuntime(settings, tables=tables, clock=clock, publishes=PUBLISHES)
    units_of_work = sql_units_of_work(
        runtime, SqlInvestigationUnitOfWork, audit=audit_log, translate=to_public, source=SOURCE
    )
    runtime.subscribe(subscriptions(policies), units_of_work)
    return Investigation(settings, clock, policies, runtime, units_of_work)
