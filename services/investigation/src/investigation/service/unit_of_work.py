"""The investigation unit of work and the repository it offers to use cases (ports)."""

from __future__ import annotations

import abc

from cqm_shared.uow import Repository, UnitOfWork
from investigation.domain.model import Case


class CaseRepository(Repository[Case], abc.ABC):
    @abc.abstractmethod
    async def get(self, number: str) -> Case | None: ...


class InvestigationUnitOfWork(UnitOfWork, abc.ABC):
    cases: CaseRepository

    def repositories(self) -> tuple[CaseRepository]:
        return (self.cases,)
