"""Tables of the intake database."""

from __future__ import annotations

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

complaints = sa.Table(
    "complaints",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("period", sa.String(4), nullable=False),
    sa.Column("serial", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(30), nullable=False),
    sa.Column("customer_company", sa.String(200), nullable=False),
    sa.Column("part_number", sa.String(200), nullable=True),
    sa.Column("order_number", sa.String(100), nullable=True),
    sa.Column("batch_return", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("external_ref", sa.String(200), nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.UniqueConstraint("factory", "period", "serial", name="uq_complaints_factory_period_serial"),
)
sa.Index("ix_complaints_factory_registered", complaints.c.factory, complaints.c.registered_at)

# One row per factory and month; the row lock taken by the increment serialises numbering.
number_sequences = sa.Table(
    "number_sequences",
    metadata,
    sa.Column("factory", sa.String(10), primary_key=True),
    sa.Column("period", sa.String(4), primary_key=True),
    sa.Column("last_serial", sa.Integer, nullable=False),
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
