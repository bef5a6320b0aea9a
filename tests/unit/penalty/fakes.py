"""Penalty's unit of work in memory, and what its use-case tests share.

`MemoryAssessments` and `MemoryPeriods` keep the ports' rules (service/unit_of_work.py) over a
`MemoryStore`: nothing is written until commit, versions are checked, what a use case loads is
tracked so its changes are written. Periods are keyed like the aggregate, "F01/2026-11".
Like the SQL repository, every write of an assessment adds its difference to the cost rollup
(table "stats_cost", keyed (factory, period, department)), which `MemoryCostStatistics` reads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import (
    RESPONSIBILITY_DETERMINED,
    ResponsibilityDetermined,
    ResponsibleParty,
    RuleFinding,
    SlaEvent,
)
from cqm_shared.domain import DomainEvent
from cqm_shared.messaging.consumer import Message
from cqm_shared.uow import Actor, InboxEntry, MemoryRepository, MemoryStore, MemoryUnitOfWork, PublicEvent, Translator
from penalty.adapters import rollups
from penalty.adapters.rule_book import RuleBook
from penalty.domain.ledger import LedgerPeriod, PeriodState
from penalty.domain.model import COUNTED, Assessment, AssessmentStatus
from penalty.domain.terms import LineItem
from penalty.entrypoints.consumers import subscriptions
from penalty.service.rules import RuleSource
from penalty.service.statistics import CostCounts, Factories
from penalty.service.unit_of_work import AssessmentRepository, PenaltyUnitOfWork, PeriodRepository
from tests.conftest import POLICY_DIR

# Friday 21 November 2026, 16:30 in Shanghai: responsibility determined in period 2026-11.
T0 = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)

SYSTEM = Actor("system:/services/investigation")
WORKSHOP = Actor("user:asm-clerk", frozenset({"F01"}))  # files the appeal for the penalised department
OPERATIONS = Actor("user:ops-head", frozenset({"F01"}))  # 生产运营部部长
GM = Actor("user:gm", frozenset({"F01"}))  # 总经理
HEAD_OFFICE = Actor("user:ho")  # every factory


def _by_time(assessments: list[Assessment]) -> list[Assessment]:
    return sorted(assessments, key=lambda a: (a.received_at, a.id))


ROLLUP = "stats_cost"


class MemoryAssessments(MemoryRepository[Assessment], AssessmentRepository):
    table_name = "assessments"

    async def _insert(self, aggregate: Assessment) -> None:
        await super()._insert(aggregate)
        self._roll(rollups.contributions(rollups.projection(aggregate)))

    async def _update(self, aggregate: Assessment, expected_version: int) -> None:
        stored = self.rows.get(aggregate.identity)  # what this change replaces
        await super()._update(aggregate, expected_version)
        assert stored is not None
        before, after = rollups.projection(stored), rollups.projection(aggregate)
        self._roll(rollups.difference(rollups.contributions(after), rollups.contributions(before)))

    def _roll(self, deltas: rollups.Deltas) -> None:
        """Staged like a row: the committed counters (or this unit of work's) plus the change."""
        current = self.table(ROLLUP)
        staged: dict[Any, Any] = self._staged.setdefault(ROLLUP, {})
        for key, delta in deltas.items():
            known = current.get(key)
            staged[key] = delta if known is None else tuple(a + b for a, b in zip(known, delta, strict=True))

    def _tracked(self, found: list[Assessment]) -> list[Assessment]:
        """Tracked copies, so a use case's changes to them are written at commit."""
        return [a for a in (self._track(copy.deepcopy(x)) for x in found) if a is not None]

    async def of_case(self, number: str) -> list[Assessment]:
        return self._tracked(_by_time([a for a in self.rows.values() if a.number == number]))

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]:
        found = [a for a in self.rows.values() if a.number == number and (factories is None or a.factory in factories)]
        return self._tracked(_by_time(found))

    async def search(
        self,
        factories: frozenset[str] | None,
        *,
        factory: str | None = None,
        period: str | None = None,
        status: AssessmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Assessment]:
        found = [
            a
            for a in self.rows.values()
            if (factories is None or a.factory in factories)
            and (factory is None or a.factory == factory)
            and (period is None or a.period == period)
            and (status is None or a.status is status)
        ]
        newest_first = list(reversed(_by_time(found)))
        return self._tracked(newest_first[offset : offset + limit])

    async def in_ledger(self, factory: str, period: str) -> list[Assessment]:
        found = [
            a
            for a in self.rows.values()
            if a.factory == factory
            and (
                (a.period == period and (a.status in COUNTED or a.reversal_period is not None))
                or a.reversal_period == period
            )
        ]
        return self._tracked(_by_time(found))


