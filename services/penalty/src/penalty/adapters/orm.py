"""Tables of the penalty database."""

from __future__ import annotations

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import Money, Percent, UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the determination event's id
    sa.Column("number", sa.String(32), nullable=False, index=True),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("accident_class", sa.String(40), nullable=False),
    sa.Column("loss_amount", Money, nullable=False),
    sa.Column("determined_at", UTCDateTime, nullable=False),
    sa.Column("rule_codes", sa.JSON, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)

# The responsible parties of the determination an assessment is for, in penalty's own terms.
assessment_parties = sa.Table(
    "assessment_parties",
    metadata,
    sa.Column("assessment_id", sa.String(36), sa.ForeignKey("assessments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("department", sa.String(200), nullable=True),
    sa.Column("role", sa.String(100), nullable=True),
    sa.Column("share", Percent, nullable=False),
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
