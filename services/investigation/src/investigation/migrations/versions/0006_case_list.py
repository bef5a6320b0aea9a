"""investigation: the case list – each case's next due time, and indexes in the list's two orders

`cases.next_due_at` is the earliest due time of the case's pending deadlines (NULL when none is
pending), kept by the repository on every save and filled here from the deadlines. The list
sorts by it (next deadline first) or by opening time, within one factory or across all; each
index ends with the number, so that a keyset page is cut from the index in its order. The
next-due indexes are partial: only cases with a pending deadline, a small share of all.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HAS_NEXT_DUE = sa.text("next_due_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE cases SET next_due_at = (SELECT MIN(d.due_at) FROM case_deadlines d"
        " WHERE d.number = cases.number AND d.state = 'pending')"
    )
    op.create_index(
        "ix_cases_next_due",
        "cases",
        ["next_due_at", "number"],
        postgresql_where=HAS_NEXT_DUE,
        sqlite_where=HAS_NEXT_DUE,
    )
    op.create_index(
        "ix_cases_factory_next_due",
        "cases",
        ["factory", "next_due_at", "number"],
        postgresql_where=HAS_NEXT_DUE,
        sqlite_where=HAS_NEXT_DUE,
    )
    op.create_index("ix_cases_opened", "cases", ["opened_at", "number"])
    op.create_index("ix_cases_factory_opened", "cases", ["factory", "opened_at", "number"])


def downgrade() -> None:
    for name in ("ix_cases_factory_opened", "ix_cases_opened", "ix_cases_factory_next_due", "ix_cases_next_due"):
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("next_due_at")
