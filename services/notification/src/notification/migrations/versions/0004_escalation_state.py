"""notification: the escalation list – a fired timer settles when its deadline stops pending

`timers.settled_at` is set on a fired timer when its deadline is met, cancelled or moved (its
pending timers are cancelled as before): a deadline still pending is one whose breach or an
escalation timer is pending, or fired and not settled. A partial index holds exactly those
timers, by due time.

Timers stored before this revision: a fired timer settles when a breach or escalation timer of
the same deadline was cancelled (the deadline stopped pending then). A deadline whose every
timer had fired cannot tell; it stays listed until the next event of its case settles it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COUNTING = sa.text("kind <> 'reminder' AND state <> 'cancelled' AND settled_at IS NULL")
COLUMNS = ["due_at", "track", "milestone", "round", "factory", "number", "kind", "state", "settled_at"]
SAME_DEADLINE = (
    "c.track = timers.track AND c.milestone = timers.milestone AND c.round = timers.round"
    " AND c.due_at = timers.due_at AND c.state = 'cancelled' AND c.kind <> 'reminder'"
)


def upgrade() -> None:
    with op.batch_alter_table("timers") as t:
        t.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        f"UPDATE timers SET settled_at = (SELECT MAX(c.cancelled_at) FROM timers c WHERE {SAME_DEADLINE})"
        f" WHERE state = 'fired' AND EXISTS (SELECT 1 FROM timers c WHERE {SAME_DEADLINE})"
    )
    op.create_index("ix_timers_counting_due", "timers", COLUMNS, postgresql_where=COUNTING, sqlite_where=COUNTING)


def downgrade() -> None:
    op.drop_index("ix_timers_counting_due", table_name="timers")
    with op.batch_alter_table("timers") as t:
        t.drop_column("settled_at")
