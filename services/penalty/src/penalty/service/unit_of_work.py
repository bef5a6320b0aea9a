"""The penalty unit of work and the repositories it offers to use cases (ports)."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from cqm_shared.uow import Repository, UnitOfWork
from penalty.domain.ledger import LedgerPeriod
from penalty.domain.model import Assessment, AssessmentStatus


class AssessmentRepository(Repository[Assessment], abc.ABC):
    @abc.abstractmethod
    async def get(self, assessment_id: str) -> Assessment | None: ...

    @abc.abstractmethod
    async def of_case(self, number: str) -> list[Assessment]:
        """Every assessment of a complaint, any status (the use cases' own reading, unscoped)."""

    @abc.abstractmethod
    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]: ...

    @abc.abstractmethod
    async def search(
        self,
        factories: frozenset[str] | None,
        *,
        factory: str | None = None,
        period: str | None = None,
        status: AssessmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Assessment]:
        """Newest first; `factories` None means every factory."""

    @abc.abstractmethod
    async def in_ledger(self, factory: str, period: str) -> list[Assessment]:
        """What the period's ledger counts: assessments of the period that count (draft, appealed,
        approved, or replaced after the period closed), and those reversed in it."""


class PeriodRepository(Repository[LedgerPeriod], abc.ABC):
    @abc.abstractmethod
    async def get(self, factory: str, period: str, *, lock: bool = True) -> LedgerPeriod | None:
        """The period, locked for this unit of work (a concurrent close waits) unless `lock` is False."""

    @abc.abstractmethod
    async def closed_periods(self, factory: str) -> list[str]: ...


class PenaltyUnitOfWork(UnitOfWork, abc.ABC):
    assessments: AssessmentRepository
    periods: PeriodRepository

    def repositories(self) -> Iterable[Repository[Any]]:
        return (self.assessments, self.periods)
