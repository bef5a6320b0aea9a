"""Use cases of investigation: each runs in one unit of work."""

from __future__ import annotations

from typing import Protocol

from cqm_shared.domain import NotFound
from cqm_shared.policy import UnknownFactory
from investigation.domain.model import Case, ComplaintFacts
from investigation.domain.policy import InvestigationPolicy
from investigation.service.unit_of_work import InvestigationUnitOfWork


class Policies(Protocol):
    """The factories' investigation policies (a `PolicyBook`); UnknownFactory when there is none."""

    def for_factory(self, factory: str) -> InvestigationPolicy: ...


class FactoryPolicyMissing(RuntimeError):
    """An event for a factory this deployment has no policy for (retried, then dead-lettered)."""


async def open_case(uow: InvestigationUnitOfWork, complaint: ComplaintFacts, policies: Policies, *, why: str) -> None:
    """A case with its deadlines for a registered complaint (once per complaint number)."""
    async with uow:
        if await uow.cases.exists(complaint.number):
            return  # the same complaint again (another event id): already open
        try:
            policy = policies.for_factory(complaint.factory)
        except UnknownFactory:
            raise FactoryPolicyMissing(f"no investigation policy for factory {complaint.factory}") from None
        uow.cases.add(Case.open(complaint, policy, at=uow.clock.now(), by=uow.actor.id, reason=why))
        await uow.commit()


async def case_of(uow: InvestigationUnitOfWork, number: str) -> Case:
    """The case of a complaint, if the caller may see its factory (else NotFound, never disclosed)."""
    async with uow:
        case = await uow.cases.get(number)
    if case is None or not uow.actor.can_see(case.factory):
        raise NotFound(f"investigation {number} not found")
    return case
