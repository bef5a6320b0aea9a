"""Use cases of penalty: each runs in one unit of work.

Assessment (DOMAIN.md §4): a responsibility determination or an SLA breach is assessed from
the factory's rule table into a draft. A newer determination of the same case supersedes the
older assessment; an older one arriving late is stored as superseded at once. A period that is
closed takes no change: whatever would land in it lands in the next open period, as an
adjustment, and a replaced assessment of a closed period is reversed there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from cqm_shared.domain import NotFound
from penalty.domain import engine
from penalty.domain.ledger import (
    LedgerEntry,
    LedgerPeriod,
    LedgerTotals,
    cycle_deadlines,
    ledger_totals,
    next_period,
    period_of,
)
from penalty.domain.model import COUNTED, Assessment, AssessmentStatus
from penalty.domain.terms import Breach, Determination
from penalty.service.rules import FactoryRules, RuleSource
from penalty.service.unit_of_work import PenaltyUnitOfWork

BREACH_NAMESPACE = uuid.UUID("5d0c1f7e-58c4-4f0e-9d7b-9a4c1c3a0b10")


class NotPermitted(PermissionError):
    """The caller's roles do not include the one the factory's policy names for this decision."""


async def _placement(uow: PenaltyUnitOfWork, factory: str, own: str) -> tuple[str, bool]:
    """The period a new assessment counts in: its own, or the next open one after it (adjustment)."""
    period = own
    closed = set(await uow.periods.closed_periods(factory))
    while period in closed:
        period = next_period(period)
    return period, period != own


async def _lock_period(uow: PenaltyUnitOfWork, factory: str, period: str) -> LedgerPeriod:
    """The period row, created open if missing, locked so a concurrent close waits for us."""
    found = await uow.periods.get(factory, period)
    if found is None:
        found = LedgerPeriod(factory=factory, period=period)
        uow.periods.add(found)
    return found


async def _open_period(uow: PenaltyUnitOfWork, factory: str, own: str) -> tuple[str, bool]:
    """The period a new line lands in, locked open: its own, or the next open one (adjustment).

    Checked again under the lock: a close committed between reading and locking moves it on.
    """
    period, _ = await _placement(uow, factory, own)
    while (await _lock_period(uow, factory, period)).closed:
        period = next_period(period)
    return period, period != own


async def _reversal(uow: PenaltyUnitOfWork, old: Assessment, into: str) -> str | None:
    """Where the replaced assessment's lines are reversed: nowhere while its period is open."""
    period = await uow.periods.get(old.factory, old.period)
    return into if period is not None and period.closed else None


async def assess_determination(
    uow: PenaltyUnitOfWork, rules: RuleSource, assessment_id: str, d: Determination, *, why: str
) -> None:
    """An assessment per determination event; the newest determination of a case counts."""
    async with uow:
        if await uow.assessments.get(assessment_id) is not None:
            return
        now = uow.clock.now()
        factory_rules = rules.for_factory(d.factory)
        existing = [a for a in await uow.assessments.of_case(d.number) if a.determination is not None]
        newer = [a for a in existing if a.sequence > d.sequence]
        replaced = [] if newer else [a for a in existing if a.status in COUNTED]
        assessment = await _assess(
            uow,
            factory_rules,
            assessment_id,
            determination=d,
            at=now,
            reason=why,
            supersedes=tuple(a.id for a in replaced),
            # A late, older determination is kept for the record and counted nowhere.
            superseded_by=max(newer, key=lambda a: a.sequence).id if newer else None,
        )
        for old in replaced:
            old.supersede(  # reversed in the new one's period when its own is closed
                assessment.id,
                reversal_period=await _reversal(uow, old, assessment.period),
                at=now,
                reason=f"determination {d.sequence} supersedes determination {old.sequence}",
            )
        uow.assessments.add(assessment)
        await uow.commit()


