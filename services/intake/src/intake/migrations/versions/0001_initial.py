"""intake: complaints, monthly number sequences, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
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
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.UniqueConstraint("factory", "period", "serial", name="uq_complaints_factory_period_serial"),
    )
    op.create_index("ix_complaints_factory_registered", "complaints", ["factory", "registered_at"])
    op.create_table(
        "number_sequences",
        sa.Column("factory", sa.String(10), primary_key=True),
        sa.Column("period", sa.String(4), primary_key=True),
        sa.Column("last_serial", sa.Integer, nullable=False),
    )
    # the outbox and inbox of the shared messaging code, as they were when this revision was written
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), primary_key=True),  # the CloudEvent id
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["published_at", "created_at"])
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("number_sequences")
    op.drop_index("ix_complaints_factory_registered", table_name="complaints")
    op.drop_table("complaints")
