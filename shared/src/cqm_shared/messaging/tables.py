"""Outbox and inbox tables, added to each service's own metadata."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from cqm_shared.db import UTCDateTime


@dataclass(frozen=True)
class MessagingTables:
    outbox: sa.Table
    inbox: sa.Table


def messaging_tables(metadata: sa.MetaData) -> MessagingTables:
    """The outbox and inbox of a service's metadata; each service's first migration creates
    them in DDL of its own (migrations never import this)."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),  # the CloudEvent id
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    sa.Index("ix_outbox_pending", outbox.c.published_at, outbox.c.created_at)
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    return MessagingTables(outbox=outbox, inbox=inbox)
