"""Use cases of investigation: each runs in one unit of work.

A person's step on a case and a change of the complaint both load the case, let the aggregate
decide (it refuses illegal steps with the state and the reason), and commit: the unit of work
writes the case, its audit rows and its public events in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from cqm_shared.domain import NotFound
from cqm_shared.policy import UnknownFactory
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort, Position
from investigation.domain.model import Case, CaseState, ComplaintFacts
from investigation.domain.policy import InvestigationPolicy
from investigation.service.unit_of_work import InvestigationUnitOfWork


class Policies(Protocol):
    """The factories' investigation policies (a `PolicyBook`); UnknownFactory when there is none."""

    def for_factory(self, factory: str) -> InvestigationPolicy: ...


class FactoryPolicyMissing(RuntimeError):
    """An event for a factory this deployment has no policy for (retried, then dead-lettered)."""


def _policy(policies: Policies, factory: str) -> InvestigationPolicy:
    try:
        return policies.for_factory(factory)
    except UnknownFactory:
        raise FactoryPolicyMissing(f"no investigation policy for factory {factory}") from None


@dataclass(frozen=True)
class StepContext:
    """What a step needs beside its input: the factory's policy, the time and who acts."""

    policy: InvestigationPolicy
    at: datetime
    by: str


# What a step does to a case (built by the entrypoint from the person's input).
Step = Callable[[Case, StepContext], None]


async def open_case(uow: InvestigationUnitOfWork, complaint: ComplaintFacts, policies: Policies, *, why: str) -> None:
    """A case with its deadlines for a registered complaint (once per complaint number)."""
    async with uow:
        if await uow.cases.exists(complaint.number):
            return  # the same complaint again (another event id): already open
        policy = _policy(policies, complaint.factory)
        uow.cases.add(Case.open(complaint, policy, at=uow.clock.now(), by=uow.actor.id, reason=why))
        await uow.commit()


async def _visible(uow: InvestigationUnitOfWork, number: str) -> Case:
    case = await uow.cases.get(number)
    if case is None or not uow.actor.can_see(case.factory):
        raise NotFound(f"investigation {number} not found")
    return case


async def case_of(uow: InvestigationUnitOfWork, number: str) -> Case:
    """The case of a complaint, if the caller may see its factory (else NotFound, never disclosed)."""
    async with uow:
        return await _visible(uow, number)


async def case_list(
    uow: InvestigationUnitOfWork, f: CaseFilter, *, sort: CaseSort, after: Position | None, limit: int
) -> list[CaseLine]:
    """A page of the case list, only ever of the factories the caller may see; overdue by the
    service's clock (DOMAIN.md §3 "Deadlines")."""
    visible = uow.actor.factories
    if visible is not None:
        f = replace(f, factories=visible if f.factories is None else f.factories & visible)
    async with uow:
        return await uow.cases.search(f, sort=sort, after=after, limit=limit, now=uow.clock.now())


async def take_step(
    uow: InvestigationUnitOfWork,
    number: str,
    step: Step,
    policies: Policies,
    *,
    expected_version: int | None = None,
) -> Case:
    """A person's step on the case (triage, containment, …), on the version they read if given."""
    async with uow:
        case = await _visible(uow, number)
        uow.expect_version(case, expected_version)
        step(case, StepContext(_policy(policies, case.factory), uow.clock.now(), uow.actor.id))
        await uow.commit()
    return case


async def amend_case(uow: InvestigationUnitOfWork, complaint: ComplaintFacts, policies: Policies, *, why: str) -> None:
    """complaint.amended: keep the corrected copy and reschedule the deadlines it moves."""
    async with uow:
        case = await uow.cases.get(complaint.number)
        if case is None:
            raise NotFound(f"no case for complaint {complaint.number} yet")  # retried: registration comes first
        if case.state is CaseState.WITHDRAWN:
            return  # a withdrawn complaint's case does not change any more
        if case.amend(complaint, _policy(policies, case.factory), at=uow.clock.now(), by=uow.actor.id, reason=why):
            await uow.commit()


async def withdraw_case(uow: InvestigationUnitOfWork, number: str, *, why: str) -> None:
    """complaint.withdrawn: the case ends, every pending deadline is cancelled."""
    async with uow:
        case = await uow.cases.get(number)
        if case is None:
            raise NotFound(f"no case for complaint {number} yet")  # retried: registration comes first
        if case.state in {CaseState.WITHDRAWN, CaseState.CLOSED}:
            return  # already ended: nothing left to cancel
        case.withdraw(at=uow.clock.now(), by=uow.actor.id, reason=why)
        await uow.commit()
