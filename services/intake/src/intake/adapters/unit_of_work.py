"""The intake unit of work on its database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import SqlUnitOfWork
from intake.adapters.repository import SqlComplaintRepository, SqlRejectionRepository
from intake.service.unit_of_work import IntakeUnitOfWork


class SqlIntakeUnitOfWork(SqlUnitOfWork, IntakeUnitOfWork):
    def _build_repositories(self, session: AsyncSession) -> None:
        self.complaints = SqlComplaintRepository(session)
        self.rejections = SqlRejectionRepository(session)
