"""Penalty's unit of work in memory."""

from __future__ import annotations

from cqm_shared.uow import MemoryRepository, MemoryUnitOfWork
from penalty.domain.model import Assessment
from penalty.service.unit_of_work import AssessmentRepository, PenaltyUnitOfWork


class MemoryAssessments(MemoryRepository[Assessment], AssessmentRepository):
    table_name = "assessments"

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]:
        found = [a for a in self.rows.values() if a.number == number and (factories is None or a.factory in factories)]
        return sorted(found, key=lambda a: a.received_at)


class MemoryPenaltyUnitOfWork(MemoryUnitOfWork, PenaltyUnitOfWork):
    def _build_repositories(self) -> None:
        self.assessments = MemoryAssessments(self.store, self.staged)
