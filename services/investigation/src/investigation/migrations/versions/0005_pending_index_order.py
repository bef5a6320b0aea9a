"""investigation: the pending-deadline indexes hold the overdue list's order and every column it reads

The two partial indexes of 0004 (pending deadlines by due time, and by factory and due time)
gain the deadline's key after the due time, and `state`: the overdue list's page is then cut
from the index alone, in its order (due time, number, milestone, round), and SQLite, which counts
an index as covering only when it holds every column a query names, reads the live breached
counts from the index alone as PostgreSQL does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")
BEFORE = {
    "ix_case_deadlines_pending_due": ["due_at", "factory", "opened_month", "milestone"],
    "ix_case_deadlines_pending_factory": ["factory", "due_at", "opened_month", "milestone"],
}
AFTER = {
    "ix_case_deadlines_pending_due": ["due_at", "number", "milestone", "round", "factory", "opened_month", "state"],
    "ix_case_deadlines_pending_factory": ["factory", "due_at", "number", "milestone", "round", "opened_month", "state"],
}


def _replace(indexes: dict[str, list[str]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="case_deadlines")
        op.create_index(name, "case_deadlines", columns, postgresql_where=PENDING, sqlite_where=PENDING)


def upgrade() -> None:
    _replace(AFTER)


def downgrade() -> None:
    _replace(BEFORE)
