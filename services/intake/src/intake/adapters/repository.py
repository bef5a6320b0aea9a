"""Complaints and rejected submissions in the intake database.

The record is kept as JSON beside the columns that are queried (status, customer, part,
severity, search text…); every change is an optimistic `UPDATE ... WHERE version = :read`.
Each save also adds the change's difference to the statistics rollups, in the same
transaction (see rollups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.complaint import ComplaintRecord, ComplaintStatus
from cqm_shared.domain import StaleVersion
from cqm_shared.sql_uow import versioned_update
from intake.adapters import rollups
from intake.adapters.orm import (
    ROLLUPS,
    attachments,
    complaint_revisions,
    complaints,
    number_sequences,
    rejected_submissions,
)
from intake.domain.corrections import FieldChange, customer_key, search_text
from intake.domain.model import (
    Attachment,
    Complaint,
    FieldError,
    RejectedSubmission,
    Revision,
    SenderReferenceTaken,
)
from intake.service.unit_of_work import ComplaintRepository, Position, RejectionRepository, SearchFilter

_LAST_REVISION = (
    sa.select(sa.func.coalesce(sa.func.max(complaint_revisions.c.revision), 0))
    .where(complaint_revisions.c.number == complaints.c.number)
    .correlate(complaints)
    .scalar_subquery()
    .label("last_revision")
)
_COLUMNS = (
    complaints.c.number,
    complaints.c.factory,
    complaints.c.period,
    complaints.c.serial,
    complaints.c.source,
    complaints.c.record,
    complaints.c.version,
    complaints.c.registered_day,
)


def _complaint(row: Any, last_revision: int = 0) -> Complaint:
    return Complaint(
        number=row.number,
        factory=row.factory,
        details=ComplaintRecord.model_validate(row.record),
        period=row.period,
        serial=row.serial,
        source=row.source,
        day=row.registered_day,
        last_revision=last_revision,
        version=row.version,
    )


def _columns_of(record: ComplaintRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "channel": record.channel.value,
        "customer_company": record.customer.company,
        "customer_key": customer_key(record.customer.company),
        "part_number": record.product.part_number,
        "product_key": rollups.product_key(record.product.part_number, record.product.model),
        "defect_type": record.defect_type,
        "order_number": record.product.order_number,
        "batch_return": record.batch_return,
        "received_at": record.received_at,
        "repeat_of": record.repeat_of,
        "severity": record.severity.value if record.severity else None,
        "search_text": search_text(record),
        "record": record.model_dump(mode="json"),
    }


def _filtered(stmt: Any, f: SearchFilter) -> Any:
    c = complaints
    if f.factories is not None:
        stmt = stmt.where(c.c.factory.in_(sorted(f.factories)))
    if f.factory:
        stmt = stmt.where(c.c.factory == f.factory)
    if f.status:
        stmt = stmt.where(c.c.status == f.status)
    if f.customer:
        stmt = stmt.where(c.c.customer_key.contains(customer_key(f.customer), autoescape=True))
    if f.part:
        stmt = stmt.where(c.c.part_number == f.part)
    if f.severity:
        stmt = stmt.where(c.c.severity == f.severity)
    if f.text:
        stmt = stmt.where(c.c.search_text.contains(f.text.casefold(), autoescape=True))
    if f.registered_from:
        stmt = stmt.where(c.c.registered_at >= f.registered_from)
    if f.registered_to:
        stmt = stmt.where(c.c.registered_at < f.registered_to)
    if not f.include_repeats:
        stmt = stmt.where(c.c.repeat_of.is_(None))
    return stmt


class SqlComplaintRepository(ComplaintRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session
        self._rollups: rollups.Deltas = {}  # this flush's changes, written at its end in key order

    async def get(self, number: str) -> Complaint | None:
        row = (
            await self._session.execute(sa.select(*_COLUMNS, _LAST_REVISION).where(complaints.c.number == number))
        ).first()
        return self._track(_complaint(row, row.last_revision)) if row is not None else None

    async def next_serial(self, factory: str, period: str) -> int:
        """The upsert holds the sequence row's lock until the transaction ends, so concurrent
        registrations queue here; a rolled-back registration gives its serial back (no gaps)."""
        bind = self._session.bind
        insert: Any = postgresql.insert if bind is not None and bind.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(number_sequences)
            .values(factory=factory, period=period, last_serial=1)
            .on_conflict_do_update(
                index_elements=[number_sequences.c.factory, number_sequences.c.period],
                set_={"last_serial": number_sequences.c.last_serial + 1},
            )
            .returning(number_sequences.c.last_serial)
        )
        return int((await self._session.execute(stmt)).scalar_one())

    async def by_sender_reference(self, source: str, external_ref: str) -> Complaint | None:
        row = (
            await self._session.execute(
                sa.select(*_COLUMNS, _LAST_REVISION).where(
                    complaints.c.source == source, complaints.c.external_ref == external_ref
                )
            )
        ).first()
        return self._track(_complaint(row, row.last_revision)) if row is not None else None

    async def repeat_original(self, factory: str, key: tuple[str, str, str], since: datetime) -> str | None:
        company, order, part = key
        c = complaints
        row = (
            await self._session.execute(
                sa.select(c.c.number, c.c.repeat_of)
                .where(
                    c.c.factory == factory,
                    c.c.customer_key == company,
                    c.c.order_number == order,
                    c.c.part_number == part,
                    c.c.registered_at >= since,
                    c.c.status != ComplaintStatus.WITHDRAWN.value,
                )
                .order_by(c.c.registered_at, c.c.number)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return str(row.repeat_of or row.number)

    async def search(
        self, f: SearchFilter, *, after: Position | None, limit: int, ascending: bool = False
    ) -> list[Complaint]:
        c = complaints
        order = (c.c.registered_at, c.c.number) if ascending else (c.c.registered_at.desc(), c.c.number.desc())
        stmt = _filtered(sa.select(*_COLUMNS), f).order_by(*order).limit(limit)
        if after:
            at, number = after
            if ascending:
                stmt = stmt.where(sa.or_(c.c.registered_at > at, sa.and_(c.c.registered_at == at, c.c.number > number)))
            else:
                stmt = stmt.where(sa.or_(c.c.registered_at < at, sa.and_(c.c.registered_at == at, c.c.number < number)))
        return [_complaint(r) for r in (await self._session.execute(stmt)).all()]

    async def counts(self, f: SearchFilter) -> dict[str, Any]:
        """Complaint counts by month and channel; repeats and withdrawn complaints apart."""
        c = complaints
        base = _filtered(sa.select(c.c.period, c.c.channel, c.c.status, c.c.repeat_of), f).subquery()
        rows = (
            await self._session.execute(
                sa.select(
                    base.c.period,
                    base.c.channel,
                    base.c.status,
                    (base.c.repeat_of.is_not(None)).label("repeat"),
                    sa.func.count().label("n"),
                ).group_by(base.c.period, base.c.channel, base.c.status, "repeat")
            )
        ).all()
        return tally([(r.period, r.channel, r.status, bool(r.repeat), int(r.n)) for r in rows])

    async def revisions(self, number: str) -> list[Revision]:
        r = complaint_revisions
        rows = (await self._session.execute(sa.select(r).where(r.c.number == number).order_by(r.c.revision))).all()
        return [
            Revision(
                revision=row.revision,
                at=row.at,
                actor=row.actor,
                action=row.action,
                reason=row.reason,
                changes=tuple(FieldChange(c["field"], c.get("before"), c.get("after")) for c in row.changes),
                record_before=ComplaintRecord.model_validate(row.record_before),
            )
            for row in rows
        ]

    async def attachments(self, number: str) -> list[Attachment]:
        a = attachments
        stmt = sa.select(a).where(a.c.number == number).order_by(a.c.uploaded_at, a.c.id)
        return [_attachment(row) for row in (await self._session.execute(stmt)).all()]

    async def attachment(self, number: str, attachment_id: str) -> Attachment | None:
        a = attachments
        row = (await self._session.execute(sa.select(a).where(a.c.number == number, a.c.id == attachment_id))).first()
        return _attachment(row) if row is not None else None

    async def recorded_storage_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        a = attachments
        rows = await self._session.execute(sa.select(a.c.storage_key).where(a.c.storage_key.in_(keys)))
        return {str(k) for k in rows.scalars()}

    async def flush(self) -> None:
        await super().flush()
        await self._write_rollups()

    async def _insert(self, complaint: Complaint) -> None:
        record = complaint.details
        try:
            await self._session.execute(
                sa.insert(complaints).values(
                    number=complaint.number,
                    factory=complaint.factory,
                    period=complaint.period,
                    serial=complaint.serial,
                    source=complaint.source,
                    external_ref=record.external_ref,
                    registered_at=record.registered_at,
                    registered_day=complaint.day,
                    version=complaint.version,
                    **_columns_of(record),
                )
            )
        except IntegrityError as exc:
            # A concurrent registration with the same sender's reference committed first.
            if record.external_ref and "external_ref" in str(exc.orig):
                raise SenderReferenceTaken(complaint.source, record.external_ref) from exc
            raise
        await self._write_children(complaint)
        rollups.accumulate(self._rollups, rollups.contributions(rollups.projection(complaint)).items())

    async def _update(self, complaint: Complaint, expected_version: int) -> None:
        c = complaints
        # Locked first (PostgreSQL: FOR UPDATE; SQLite: the writer holds the database), so the
        # stored projection read here is the one this update replaces.
        stored = (
            await self._session.execute(
                sa.select(
                    c.c.version,
                    c.c.factory,
                    c.c.registered_day,
                    c.c.product_key,
                    c.c.defect_type,
                    c.c.channel,
                    c.c.status,
                    c.c.repeat_of,
                )
                .where(c.c.number == complaint.number)
                .with_for_update()
            )
        ).first()
        if stored is None or stored.version != expected_version:
            raise StaleVersion(
                complaint.entity, complaint.number, expected_version, None if stored is None else stored.version
            )
        await versioned_update(
            self._session,
            complaints,
            complaints.c.number == complaint.number,
            entity=complaint.entity,
            identity=complaint.number,
            expected_version=expected_version,
            values={"version": complaint.version, **_columns_of(complaint.details)},
        )
        await self._write_children(complaint)
        before = rollups.Projection(
            factory=stored.factory,
            day=stored.registered_day,
            product=stored.product_key,
            defect_type=stored.defect_type or "",
            channel=stored.channel,
            counted_as=rollups.counted_as(stored.status, stored.repeat_of),
        )
        after = rollups.projection(complaint)
        changed = rollups.difference(rollups.contributions(after), rollups.contributions(before))
        rollups.accumulate(self._rollups, changed.items())

    async def _write_rollups(self) -> None:
        """One upsert per changed key, tables and keys in a fixed order (no lock-order deadlocks)."""
        pending, self._rollups = self._rollups, {}
        by_table: dict[str, list[tuple[rollups.RollupKey, tuple[int, ...]]]] = {}
        for (name, key), delta in sorted(pending.items()):
            if any(delta):
                by_table.setdefault(name, []).append((key, delta))
        dialect = self._session.get_bind().dialect.name
        for table in ROLLUPS:
            changes = by_table.get(table.name)
            if changes:
                await self._session.execute(upsert_statement(table, dialect), rollup_rows(table, changes))

    async def _write_children(self, complaint: Complaint) -> None:
        """Revisions and attachments recorded since the complaint was loaded."""
        if complaint.new_revisions:
            await self._session.execute(
                sa.insert(complaint_revisions),
                [
                    {
                        "number": complaint.number,
                        "revision": r.revision,
                        "at": r.at,
                        "actor": r.actor,
                        "action": r.action,
                        "reason": r.reason,
                        "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in r.changes],
                        "record_before": r.record_before.model_dump(mode="json"),
                    }
                    for r in complaint.new_revisions
                ],
            )
        if complaint.new_attachments:
            await self._session.execute(
                sa.insert(attachments),
                [{**a.summary(), "uploaded_at": a.uploaded_at} for a in complaint.new_attachments],
            )
        complaint.new_revisions.clear()
        complaint.new_attachments.clear()


def upsert_statement(table: sa.Table, dialect: str) -> Any:
    """`INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` (PostgreSQL, SQLite ≥ 3.24)."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    counters = [c for c in table.columns if not c.primary_key]
    return insert.on_conflict_do_update(
        index_elements=keys, set_={c.name: c + insert.excluded[c.name] for c in counters}
    )


