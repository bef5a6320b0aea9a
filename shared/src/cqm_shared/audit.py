"""Append-only audit trail (记录控制, DOMAIN.md §7): who / when / what changed / why.

Rows are written only by a unit of work's commit (cqm_shared.uow), from recorded changes.

Every state change writes a row in the same transaction. Triggers (created by each service's
migration 0002) refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit rows, so not even
the service itself can alter them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.db import UTCDateTime

TABLE = "audit_log"


def audit_table(metadata: sa.MetaData) -> sa.Table:
    """The audit table of a service's metadata; each service's migrations create it, with the
    triggers that keep it append-only, in DDL of their own (migrations never import this)."""
    table = sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("entity", sa.String(60), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("trace_id", sa.String(32), nullable=True),
    )
    sa.Index("ix_audit_log_entity_id", table.c.entity_id)
    return table


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


async def entries(
    session: AsyncSession, table: sa.Table, entity_id: str, factories: frozenset[str] | None
) -> list[sa.Row[Any]]:
    stmt = sa.select(table).where(table.c.entity_id == entity_id).order_by(table.c.id)
    if factories is not None:
        stmt = stmt.where(table.c.factory.in_(sorted(factories)))
    return list((await session.execute(stmt)).all())
