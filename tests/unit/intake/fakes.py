"""Intake's unit of work, statistics and attachment store in memory.

The complaints keep the statistics rollups as the SQL repository does (the difference of the
projections before and after each change, staged with the change and committed with it), by
the same `rollups` code; `MemoryStatistics` answers from those rows, days only.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, cast

from cqm_shared.clock import Clock
from cqm_shared.uow import MemoryRepository, MemoryStore, MemoryUnitOfWork
from intake.adapters import rollups
from intake.adapters.repository import tally
from intake.domain.corrections import customer_key, search_text
from intake.domain.model import Attachment, Complaint, RejectedSubmission, Revision, SenderReferenceTaken
from intake.service.statistics import By, Counts, Grain, Scope, period_of
from intake.service.unit_of_work import (
    ComplaintRepository,
    IntakeUnitOfWork,
    Position,
    RejectionRepository,
    SearchFilter,
    StoredFile,
)


class MemoryComplaints(MemoryRepository[Complaint], ComplaintRepository):
    table_name = "complaints"

    def _stage(self, name: str, key: Any, value: Any) -> None:
        self._staged.setdefault(name, {})[key] = value

    async def next_serial(self, factory: str, period: str) -> int:
        serial = int(self.table("number_sequences").get((factory, period), 0)) + 1
        self._stage("number_sequences", (factory, period), serial)  # given back on rollback
        return serial

    async def by_sender_reference(self, source: str, external_ref: str) -> Complaint | None:
        for number, c in self.rows.items():
            if c.source == source and c.details.external_ref == external_ref:
                return await self.get(number)
        return None

    async def repeat_original(self, factory: str, key: tuple[str, str, str], since: datetime) -> str | None:
        company, order, part = key
        chain = sorted(
            (
                c
                for c in self.rows.values()
                if c.factory == factory
                and customer_key(c.details.customer.company) == company
                and c.details.product.order_number == order
                and c.details.product.part_number == part
                and c.details.registered_at >= since
                and c.status.value != "withdrawn"
            ),
            key=lambda c: (c.details.registered_at, c.number),
        )
        return (chain[0].details.repeat_of or chain[0].number) if chain else None

    def _matches(self, c: Complaint, f: SearchFilter) -> bool:
        d = c.details
        return (
            (f.factories is None or c.factory in f.factories)
            and (f.factory is None or c.factory == f.factory)
            and (f.status is None or d.status.value == f.status)
            and (f.customer is None or customer_key(f.customer) in customer_key(d.customer.company))
            and (f.part is None or d.product.part_number == f.part)
            and (f.severity is None or (d.severity is not None and d.severity.value == f.severity))
            and (f.text is None or f.text.casefold() in search_text(d))
            and (f.registered_from is None or d.registered_at >= f.registered_from)
            and (f.registered_to is None or d.registered_at < f.registered_to)
            and (f.include_repeats or d.repeat_of is None)
        )

    async def search(
        self, f: SearchFilter, *, after: Position | None, limit: int, ascending: bool = False
    ) -> list[Complaint]:
        found = sorted(
            (c for c in self.rows.values() if self._matches(c, f)),
            key=lambda c: (c.details.registered_at, c.number),
            reverse=not ascending,
        )
        if after is not None:
            found = [
                c
                for c in found
                if (
                    (c.details.registered_at, c.number) > after
                    if ascending
                    else (c.details.registered_at, c.number) < after
                )
            ]
        return [copy.deepcopy(c) for c in found[:limit]]

    async def counts(self, f: SearchFilter) -> dict[str, Any]:
        return tally(
            [
                (c.period, c.details.channel.value, c.status.value, c.details.repeat_of is not None, 1)
                for c in self.rows.values()
                if self._matches(c, f)
            ]
        )

    async def revisions(self, number: str) -> list[Revision]:
        found = [r for (n, _), r in self.table("complaint_revisions").items() if n == number]
        return sorted(found, key=lambda r: r.revision)

    async def attachments(self, number: str) -> list[Attachment]:
        return sorted(
            (a for a in self.table("attachments").values() if a.number == number), key=lambda a: (a.uploaded_at, a.id)
        )

    async def attachment(self, number: str, attachment_id: str) -> Attachment | None:
        found = self.table("attachments").get(attachment_id)
        return found if found is not None and found.number == number else None

    async def recorded_storage_keys(self, keys: list[str]) -> set[str]:
        return {a.storage_key for a in self.table("attachments").values()} & set(keys)

    async def _insert(self, aggregate: Complaint) -> None:
        ref = aggregate.details.external_ref
        if ref and any(c.source == aggregate.source and c.details.external_ref == ref for c in self.rows.values()):
            raise SenderReferenceTaken(aggregate.source, ref)  # the unique (source, external_ref)
        children = self._take_children(aggregate)
        await super()._insert(aggregate)
        self._stage_children(aggregate, *children)
        self._count(rollups.contributions(rollups.projection(aggregate)))

    async def _update(self, aggregate: Complaint, expected_version: int) -> None:
        before = self.rows.get(aggregate.identity)
        children = self._take_children(aggregate)
        await super()._update(aggregate, expected_version)  # the version first, as the SQL update
        self._stage_children(aggregate, *children)
        assert before is not None  # the update above refuses a complaint that is not stored
        after = rollups.contributions(rollups.projection(aggregate))
        self._count(rollups.difference(after, rollups.contributions(rollups.projection(before))))

    def _count(self, deltas: rollups.Deltas) -> None:
        """Add to the rollup rows (table -> (dimension, product, period, factory, key) -> counters)."""
        for (table, key), delta in deltas.items():
            known = self.table(table).get(key, (0, 0, 0))
            self._stage(table, key, tuple(a + b for a, b in zip(known, delta, strict=True)))

    @staticmethod
    def _take_children(aggregate: Complaint) -> tuple[list[Revision], list[Attachment]]:
        """The revisions and attachments recorded since loading, taken off the complaint before
        its row is copied (a row holds the complaint, they are rows of their own tables)."""
        taken = (list(aggregate.new_revisions), list(aggregate.new_attachments))
        aggregate.new_revisions.clear()
        aggregate.new_attachments.clear()
        return taken

    def _stage_children(self, aggregate: Complaint, revisions: list[Revision], attachments: list[Attachment]) -> None:
        for r in revisions:
            key = (aggregate.number, r.revision)
            if key in self.table("complaint_revisions"):
                raise KeyError(f"duplicate revision {key}")
            self._stage("complaint_revisions", key, r)
        for a in attachments:
            self._stage("attachments", a.id, a)


class MemoryStatistics:
    """The statistics port on the rollup rows the memory complaints keep: the day rows only
    (the SQL adapter reads whole months from the month rows; the integration tests check both)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def counts(self, scope: Scope, grain: Grain | None, by: By | None) -> list[Counts]:
        dimension, product, column = rollups.dimension_for(by, scope.product)
        first, last = rollups.day_number(scope.first), rollups.day_number(scope.last)
        summed: dict[tuple[int, str], list[int]] = {}
        rows: dict[rollups.RollupKey, tuple[int, ...]] = cast(Any, self.store.table(rollups.DAYS))
        for (dim, prod, day, factory, key), counters in rows.items():
            if dim != dimension or prod != product or not first <= day <= last:
                continue
            if scope.factories is not None and factory not in scope.factories:
                continue
            value = {"factory": factory, "product": prod, "key": key, None: ""}[column]
            total = summed.setdefault((period_of(day // 100, grain), value), [0, 0, 0])
            for i, n in enumerate(counters):
                total[i] += n
        return [Counts(period, key, *c) for (period, key), c in sorted(summed.items()) if any(c)]


class MemoryRejections(MemoryRepository[RejectedSubmission], RejectionRepository):
    table_name = "rejected_submissions"


class MemoryIntakeUnitOfWork(MemoryUnitOfWork, IntakeUnitOfWork):
    def _build_repositories(self) -> None:
        self.complaints = MemoryComplaints(self.store, self.staged)
        self.rejections = MemoryRejections(self.store, self.staged)


class FailingCommitUnitOfWork(MemoryIntakeUnitOfWork):
    """A database that fails at commit (lost connection, disk full…)."""

    async def _commit(self) -> None:
        raise ConnectionError("the database went away")


class MemoryFiles:
    """An attachment store in memory; files get the clock's time when stored."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.files: dict[str, tuple[bytes, datetime]] = {}
        self.puts: list[str] = []

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.puts.append(key)
        self.files[key] = (data, self.clock.now())

    async def get(self, key: str) -> bytes:
        return self.files[key][0]

    async def delete(self, key: str) -> None:
        self.files.pop(key, None)

    async def list(self) -> list[StoredFile]:
        return [StoredFile(key, at) for key, (_, at) in self.files.items()]
