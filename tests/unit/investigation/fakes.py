"""Investigation's unit of work in memory."""

from __future__ import annotations

from typing import Any

from cqm_shared.uow import MemoryRepository, MemoryStore, MemoryUnitOfWork
from investigation.domain.model import Case
from investigation.service.unit_of_work import CaseRepository, InvestigationUnitOfWork


class MemoryCases(MemoryRepository[Case], CaseRepository):
    table_name = "cases"


class MemoryInvestigationUnitOfWork(MemoryUnitOfWork, InvestigationUnitOfWork):
    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.cases = MemoryCases(store, self.staged)
