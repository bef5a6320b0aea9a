"""Investigation's unit of work in memory."""

from __future__ import annotations

from cqm_shared.uow import MemoryRepository, MemoryUnitOfWork
from investigation.domain.model import Case
from investigation.service.unit_of_work import CaseRepository, InvestigationUnitOfWork


class MemoryCases(MemoryRepository[Case], CaseRepository):
    table_name = "cases"

    async def exists(self, number: str) -> bool:
        return number in self.rows


class MemoryInvestigationUnitOfWork(MemoryUnitOfWork, InvestigationUnitOfWork):
    def _build_repositories(self) -> None:
        self.cases = MemoryCases(self.store, self.staged)
