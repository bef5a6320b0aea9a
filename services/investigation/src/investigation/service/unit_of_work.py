"""The investigation unit of work and the repository it offers to use cases (ports)."""

from __future__ import annotations

import abc

from cqm_shared.uow import Repository, UnitOfWork
from investigation.domain.model import Case


class CaseRepository(Repository[Case], abc.ABC):
    @abc.abstractmethod
    async def get(self, number: str) -> Case | None: ...

    @abc.abstractmethod
    async def exists(self, number: str) -> bool:
        """Whether a case is open for the complaint (without loading it)."""


class InvestigationUnitOfWork(UnitOfWork, abc.ABC):
    cases: CaseRepository

    def repositories(self) -> tuple[CaseRepository]:
        return (self.cases,)
