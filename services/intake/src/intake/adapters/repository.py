"""Reading and writing complaints in the intake database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.complaint import ComplaintRecord, ComplaintStatus
from cqm_shared.contracts.events import FieldChange
from intake.adapters.orm import attachments, complaint_revisions, complaints, number_sequences, rejected_submissions
from intake.domain.corrections import customer_key, search_text


async def next_serial(session: AsyncSession, factory: str, period: str) -> int:
    """Atomically take the next serial of (factory, month).

    The upsert holds the sequence row's lock until the transaction ends, so concurrent
    registrations queue here; a rolled-back registration gives its serial back (no gaps).
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(number_sequences)
        .values(factory=factory, period=period, last_serial=1)
        .on_conflict_do_update(
            index_elements=[number_sequences.c.factory, number_sequences.c.period],
            set_={"last_serial": number_sequences.c.last_serial + 1},
        )
        .returning(number_sequences.c.last_serial)
    )
    return int((await session.execute(stmt)).scalar_one())


def _derived(record: ComplaintRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "channel": record.channel.value,
        "customer_company": record.customer.company,
        "customer_key": customer_key(record.customer.company),
        "part_number": record.product.part_number,
        "order_number": record.product.order_number,
        "batch_return": record.batch_return,
        "received_at": record.received_at,
        "repeat_of": record.repeat_of,
        "severity": record.severity.value if record.severity else None,
        "search_text": search_text(record),
        "record": record.model_dump(mode="json"),
    }


async def add(session: AsyncSession, record: ComplaintRecord, *, period: str, serial: int, source: str) -> None:
    await session.execute(
        sa.insert(complaints).values(
            number=record.number,
            factory=record.factory,
            period=period,
            serial=serial,
            source=source,
            external_ref=record.external_ref,
            registered_at=record.registered_at,
            **_derived(record),
        )
    )


async def save(session: AsyncSession, record: ComplaintRecord) -> None:
    """Write a changed record back (the caller keeps the history)."""
    await session.execute(sa.update(complaints).where(complaints.c.number == record.number).values(**_derived(record)))


async def get(session: AsyncSession, number: str, *, for_update: bool = False) -> ComplaintRecord | None:
    stmt = sa.select(complaints.c.record).where(complaints.c.number == number)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return ComplaintRecord.model_validate(row.record) if row else None


async def by_sender_reference(session: AsyncSession, source: str, external_ref: str) -> ComplaintRecord | None:
    row = (
        await session.execute(
            sa.select(complaints.c.record).where(
                complaints.c.source == source, complaints.c.external_ref == external_ref
            )
        )
    ).first()
    return ComplaintRecord.model_validate(row.record) if row else None


async def repeat_original(
    session: AsyncSession, factory: str, key: tuple[str, str, str], since: datetime
) -> str | None:
    """The first complaint of a repeat chain with this customer/order/part since `since`."""
    company, order, part = key
    c = complaints
    row = (
        await session.execute(
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


async def add_revision(
    session: AsyncSession,
    *,
    number: str,
    at: datetime,
    actor: str,
    action: str,
    reason: str,
    changes: list[FieldChange],
    record_before: ComplaintRecord,
) -> int:
    latest = (
        await session.execute(
            sa.select(sa.func.max(complaint_revisions.c.revision)).where(complaint_revisions.c.number == number)
        )
    ).scalar_one()
    revision = int(latest or 0) + 1
    await session.execute(
        sa.insert(complaint_revisions).values(
            number=number,
            revision=revision,
            at=at,
            actor=actor,
            action=action,
            reason=reason,
            changes=[c.model_dump(mode="json") for c in changes],
            record_before=record_before.model_dump(mode="json"),
        )
    )
    return revision


async def revisions(session: AsyncSession, number: str) -> list[sa.Row[Any]]:
    stmt = (
        sa.select(complaint_revisions)
        .where(complaint_revisions.c.number == number)
        .order_by(complaint_revisions.c.revision)
    )
    return list((await session.execute(stmt)).all())


@dataclass(frozen=True)
class SearchFilter:
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


async def search(
    session: AsyncSession, f: SearchFilter, *, after: tuple[datetime, str] | None, limit: int, ascending: bool = False
) -> list[ComplaintRecord]:
    """Keyset-paginated on (registered_at, number), newest first unless `ascending`."""
    c = complaints
    order = (c.c.registered_at, c.c.number) if ascending else (c.c.registered_at.desc(), c.c.number.desc())
    stmt = _filtered(sa.select(c.c.record), f).order_by(*order).limit(limit)
    if after:
        at, number = after
        if ascending:
            stmt = stmt.where(sa.or_(c.c.registered_at > at, sa.and_(c.c.registered_at == at, c.c.number > number)))
        else:
            stmt = stmt.where(sa.or_(c.c.registered_at < at, sa.and_(c.c.registered_at == at, c.c.number < number)))
    rows = (await session.execute(stmt)).all()
    return [ComplaintRecord.model_validate(r.record) for r in rows]


async def counts(session: AsyncSession, f: SearchFilter) -> dict[str, Any]:
    """Complaint counts by month and channel; repeats and withdrawn complaints apart."""
    c = complaints
    base = _filtered(sa.select(c.c.period, c.c.channel, c.c.status, c.c.repeat_of), f).subquery()
    rows = (
        await session.execute(
            sa.select(
                base.c.period,
                base.c.channel,
                base.c.status,
                (base.c.repeat_of.is_not(None)).label("repeat"),
                sa.func.count().label("n"),
            ).group_by(base.c.period, base.c.channel, base.c.status, "repeat")
        )
    ).all()
    by_month: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    total = repeats = withdrawn = 0
    for period, channel, status, repeat, n in rows:
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


async def add_attachment(session: AsyncSession, **values: Any) -> None:
    await session.execute(sa.insert(attachments).values(**values))


async def attachment_list(session: AsyncSession, number: str) -> list[sa.Row[Any]]:
    stmt = sa.select(attachments).where(attachments.c.number == number).order_by(attachments.c.uploaded_at)
    return list((await session.execute(stmt)).all())


async def attachment(session: AsyncSession, number: str, attachment_id: str) -> sa.Row[Any] | None:
    stmt = sa.select(attachments).where(attachments.c.number == number, attachments.c.id == attachment_id)
    return (await session.execute(stmt)).first()


async def add_rejected(session: AsyncSession, **values: Any) -> None:
    await session.execute(sa.insert(rejected_submissions).values(**values))