def rollup_rows(table: sa.Table, changes: Sequence[tuple[rollups.RollupKey, tuple[int, ...]]]) -> list[dict[str, Any]]:
    """Rows of a rollup table: its key columns (as `RollupKey` orders them) and counters."""
    keys = [c.name for c in table.primary_key.columns]
    counters = [c.name for c in table.columns if not c.primary_key]
    return [dict(zip(keys, key, strict=True)) | dict(zip(counters, delta, strict=True)) for key, delta in changes]


def _attachment(row: sa.Row[Any]) -> Attachment:
    return Attachment(
        id=row.id,
        number=row.number,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        storage_key=row.storage_key,
        uploaded_at=row.uploaded_at,
        uploaded_by=row.uploaded_by,
    )


def tally(groups: list[tuple[str, str, str, bool, int]]) -> dict[str, Any]:
    """(period, channel, status, repeat, n) groups -> counts by month and channel; repeats and
    withdrawn complaints apart (not counted again)."""
    by_month: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    total = repeats = withdrawn = 0
    for period, channel, status, repeat, n in groups:
        if repeat:
            repeats += n
            continue
        if status == ComplaintStatus.WITHDRAWN.value:
            withdrawn += n
            continue
        total += n
        month = f"20{period[:2]}-{period[2:]}"
        by_month[month] = by_month.get(month, 0) + n
        by_channel[channel] = by_channel.get(channel, 0) + n
    return {
        "complaints": total,
        "repeats": repeats,
        "withdrawn": withdrawn,
        "by_month": dict(sorted(by_month.items())),
        "by_channel": dict(sorted(by_channel.items())),
    }


class SqlRejectionRepository(RejectionRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, event_id: str) -> RejectedSubmission | None:
        r = rejected_submissions
        row = (await self._session.execute(sa.select(r).where(r.c.event_id == event_id))).first()
        if row is None:
            return None
        return self._track(
            RejectedSubmission(
                event_id=row.event_id,
                source=row.source,
                factory=row.factory,
                external_ref=row.external_ref,
                errors=tuple(FieldError.from_dict(e) for e in row.errors),
                data=row.data,
                received_at=row.received_at,
                version=1,
            )
        )

    async def _insert(self, rejected: RejectedSubmission) -> None:
        await self._session.execute(
            sa.insert(rejected_submissions).values(
                event_id=rejected.event_id,
                source=rejected.source,
                factory=rejected.factory,
                external_ref=rejected.external_ref,
                errors=[e.as_dict() for e in rejected.errors],
                data=rejected.data,
                received_at=rejected.received_at,
            )
        )

    async def _update(self, rejected: RejectedSubmission, expected_version: int) -> None:
        raise TypeError(f"rejected submission {rejected.event_id} is kept as received and never changes")
