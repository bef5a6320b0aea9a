"""intake: complaint version column (optimistic concurrency), unique storage keys of attachments

Existing complaints start at version 1. The orphan sweep looks attachments up by storage key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_index("ix_attachments_storage_key", "attachments", ["storage_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_attachments_storage_key", table_name="attachments")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("version")
