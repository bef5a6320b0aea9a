"""penalty: assessments, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from cqm_shared.db import Money, UTCDateTime
from cqm_shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("accident_class", sa.String(40), nullable=False),
        sa.Column("loss_amount", Money, nullable=False),
        sa.Column("determination", sa.JSON, nullable=False),
        sa.Column("line_items", sa.JSON, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_assessments_number", "assessments", ["number"])
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_index("ix_assessments_number", table_name="assessments")
    op.drop_table("assessments")
