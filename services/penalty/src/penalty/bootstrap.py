"""Composition root of penalty: the one place its parts are chosen and wired.

Tests swap parts here (a fake clock, other settings) instead of patching modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cqm_shared.clock import Clock, SystemClock
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.sql_uow import sql_units_of_work
from cqm_shared.uow import Actor, InboxEntry
from penalty.adapters.orm import audit_log, tables
from penalty.adapters.publishing import PUBLISHES, to_public
from penalty.adapters.rule_book import RuleBook
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.config import PenaltySettings
from penalty.entrypoints.consumers import subscriptions
from penalty.entrypoints.permissions import approvers_can_act

SOURCE = "/services/penalty"


@dataclass(frozen=True)
class Penalty:
    settings: PenaltySettings
    clock: Clock
    rules: RuleBook
    runtime: ServiceRuntime
    units_of_work: Callable[[Actor, InboxEntry | None], SqlPenaltyUnitOfWork]


def bootstrap(settings: PenaltySettings | None = None, *, clock: Clock | None = None) -> Penalty:
    settings = settings or PenaltySettings()
    clock = clock or SystemClock()
    rules = RuleBook(settings.policy_dir, check=approvers_can_act)
    runtime = ServiceRuntime(settings, tables=tables, clock=clock, publishes=PUBLISHES)
    units_of_work = sql_units_of_work(
        runtime, SqlPenaltyUnitOfWork, audit=audit_log, translate=to_public, source=SOURCE
    )
    runtime.subscribe(subscriptions(rules), units_of_work)
    return Penalty(settings, clock, rules, runtime, units_of_work)
