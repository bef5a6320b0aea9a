"""Notification's unit of work in memory."""

from __future__ import annotations

from dataclasses import replace

from cqm_shared.uow import MemoryRepository, MemoryUnitOfWork
from notification.domain.model import Dispatch
from notification.service.unit_of_work import DispatchRepository, NotificationUnitOfWork


class MemoryDispatches(MemoryRepository[Dispatch], DispatchRepository):
    table_name = "dispatches"

    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        found = [d for d in self.rows.values() if d.number == number and (factories is None or d.factory in factories)]
        if recipient is not None:
            found = [replace(d, notifications=d.to(recipient)) for d in found]
            found = [d for d in found if d.notifications]
        return sorted(found, key=lambda d: d.created_at)


class MemoryNotificationUnitOfWork(MemoryUnitOfWork, NotificationUnitOfWork):
    def _build_repositories(self) -> None:
        self.dispatches = MemoryDispatches(self.store, self.staged)
