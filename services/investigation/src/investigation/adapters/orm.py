"""Tables of the investigation database."""

from __future__ import annotations

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

# A case and investigation's own copy of the complaint facts it uses (not the public record).
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("factory", sa.String(10), nullable=False, index=True),
    sa.Column("state", sa.String(40), nullable=False, index=True),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("market_region", sa.String(20), nullable=False),
    sa.Column("market_province", sa.String(20), nullable=True),
    sa.Column("request_kind", sa.String(40), nullable=True),
    sa.Column("batch_return", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("customer_company", sa.String(200), nullable=False),
    sa.Column("part_number", sa.String(200), nullable=True),
    sa.Column("product_model", sa.String(200), nullable=True),
    sa.Column("phenomenon", sa.Text, nullable=False),
)

# One row per milestone of a case: what is due when, and whether it was met (DOMAIN.md §3 "Deadlines").
case_deadlines = sa.Table(
    "case_deadlines",
    metadata,
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), primary_key=True),
    sa.Column("milestone", sa.String(40), primary_key=True),
    sa.Column("due_at", UTCDateTime, nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("met_at", UTCDateTime, nullable=True),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
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
