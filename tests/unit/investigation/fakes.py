"""Investigation's unit of work in memory."""

from __future__ import annotations

from datetime import datetime

from cqm_shared.uow import MemoryRepository, MemoryUnitOfWork
from investigation.domain import listing
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort, Position
from investigation.domain.model import Case
from investigation.service.unit_of_work import CaseRepository, InvestigationUnitOfWork


class MemoryCases(MemoryRepository[Case], CaseRepository):
    table_name = "cases"

    async def exists(self, number: str) -> bool:
        return number in self.rows

    async def search(
        self, f: CaseFilter, *, sort: CaseSort, after: Position | None, limit: int, now: datetime
    ) -> list[CaseLine]:
        return listing.page(self.rows.values(), f, sort=sort, after=after, limit=limit, now=now)


class MemoryInvestigationUnitOfWork(MemoryUnitOfWork, InvestigationUnitOfWork):
    def _build_repositories(self) -> None:
        self.cases = MemoryCases(self.store, self.staged)
