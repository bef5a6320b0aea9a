"""The penalty unit of work on its database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import SqlUnitOfWork
from penalty.adapters.repository import SqlAssessmentRepository, SqlPeriodRepository
from penalty.service.unit_of_work import PenaltyUnitOfWork


class SqlPenaltyUnitOfWork(SqlUnitOfWork, PenaltyUnitOfWork):
    def _build_repositories(self, session: AsyncSession) -> None:
        self.assessments = SqlAssessmentRepository(session)
        self.periods = SqlPeriodRepository(session)
