"""The investigation unit of work and the repository it offers to use cases (ports)."""

from __future__ import annotations

import abc
from datetime import datetime

from cqm_shared.uow import Repository, UnitOfWork
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort, Position
from investigation.domain.model import Case


class CaseRepository(Repository[Case], abc.ABC):
    @abc.abstractmethod
    async def get(self, number: str) -> Case | None: ...

    @abc.abstractmethod
    async def exists(self, number: str) -> bool:
        """Whether a case is open for the complaint (without loading it)."""

    @abc.abstractmethod
    async def search(
        self, f: CaseFilter, *, sort: CaseSort, after: Position | None, limit: int, now: datetime
    ) -> list[CaseLine]:
        """A page of the case list (investigation.domain.listing says what it holds and in which
        order), after `after`; overdue is judged at `now`."""


class InvestigationUnitOfWork(UnitOfWork, abc.ABC):
    cases: CaseRepository

    def repositories(self) -> tuple[CaseRepository]:
        return (self.cases,)
