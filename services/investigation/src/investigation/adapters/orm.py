"""Tables of the investigation database."""

from __future__ import annotations

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("factory", sa.String(10), nullable=False, index=True),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("complaint", sa.JSON, nullable=False),
    sa.Column("deadlines", sa.JSON, nullable=False),
)

# Append-only: who / when / why of every transition (DOMAIN.md §3, §7).
case_history = sa.Table(
    "case_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("from_state", sa.String(40), nullable=True),
    sa.Column("to_state", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
