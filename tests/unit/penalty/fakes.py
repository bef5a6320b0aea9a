"""Penalty's unit of work in memory."""

from __future__ import annotations

from typing import Any

from cqm_shared.uow import MemoryRepository, MemoryStore, MemoryUnitOfWork
from penalty.domain.model import Assessment
from penalty.service.unit_of_work import AssessmentRepository, PenaltyUnitOfWork


class MemoryAssessments(MemoryRepository[Assessment], AssessmentRepository):
    table_name = "assessments"

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]:
        found = [a for a in self.rows.values() if a.number == number and (factories is None or a.factory in factories)]
        return sorted(found, key=lambda a: a.received_at)


class MemoryPenaltyUnitOfWork(MemoryUnitOfWork, PenaltyUnitOfWork):
    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.assessments = MemoryAssessments(store, self.staged)
