"""The notification unit of work and the repository it offers to use cases (ports)."""

from __future__ import annotations

import abc

from cqm_shared.uow import Repository, UnitOfWork
from notification.domain.model import Dispatch


class DispatchRepository(Repository[Dispatch], abc.ABC):
    @abc.abstractmethod
    async def get(self, event_id: str) -> Dispatch | None: ...

    @abc.abstractmethod
    async def for_complaint(
        self, number: str, factories: frozenset[str] | None, recipient: str | None = None
    ) -> list[Dispatch]:
        """The complaint's dispatches, each holding only `recipient`'s notifications when one is named."""


class NotificationUnitOfWork(UnitOfWork, abc.ABC):
    dispatches: DispatchRepository

    def repositories(self) -> tuple[DispatchRepository]:
        return (self.dispatches,)
