"""notification: delivery log columns, inbox read marks, deadline tracks, durable timers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notifications") as t:
        t.add_column(sa.Column("locale", sa.String(5), nullable=False, server_default="zh"))
        t.add_column(sa.Column("target", sa.String(200), nullable=True))
        t.add_column(sa.Column("digest", sa.Boolean, nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        t.add_column(sa.Column("last_error", sa.Text, nullable=True))
        t.add_column(sa.Column("next_attempt_at", TZ, nullable=True))
        t.add_column(sa.Column("failed_at", TZ, nullable=True))
        t.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
        t.add_column(sa.Column("lease_until", TZ, nullable=True))
        t.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    # Rows written before this revision were in-app notices, delivered when written.
    op.execute("UPDATE notifications SET attempts = 1 WHERE status = 'delivered'")
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_recipient", "notifications", ["recipient", "created_at"])
    op.create_table(
        "inbox_reads",
        sa.Column("notification_id", sa.String(36), primary_key=True),
        sa.Column("reader", sa.String(100), primary_key=True),
        sa.Column("read_at", TZ, nullable=False),
    )
    op.create_table(
        "deadline_tracks",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("producer", sa.String(50), nullable=False),
        sa.Column("applied_version", sa.Integer, nullable=False),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("track", sa.String(100), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("milestone", sa.String(100), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("fire_at", TZ, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("source", sa.String(100), nullable=False, server_default=""),
        sa.Column("producer", sa.String(50), nullable=False),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("audience", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("fired_at", TZ, nullable=True),
        sa.Column("cancelled_at", TZ, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_timers_track", "timers", ["track"])
    op.create_index("ix_timers_due", "timers", ["state", "fire_at"])
    op.create_table(
        "send_windows",
        sa.Column("target", sa.String(120), primary_key=True),
        sa.Column("window_start", TZ, primary_key=True),
        sa.Column("sent", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_windows")
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_index("ix_timers_track", table_name="timers")
    op.drop_table("timers")
    op.drop_table("deadline_tracks")
    op.drop_table("inbox_reads")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    with op.batch_alter_table("notifications") as t:
        for column in (
            "version",
            "lease_until",
            "claimed_by",
            "failed_at",
            "next_attempt_at",
            "last_error",
            "attempts",
            "digest",
            "target",
            "locale",
        ):
            t.drop_column(column)
