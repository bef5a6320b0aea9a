"""Tables of the intake database."""

from __future__ import annotations

from typing import Any

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
    # Search and duplicate detection (added in 0003)
    sa.Column("customer_key", sa.String(200), nullable=False, server_default=""),
    sa.Column("repeat_of", sa.String(32), nullable=True),
    sa.Column("severity", sa.String(20), nullable=True),
    sa.Column("search_text", sa.Text, nullable=False, server_default=""),
    # Optimistic concurrency (added in 0004): every change is `UPDATE ... WHERE version = :read`.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # Statistics (added in 0005): the factory's calendar day of registration (yyyymmdd), the
    # product (part number, else model) and the defect type (不良类型), as the rollups count them.
    sa.Column("registered_day", sa.Integer, nullable=False),
    sa.Column("product_key", sa.String(200), nullable=False, server_default=""),
    sa.Column("defect_type", sa.String(100), nullable=True),
    sa.UniqueConstraint("factory", "period", "serial", name="uq_complaints_factory_period_serial"),
    # A sender's own reference names one complaint per sender (CONTRACT.md, external_ref).
    sa.UniqueConstraint("source", "external_ref", name="uq_complaints_source_external_ref"),
)
sa.Index("ix_complaints_factory_registered", complaints.c.factory, complaints.c.registered_at)
sa.Index(
    "ix_complaints_repeat_key",
    complaints.c.factory,
    complaints.c.customer_key,
    complaints.c.order_number,
    complaints.c.part_number,
)

# Corrections keep the original (划改, DOMAIN.md §7): one row per amendment, with the
# values it replaced and the record as it was before.
complaint_revisions = sa.Table(
    "complaint_revisions",
    metadata,
    sa.Column("number", sa.String(32), sa.ForeignKey("complaints.number"), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("record_before", sa.JSON, nullable=False),
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("number", sa.String(32), sa.ForeignKey("complaints.number"), nullable=False, index=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(300), nullable=False),
    sa.Column("uploaded_at", UTCDateTime, nullable=False),
    sa.Column("uploaded_by", sa.String(200), nullable=False),
)
# The orphan sweep asks which stored files have a row (added in 0004).
sa.Index("ix_attachments_storage_key", attachments.c.storage_key, unique=True)

# complaint.submitted events that were invalid: kept (nothing is lost) and answered with
# complaint.rejected.
rejected_submissions = sa.Table(
    "rejected_submissions",
    metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("external_ref", sa.String(200), nullable=True),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

# One row per factory and month; the row lock taken by the increment serialises numbering.
number_sequences = sa.Table(
    "number_sequences",
    metadata,
    sa.Column("factory", sa.String(10), primary_key=True),
    sa.Column("period", sa.String(4), primary_key=True),
    sa.Column("last_serial", sa.Integer, nullable=False),
)

# -- rollups (DOMAIN.md §6): counters per dimension × product × period × factory × key ------------
# One table per period: day (yyyymmdd), month (yyyymm), year (yyyy), all in the factory's calendar.
# Kept by the repository in the transaction of each change: it adds (new projection − stored
# projection) with one upsert per changed key (see rollups.py for the dimensions). The primary
# key leads with what every question fixes (dimension, product) and then the period, so that
# one factory or all, twelve months or ten years, read one index range.


def _rollup(name: str, period: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),  # of product_*; '' in the others
        period,
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),  # channel, defect type or product
        sa.Column("complaints", sa.Integer, nullable=False),  # counted: not repeats, not withdrawn
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("withdrawn", sa.Integer, nullable=False),
        # A question reads its rows off the primary key alone: clustered on SQLite (WITHOUT
        # ROWID), covering on PostgreSQL (INCLUDE the counters: index-only scans).
        sa.PrimaryKeyConstraint(
            "dimension",
            "product",
            period.name,
            "factory",
            "key",
            name=f"pk_{name}",
            postgresql_include=["complaints", "repeats", "withdrawn"],
        ),
        sqlite_with_rowid=False,
    )


stats_complaint_days = _rollup("stats_complaint_days", sa.Column("day", sa.Integer, nullable=False))  # yyyymmdd
stats_complaint_months = _rollup("stats_complaint_months", sa.Column("month", sa.Integer, nullable=False))  # yyyymm
stats_complaint_years = _rollup("stats_complaint_years", sa.Column("year", sa.Integer, nullable=False))  # yyyy
ROLLUPS = (stats_complaint_days, stats_complaint_months, stats_complaint_years)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
