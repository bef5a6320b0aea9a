"""The investigation unit of work on its database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import SqlUnitOfWork
from investigation.adapters.repository import SqlCaseRepository
from investigation.service.unit_of_work import InvestigationUnitOfWork


class SqlInvestigationUnitOfWork(SqlUnitOfWork, InvestigationUnitOfWork):
    def _build_repositories(self, session: AsyncSession) -> None:
        self.cases = SqlCaseRepository(session)
