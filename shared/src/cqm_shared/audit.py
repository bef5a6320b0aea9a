"""Append-only audit trail (记录控制, DOMAIN.md §7): who / when / what changed / why.

Every state change writes a row in the same transaction. Triggers refuse UPDATE, DELETE
(and on PostgreSQL TRUNCATE) of audit rows, so not even the service itself can alter them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.db import UTCDateTime, utcnow

TABLE = "audit_log"


def _columns() -> list[Any]:
    return [
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
    ]


def audit_table(metadata: sa.MetaData) -> sa.Table:
    table = sa.Table(TABLE, metadata, *_columns())
    sa.Index("ix_audit_log_entity_id", table.c.entity_id)
    return table


PG_APPEND_ONLY = [
    """
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]
SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
]


def create_audit_table(op: Any) -> None:
    """For a service's Alembic migration: the table and its append-only triggers."""
    op.create_table(TABLE, *_columns())
    op.create_index("ix_audit_log_entity_id", TABLE, ["entity_id"])
    dialect = op.get_bind().dialect.name
    for statement in PG_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY:
        op.execute(statement)


def drop_audit_table(op: Any) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.drop_table(TABLE)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


async def record(
    session: AsyncSession,
    table: sa.Table,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    factory: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> None:
    await session.execute(
        sa.insert(table).values(
            at=at or utcnow(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            factory=factory,
            before=before,
            after=after,
            reason=reason,
            trace_id=current_trace_id(),
        )
    )


async def entries(
    session: AsyncSession, table: sa.Table, entity_id: str, factories: frozenset[str] | None
) -> list[sa.Row[Any]]:
    stmt = sa.select(table).where(table.c.entity_id == entity_id).order_by(table.c.id)
    if factories is not None:
        stmt = stmt.where(table.c.factory.in_(sorted(factories)))
    return list((await session.execute(stmt)).all())
