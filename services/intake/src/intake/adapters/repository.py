"""Reading and writing complaints in the intake database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.complaint import ComplaintRecord
from intake.adapters.orm import complaints, number_sequences


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


async def add(session: AsyncSession, record: ComplaintRecord, *, period: str, serial: int, source: str) -> None:
    await session.execute(
        sa.insert(complaints).values(
            number=record.number,
            factory=record.factory,
            period=period,
            serial=serial,
            status=record.status.value,
            channel=record.channel.value,
            customer_company=record.customer.company,
            part_number=record.product.part_number,
            order_number=record.product.order_number,
            batch_return=record.batch_return,
            source=source,
            external_ref=record.external_ref,
            received_at=record.received_at,
            registered_at=record.registered_at,
            record=record.model_dump(mode="json"),
        )
    )


async def get(session: AsyncSession, number: str) -> ComplaintRecord | None:
    row = (await session.execute(sa.select(complaints.c.record).where(complaints.c.number == number))).first()
    return ComplaintRecord.model_validate(row.record) if row else None


async def search(
    session: AsyncSession,
    *,
    factories: frozenset[str] | None,
    factory: str | None,
    status: str | None,
    registered_from: datetime | None,
    registered_to: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ComplaintRecord]:
    """Newest first, keyset-paginated on (registered_at, number)."""
    c = complaints
    stmt = sa.select(c.c.record).order_by(c.c.registered_at.desc(), c.c.number.desc()).limit(limit)
    if factories is not None:  # the caller's factories; None = head office
        stmt = stmt.where(c.c.factory.in_(sorted(factories)))
    if factory:
        stmt = stmt.where(c.c.factory == factory)
    if status:
        stmt = stmt.where(c.c.status == status)
    if registered_from:
        stmt = stmt.where(c.c.registered_at >= registered_from)
    if registered_to:
        stmt = stmt.where(c.c.registered_at < registered_to)
    if after:
        at, number = after
        stmt = stmt.where(sa.or_(c.c.registered_at < at, sa.and_(c.c.registered_at == at, c.c.number < number)))
    rows = (await session.execute(stmt)).all()
    return [ComplaintRecord.model_validate(r.record) for r in rows]
