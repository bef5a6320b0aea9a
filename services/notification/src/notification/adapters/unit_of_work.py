"""The notification unit of work on its database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import SqlUnitOfWork
from notification.adapters.repository import (
    SqlDeliveryRepository,
    SqlDispatchRepository,
    SqlReadMarkRepository,
    SqlTimerRepository,
    SqlTrackRepository,
)
from notification.service.unit_of_work import NotificationUnitOfWork


class SqlNotificationUnitOfWork(SqlUnitOfWork, NotificationUnitOfWork):
    def _build_repositories(self, session: AsyncSession) -> None:
        self.dispatches = SqlDispatchRepository(session)
        self.deliveries = SqlDeliveryRepository(session)
        self.reads = SqlReadMarkRepository(session)
        self.tracks = SqlTrackRepository(session)
        self.timers = SqlTimerRepository(session)
