"""The investigation unit of work on its database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import SqlUnitOfWork
from investigation.adapters.repository import SqlCaseRepository
from investigation.service.unit_of_work import InvestigationUnitOfWork


def _utc(_factory: str) -> tzinfo:
    return UTC


class SqlInvestigationUnitOfWork(SqlUnitOfWork, InvestigationUnitOfWork):
    # The zone a factory's statistics months begin in; a subclass (or the composition root)
    # may use the factory policy's calendar zone. A case keeps the month it was first counted in.
    month_zone: ClassVar[Callable[[str], tzinfo]] = _utc

    def _build_repositories(self, session: AsyncSession) -> None:
        self.cases = SqlCaseRepository(session, type(self).month_zone)