class MemoryPeriods(PeriodRepository):
    """Ledger periods keyed "F01/2026-11" (the aggregate's identity)."""

    table_name = "ledger_periods"

    def __init__(self, store: MemoryStore, staged: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self._table: MemoryRepository[LedgerPeriod] = MemoryRepository(store, staged)
        self._table.table_name = self.table_name

    @property
    def rows(self) -> dict[str, LedgerPeriod]:
        return self._table.rows

    def _of(self, factory: str) -> list[LedgerPeriod]:
        return sorted((p for p in self.rows.values() if p.factory == factory), key=lambda p: p.period)

    async def get(self, factory: str, period: str, *, lock: bool = True) -> LedgerPeriod | None:
        found = self.rows.get(f"{factory}/{period}")
        return self._track(copy.deepcopy(found)) if found is not None else None

    async def closed_periods(self, factory: str) -> list[str]:
        return [p.period for p in self._of(factory) if p.state is PeriodState.CLOSED]

    async def _insert(self, aggregate: LedgerPeriod) -> None:
        await self._table._insert(aggregate)

    async def _update(self, aggregate: LedgerPeriod, expected_version: int) -> None:
        await self._table._update(aggregate, expected_version)


def rollup(store: MemoryStore) -> dict[rollups.Key, tuple[int, ...]]:
    """The committed cost rollup, without the rows that net to zero."""
    table: dict[Any, Any] = store.table(ROLLUP)
    return {tuple(key): tuple(values) for key, values in table.items() if any(values)}


class MemoryCostStatistics:
    """The cost statistics port over the store's rollup, summed as the SQL adapter sums it."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def costs(self, factories: Factories, first: str, last: str, *, by_department: bool) -> list[CostCounts]:
        sums: dict[tuple[str, str | None], list[int]] = {}
        for (factory, period, department), values in rollup(self._store).items():
            if (factories is None or factory in factories) and first <= period <= last:
                known = sums.setdefault((period, department if by_department else None), [0, 0, 0, 0])
                for i, value in enumerate(values):
                    known[i] += value
        return [
            CostCounts(p, d, *values)
            for (p, d), values in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ]


class MemoryPenaltyUnitOfWork(MemoryUnitOfWork, PenaltyUnitOfWork):
    def _build_repositories(self) -> None:
        self.assessments = MemoryAssessments(self.store, self.staged)
        self.periods = MemoryPeriods(self.store, self.staged)


def unpublished(event: DomainEvent) -> Sequence[PublicEvent]:
    """These tests read the store and the audit trail; the `penalty.*` payloads are tested apart."""
    return ()


def uows(
    store: MemoryStore, clock: FakeClock, translate: Translator = unpublished
) -> Callable[..., MemoryPenaltyUnitOfWork]:
    """Like the service's `units_of_work`: one unit of work per call."""

    def make(actor: Actor = SYSTEM, inbox: InboxEntry | None = None) -> MemoryPenaltyUnitOfWork:
        return MemoryPenaltyUnitOfWork(
            store, clock=clock, actor=actor, source="/services/penalty", translate=translate, inbox=inbox
        )

    return make


def rule_book() -> RuleBook:
    """The shipped policies: deploy/policies/default.yaml and the factories' files."""
    return RuleBook(POLICY_DIR)


def amounts(lines: Sequence[LineItem], rule_code: str | None = None) -> dict[tuple[str, str], Decimal]:
    """(role, payee id) -> amount of the fines (of one rule when named), summed."""
    found: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        if rule_code is None or line.rule_code == rule_code:
            key = (line.role, line.payee.id)
            found[key] = found.get(key, Decimal(0)) + line.amount
    return found


def stored(store: MemoryStore) -> dict[str, Assessment]:
    return store.table("assessments")


def periods(store: MemoryStore) -> dict[str, LedgerPeriod]:
    return store.table("ledger_periods")


# -- public events, as investigation and the SLA monitor publish them ---------------------------

NUMBER = "F01-2611-0001"


def party(
    kind: str, name: str, share: str | int, *, department: str | None = None, role: str | None = None
) -> ResponsibleParty:
    return ResponsibleParty.model_validate(
        {"kind": kind, "name": name, "share": Decimal(share), "department": department, "role": role}
    )


def finding(code: str, **counts: Any) -> RuleFinding:
    return RuleFinding.model_validate({"code": code, **counts})


def responsibility(
    *parties: ResponsibleParty,
    findings: Sequence[RuleFinding] = (),
    loss: str = "0",
    accident_class: str = "technical_general",
    sequence: int = 1,
    number: str = NUMBER,
    factory: str = "F01",
    at: datetime = T0,
    rule_codes: Sequence[str] = (),
) -> ResponsibilityDetermined:
    """An `investigation.responsibility_determined` payload (v1)."""
    return ResponsibilityDetermined.model_validate(
        {
            "number": number,
            "factory": factory,
            "determined_at": at,
            "accident_class": accident_class,
            "loss_amount": Decimal(loss),
            "parties": [p.model_dump() for p in parties],
            "findings": [f.model_dump() for f in findings],
            "rule_codes": list(rule_codes) or [f.code for f in findings],
            "determination": sequence,
        }
    )


def breached(
    milestone: str,
    *,
    round: int = 1,
    level: int = 0,
    department: str | None = None,
    number: str | None = NUMBER,
    factory: str = "F01",
    at: datetime = T0,
) -> SlaEvent:
    """An `sla.breached` payload: the milestone was due an hour before `at`."""
    return SlaEvent.model_validate(
        {
            "number": number,
            "factory": factory,
            "milestone": milestone,
            "round": round,
            "due_at": at - timedelta(hours=1),
            "at": at,
            "level": level,
            "department": department,
        }
    )


def message(event_id: str, event_type: str, data: BaseModel, *, factory: str = "F01") -> Message[Any]:
    subject = getattr(data, "number", None)
    return Message(event_id, event_type, "/services/investigation", factory, subject, NOW, 1, data)


async def deliver(make: Callable[..., MemoryPenaltyUnitOfWork], rules: RuleSource, msg: Message[Any]) -> None:
    """What the consumer does with one message: the subscription's handler in a unit of work
    claiming the message in the inbox (`penalty.<purpose>`)."""
    for subscription in subscriptions(rules):
        handles = subscription.handlers.get(msg.type)
        if handles is not None:
            inbox = InboxEntry(msg.id, f"penalty.{subscription.purpose}", msg.type)
            await handles.handle(make(SYSTEM, inbox), msg)
            return
    raise AssertionError(f"penalty subscribes to no {msg.type}")


async def determine(
    make: Callable[..., MemoryPenaltyUnitOfWork], rules: RuleSource, event_id: str, data: ResponsibilityDetermined
) -> None:
    await deliver(make, rules, message(event_id, RESPONSIBILITY_DETERMINED, data, factory=data.factory))
