"""Outbox and inbox tables, added to each service's own metadata and migrations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cqm_shared.db import UTCDateTime


@dataclass(frozen=True)
class MessagingTables:
    outbox: sa.Table
    inbox: sa.Table


def _outbox_columns() -> list[Any]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),  # the CloudEvent id
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    ]


def _inbox_columns() -> list[Any]:
    return [
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    ]


def messaging_tables(metadata: sa.MetaData) -> MessagingTables:
    outbox = sa.Table("outbox", metadata, *_outbox_columns())
    sa.Index("ix_outbox_pending", outbox.c.published_at, outbox.c.created_at)
    inbox = sa.Table("inbox", metadata, *_inbox_columns())
    return MessagingTables(outbox=outbox, inbox=inbox)


def create_messaging_tables(op: Any) -> None:
    """For a service's initial Alembic migration: the same DDL as `messaging_tables`."""
    op.create_table("outbox", *_outbox_columns())
    op.create_index("ix_outbox_pending", "outbox", ["published_at", "created_at"])
    op.create_table("inbox", *_inbox_columns())


def drop_messaging_tables(op: Any) -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
