"""investigation: cases, case history, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from cqm_shared.db import UTCDateTime
from cqm_shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("complaint", sa.JSON, nullable=False),
        sa.Column("deadlines", sa.JSON, nullable=False),
    )
    op.create_index("ix_cases_factory", "cases", ["factory"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(40), nullable=True),
        sa.Column("to_state", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_case_history_number", "case_history", ["number"])
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_index("ix_case_history_number", table_name="case_history")
    op.drop_table("case_history")
    op.drop_index("ix_cases_factory", table_name="cases")
    op.drop_table("cases")