async def _assess(
    uow: PenaltyUnitOfWork,
    r: FactoryRules,
    assessment_id: str,
    *,
    determination: Determination | None = None,
    breach: Breach | None = None,
    at: datetime,
    reason: str,
    supersedes: tuple[str, ...] = (),
    superseded_by: str | None = None,
) -> Assessment:
    subject: Determination | Breach
    if determination is not None:
        subject, moment = determination, determination.determined_at
        version, table = r.policy.table_at(moment)
        computation = engine.assess_determination(determination, r.policy, r.organisation, version=version, table=table)
    else:
        assert breach is not None, "an assessment is for a determination or a breach"
        subject, moment = breach, breach.breached_at
        version, table = r.policy.table_at(moment)
        computation = engine.assess_breach(breach, r.policy, r.organisation, version=version, table=table)
    period, adjustment = await _open_period(uow, subject.factory, period_of(moment, r.policy.zone))
    return Assessment.assess(
        assessment_id,
        computation,
        determination=determination,
        breach=breach,
        period=period,
        adjustment=adjustment,
        deadlines=cycle_deadlines(period, r.policy.monthly_cycle, r.policy.zone),
        policy_digest=r.digest,
        at=at,
        reason=reason,
        supersedes=supersedes,
        superseded_by=superseded_by,
    )


async def void_case(uow: PenaltyUnitOfWork, rules: RuleSource, number: str, factory: str, *, why: str) -> None:
    """The ruling cleared responsibility (market cause): the case's assessments owe nothing."""
    zone = rules.for_factory(factory).policy.zone
    async with uow:
        now = uow.clock.now()
        for old in await uow.assessments.of_case(number):
            if old.determination is not None and old.status in COUNTED:
                reversal = None
                if (await _lock_period(uow, old.factory, old.period)).closed:
                    reversal, _ = await _open_period(uow, old.factory, period_of(now, zone))
                old.void(reversal_period=reversal, at=now, reason=why)
        await uow.commit()


async def assess_breach(uow: PenaltyUnitOfWork, rules: RuleSource, breach: Breach, *, why: str) -> str | None:
    """Process penalties for a missed milestone, once per (case, milestone, round) whatever the
    escalation level: 4.3.1.6 training, 4.3.2.1 feedback sheet, 4.3.2.2 workshop proposal."""
    r = rules.for_factory(breach.factory)
    _, table = r.policy.table_at(breach.breached_at)
    if not engine.rules_for_breach(table, breach.milestone):
        return None
    key = f"{breach.factory}/{breach.number}/{breach.milestone}/{breach.round}"
    assessment_id = str(uuid.uuid5(BREACH_NAMESPACE, key))
    async with uow:
        if await uow.assessments.get(assessment_id) is not None:
            return assessment_id
        if breach.department is None:
            # The responsible department of the case's current determination, when penalty knows it.
            named = [
                p.department_name
                for a in await uow.assessments.of_case(breach.number)
                if a.status in COUNTED and a.determination is not None
                for p in a.determination.parties
                if p.internal and p.department_name
            ]
            if named:
                breach = replace(breach, department=named[0])
        uow.assessments.add(await _assess(uow, r, assessment_id, breach=breach, at=uow.clock.now(), reason=why))
        await uow.commit()
    return assessment_id


# -- the workflow ------------------------------------------------------------------------------


async def _load(uow: PenaltyUnitOfWork, assessment_id: str, expected_version: int | None) -> Assessment:
    found = await uow.assessments.get(assessment_id)
    if found is None or not uow.actor.can_see(found.factory):
        raise NotFound(f"assessment {assessment_id} not found")
    uow.expect_version(found, expected_version)
    return found


def _require_role(rules: RuleSource, factory: str, roles: Iterable[str], which: str) -> None:
    approvers = rules.for_factory(factory).policy.approvers
    needed = approvers.approve if which == "approve" else approvers.decide_appeal
    if needed not in set(roles) and "admin" not in set(roles):
        raise NotPermitted(f"factory {factory}'s policy gives this decision to the role {needed}")


async def appeal(
    uow: PenaltyUnitOfWork, assessment_id: str, *, lines: tuple[int, ...], reason: str, expected_version: int | None
) -> Assessment:
    """申诉: the penalised party (through its department) appeals to the GM."""
    async with uow:
        a = await _load(uow, assessment_id, expected_version)
        a.file_appeal(by=uow.actor.id, lines=lines, at=uow.clock.now(), reason=reason)
        await uow.commit()
        return a


async def decide_appeal(
    uow: PenaltyUnitOfWork,
    rules: RuleSource,
    assessment_id: str,
    *,
    roles: Iterable[str],
    upheld: bool,
    amounts: dict[int, Decimal],
    reason: str,
    expected_version: int | None,
) -> Assessment:
    async with uow:
        a = await _load(uow, assessment_id, expected_version)
        if "decide_appeal" in a.allowed_actions():  # otherwise the state refuses it (409), whoever asks
            _require_role(rules, a.factory, roles, "decide_appeal")
        a.decide_appeal(by=uow.actor.id, upheld=upheld, amounts=amounts, at=uow.clock.now(), reason=reason)
        await uow.commit()
        return a


