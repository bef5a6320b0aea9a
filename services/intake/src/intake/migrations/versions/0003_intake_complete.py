"""intake: search and repeat columns, sender reference uniqueness, revisions, attachments,
rejected submissions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("customer_key", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("repeat_of", sa.String(32), nullable=True))
        batch.add_column(sa.Column("severity", sa.String(20), nullable=True))
        batch.add_column(sa.Column("search_text", sa.Text, nullable=False, server_default=""))
        batch.create_unique_constraint("uq_complaints_source_external_ref", ["source", "external_ref"])
    op.create_index(
        "ix_complaints_repeat_key", "complaints", ["factory", "customer_key", "order_number", "part_number"]
    )
    op.create_table(
        "complaint_revisions",
        sa.Column("number", sa.String(32), sa.ForeignKey("complaints.number"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("record_before", sa.JSON, nullable=False),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(32), sa.ForeignKey("complaints.number"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_attachments_number", "attachments", ["number"])
    op.create_table(
        "rejected_submissions",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("external_ref", sa.String(200), nullable=True),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rejected_submissions")
    op.drop_index("ix_attachments_number", table_name="attachments")
    op.drop_table("attachments")
    op.drop_table("complaint_revisions")
    op.drop_index("ix_complaints_repeat_key", table_name="complaints")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint("uq_complaints_source_external_ref", type_="unique")
        for column in ("search_text", "severity", "repeat_of", "customer_key"):
            batch.drop_column(column)
