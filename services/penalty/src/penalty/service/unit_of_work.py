"""The penalty unit of work and the repository it offers to use cases (ports)."""

from __future__ import annotations

import abc

from cqm_shared.uow import Repository, UnitOfWork
from penalty.domain.model import Assessment


class AssessmentRepository(Repository[Assessment], abc.ABC):
    @abc.abstractmethod
    async def get(self, assessment_id: str) -> Assessment | None: ...

    @abc.abstractmethod
    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]: ...


class PenaltyUnitOfWork(UnitOfWork, abc.ABC):
    assessments: AssessmentRepository

    def repositories(self) -> tuple[AssessmentRepository]:
        return (self.assessments,)