async def approve(
    uow: PenaltyUnitOfWork,
    rules: RuleSource,
    assessment_id: str,
    *,
    roles: Iterable[str],
    reason: str,
    expected_version: int | None,
) -> Assessment:
    """生产运营部签准: final; `penalty.finalized` reaches HR and finance."""
    async with uow:
        a = await _load(uow, assessment_id, expected_version)
        if "approve" in a.allowed_actions():
            _require_role(rules, a.factory, roles, "approve")
        a.approve(by=uow.actor.id, at=uow.clock.now(), reason=reason)
        await uow.commit()
        return a


# -- reading -----------------------------------------------------------------------------------


async def assessments_of(uow: PenaltyUnitOfWork, number: str) -> list[Assessment]:
    async with uow:
        return await uow.assessments.for_complaint(number, uow.actor.factories)


async def assessment(uow: PenaltyUnitOfWork, assessment_id: str) -> Assessment:
    async with uow:
        return await _load(uow, assessment_id, None)


async def search(
    uow: PenaltyUnitOfWork,
    *,
    factory: str | None,
    period: str | None,
    status: AssessmentStatus | None,
    limit: int,
    offset: int,
) -> list[Assessment]:
    async with uow:
        return await uow.assessments.search(
            uow.actor.factories, factory=factory, period=period, status=status, limit=limit, offset=offset
        )


@dataclass(frozen=True)
class Ledger:
    """A factory's month: its entries, totals and state (what the API and the exports show)."""

    factory: str
    period: str
    period_state: LedgerPeriod | None
    entries: list[LedgerEntry]
    assessments: list[Assessment]
    totals: LedgerTotals
    illustrative_rules: list[str]

    @property
    def closed(self) -> bool:
        return self.period_state is not None and self.period_state.closed


def _entries(period: str, found: list[Assessment]) -> tuple[list[LedgerEntry], Decimal, int]:
    entries: list[LedgerEntry] = []
    compensation = Decimal(0)
    pending = 0
    for a in found:
        counted_here = a.period == period and (a.status in COUNTED or a.reversal_period is not None)
        reversed_here = a.reversal_period == period and a.period != period
        loss = a.determination.loss_amount if a.determination else Decimal(0)
        if counted_here:
            pending += a.pending
            compensation += loss
            entries += [LedgerEntry(a.id, a.number, a.status.value, line, a.adjustment) for line in a.lines]
        if reversed_here:
            compensation -= loss
            entries += [LedgerEntry(a.id, a.number, a.status.value, line.negated(), True) for line in a.lines]
    return entries, compensation, pending


async def _ledger(uow: PenaltyUnitOfWork, rules: RuleSource, factory: str, period: str) -> Ledger:
    found = await uow.assessments.in_ledger(factory, period)
    entries, compensation, pending = _entries(period, found)
    return Ledger(
        factory=factory,
        period=period,
        period_state=await uow.periods.get(factory, period, lock=False),
        entries=entries,
        assessments=found,
        totals=ledger_totals(entries, compensation, pending),
        illustrative_rules=rules.for_factory(factory).policy.illustrative_rules,
    )


async def ledger(uow: PenaltyUnitOfWork, rules: RuleSource, factory: str, period: str) -> Ledger:
    if not uow.actor.can_see(factory):
        raise NotFound(f"no ledger {factory}/{period}")
    rules.for_factory(factory)  # an unknown factory is refused, not answered with an empty ledger
    async with uow:
        return await _ledger(uow, rules, factory, period)


async def close_period(uow: PenaltyUnitOfWork, rules: RuleSource, factory: str, period: str, *, reason: str) -> Ledger:
    """Close the month: immutable from now on (`penalty.period_closed` with the totals)."""
    if not uow.actor.can_see(factory):
        raise NotFound(f"no ledger {factory}/{period}")
    rules.for_factory(factory)
    async with uow:
        state = await _lock_period(uow, factory, period)
        book = await _ledger(uow, rules, factory, period)
        state.close(book.totals, by=uow.actor.id, at=uow.clock.now(), reason=reason)
        await uow.commit()
        return Ledger(**{**book.__dict__, "period_state": state})
