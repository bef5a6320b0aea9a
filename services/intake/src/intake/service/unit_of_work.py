"""The intake unit of work, the repositories it offers to use cases, and the attachment store (ports)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cqm_shared.uow import Repository, UnitOfWork
from intake.domain.model import Attachment, Complaint, RejectedSubmission, Revision


@dataclass(frozen=True)
class SearchFilter:
    """Filters shared by search, export and statistics."""

    factories: frozenset[str] | None  # the caller's; None = every factory
    factory: str | None = None
    status: str | None = None
    customer: str | None = None
    part: str | None = None
    severity: str | None = None
    text: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    include_repeats: bool = True


Position = tuple[datetime, str]  # keyset position: (registered_at, number)


class ComplaintRepository(Repository[Complaint], abc.ABC):
    @abc.abstractmethod
    async def get(self, number: str) -> Complaint | None: ...

    @abc.abstractmethod
    async def next_serial(self, factory: str, period: str) -> int:
        """Take the next serial of (factory, month) under the sequence's lock (held until the commit)."""

    @abc.abstractmethod
    async def by_sender_reference(self, source: str, external_ref: str) -> Complaint | None: ...

    @abc.abstractmethod
    async def repeat_original(self, factory: str, key: tuple[str, str, str], since: datetime) -> str | None:
        """The first complaint of a repeat chain with this (customer, order, part) since `since`."""

    @abc.abstractmethod
    async def search(
        self, f: SearchFilter, *, after: Position | None, limit: int, ascending: bool = False
    ) -> list[Complaint]:
        """Keyset-paginated on (registered_at, number), newest first unless `ascending`."""

    @abc.abstractmethod
    async def counts(self, f: SearchFilter) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def revisions(self, number: str) -> list[Revision]: ...

    @abc.abstractmethod
    async def attachments(self, number: str) -> list[Attachment]: ...

    @abc.abstractmethod
    async def attachment(self, number: str, attachment_id: str) -> Attachment | None: ...

    @abc.abstractmethod
    async def recorded_storage_keys(self, keys: list[str]) -> set[str]:
        """Which of these storage keys an attachment row names."""


class RejectionRepository(Repository[RejectedSubmission], abc.ABC):
    @abc.abstractmethod
    async def get(self, event_id: str) -> RejectedSubmission | None: ...


@dataclass(frozen=True)
class StoredFile:
    key: str
    modified_at: datetime


class AttachmentStore(Protocol):
    """Where attachment bytes live (outside the database, outside any transaction)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Remove the file; a key that is not there is no error."""
        ...

    async def list(self) -> list[StoredFile]: ...


class IntakeUnitOfWork(UnitOfWork, abc.ABC):
    complaints: ComplaintRepository
    rejections: RejectionRepository

    def repositories(self) -> tuple[ComplaintRepository, RejectionRepository]:
        return (self.complaints, self.rejections)
