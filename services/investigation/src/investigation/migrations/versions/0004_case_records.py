"""investigation: the whole case (records, rounds, outcome), its projections and the statistics rollups

The case gains what the 8D steps record (the records as JSON), its handling round, closing time
and outcome, and columns copied out of the records for lists and statistics. A deadline is
unique per milestone and round (a reopened case has its own customer reply and close
deadlines), so `round` joins the deadlines' primary key. New: the current determination's
parties, the actions, and the rollup counters per factory × month × dimension.

Cases stored before this revision have no records yet (empty), are open, and count in the UTC
month they opened; the rollups are filled from their rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)
Money = sa.Numeric(14, 2).with_variant(sa.String(32), "sqlite")  # exact: text on SQLite
Percent = sa.Numeric(5, 2).with_variant(sa.String(8), "sqlite")
PENDING = sa.text("state = 'pending'")


def _month(value: Any) -> int:
    """yyyymm of a stored time, in UTC (SQLite returns it naive: it is UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {value!r}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.year * 100 + value.month


def _rollup(name: str, keys: list[sa.Column[Any]], counters: list[sa.Column[Any]]) -> None:
    """A rollup table: counters per factory × month (yyyymm) × its own key columns."""
    op.create_table(
        name,
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("month", sa.Integer, nullable=False),
        *keys,
        *counters,
        sa.PrimaryKeyConstraint("factory", "month", *(c.name for c in keys), name=f"pk_{name}"),
    )


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("quantity_defective", sa.Integer, nullable=True))
        batch.add_column(sa.Column("round", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("closed_at", Time, nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(40), nullable=True))
        batch.add_column(sa.Column("records", sa.JSON, nullable=True))
        batch.add_column(sa.Column("opened_month", sa.Integer, nullable=True))
        batch.add_column(sa.Column("severity", sa.String(20), nullable=True))
        batch.add_column(sa.Column("category", sa.String(40), nullable=True))
        batch.add_column(sa.Column("valid", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("responsible_department", sa.String(100), nullable=True))
        batch.add_column(sa.Column("cause_class", sa.String(40), nullable=True))
        batch.add_column(sa.Column("loss_class", sa.String(40), nullable=True))
        batch.add_column(sa.Column("loss_amount", Money, nullable=True))

    bind = op.get_bind()
    cases = sa.table(
        "cases", sa.column("number", sa.String), sa.column("records", sa.JSON), sa.column("opened_month", sa.Integer)
    )
    rows = [
        {"n": number, "records": {}, "opened_month": _month(opened_at)}
        for number, opened_at in bind.execute(sa.text("SELECT number, opened_at FROM cases")).all()
    ]
    if rows:
        bind.execute(
            sa.update(cases)
            .where(cases.c.number == sa.bindparam("n"))
            .values(records=sa.bindparam("records"), opened_month=sa.bindparam("opened_month")),
            rows,
        )
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("records", existing_type=sa.JSON, nullable=False)
        batch.alter_column("opened_month", existing_type=sa.Integer, nullable=False)

    op.drop_index("ix_case_deadlines_due_at", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_state", table_name="case_deadlines")
    with op.batch_alter_table("case_deadlines") as batch:
        batch.add_column(sa.Column("round", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("position", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("factory", sa.String(10), nullable=True))
        batch.add_column(sa.Column("opened_month", sa.Integer, nullable=True))
        batch.drop_constraint("pk_case_deadlines", type_="primary")
        batch.create_primary_key("pk_case_deadlines", ["number", "milestone", "round"])
    # The case's factory and month on each of its deadlines (position 0: read in due order).
    op.execute(
        "UPDATE case_deadlines SET"
        " factory = (SELECT factory FROM cases WHERE cases.number = case_deadlines.number),"
        " opened_month = (SELECT opened_month FROM cases WHERE cases.number = case_deadlines.number)"
    )
    with op.batch_alter_table("case_deadlines") as batch:
        batch.alter_column("factory", existing_type=sa.String(10), nullable=False)
        batch.alter_column("opened_month", existing_type=sa.Integer, nullable=False)
    op.create_index(
        "ix_case_deadlines_pending_due",
        "case_deadlines",
        ["due_at", "factory", "opened_month", "milestone"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_case_deadlines_pending_factory",
        "case_deadlines",
        ["factory", "due_at", "opened_month", "milestone"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )

    op.create_table(
        "case_parties",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("role", sa.String(100), nullable=True),
        sa.Column("share", Percent, nullable=False),
        sa.PrimaryKeyConstraint("number", "kind", "name", name="pk_case_parties"),
        sa.ForeignKeyConstraint(["number"], ["cases.number"], name="fk_case_parties_number_cases"),
    )
    op.create_table(
        "case_actions",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("verified_at", Time, nullable=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("number", "id", name="pk_case_actions"),
        sa.ForeignKeyConstraint(["number"], ["cases.number"], name="fk_case_actions_number_cases"),
    )

    _rollup(
        "stats_cases",
        [sa.Column("outcome", sa.String(40), nullable=False)],
        [sa.Column("cases", sa.Integer, nullable=False), sa.Column("cycle_seconds", sa.BigInteger, nullable=False)],
    )
    _rollup(
        "stats_cycle_days",
        [sa.Column("days", sa.Integer, nullable=False)],
        [sa.Column("cases", sa.Integer, nullable=False)],
    )
    _rollup(
        "stats_deadlines",
        [sa.Column("milestone", sa.String(40), nullable=False)],
        [
            sa.Column("on_time", sa.Integer, nullable=False),
            sa.Column("late", sa.Integer, nullable=False),
            sa.Column("cancelled", sa.Integer, nullable=False),
        ],
    )
    _rollup(
        "stats_departments",
        [sa.Column("department", sa.String(100), nullable=False)],
        [sa.Column("cases", sa.Integer, nullable=False), sa.Column("share_bp", sa.BigInteger, nullable=False)],
    )
    _rollup(
        "stats_accidents",
        [
            sa.Column("dimension", sa.String(10), nullable=False),
            sa.Column("accident_class", sa.String(40), nullable=False),
        ],
        [sa.Column("cases", sa.Integer, nullable=False), sa.Column("loss_cents", sa.BigInteger, nullable=False)],
    )
    # What the cases stored so far count: all are open (no outcome yet), some deadlines settled.
    op.execute(
        "INSERT INTO stats_cases (factory, month, outcome, cases, cycle_seconds)"
        " SELECT factory, opened_month, '', COUNT(*), 0 FROM cases GROUP BY factory, opened_month"
    )
    op.execute(
        "INSERT INTO stats_deadlines (factory, month, milestone, on_time, late, cancelled)"
        " SELECT factory, opened_month, milestone,"
        " SUM(CASE WHEN state = 'met' AND met_at <= due_at THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN state = 'met' AND met_at > due_at THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END)"
        " FROM case_deadlines WHERE state IN ('met', 'cancelled') GROUP BY factory, opened_month, milestone"
    )


def downgrade() -> None:
    for name in ("stats_accidents", "stats_departments", "stats_deadlines", "stats_cycle_days", "stats_cases"):
        op.drop_table(name)
    op.drop_table("case_actions")
    op.drop_table("case_parties")
    op.drop_index("ix_case_deadlines_pending_factory", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_pending_due", table_name="case_deadlines")
    # Before rounds a milestone was unique per case: later rounds' deadlines cannot be kept.
    op.execute("DELETE FROM case_deadlines WHERE round > 1")
    with op.batch_alter_table("case_deadlines") as batch:
        batch.drop_constraint("pk_case_deadlines", type_="primary")
        batch.create_primary_key("pk_case_deadlines", ["number", "milestone"])
        for column in ("opened_month", "factory", "position", "round"):
            batch.drop_column(column)
    op.create_index("ix_case_deadlines_due_at", "case_deadlines", ["due_at"])
    op.create_index("ix_case_deadlines_state", "case_deadlines", ["state"])
    with op.batch_alter_table("cases") as batch:
        for column in (
            "loss_amount",
            "loss_class",
            "cause_class",
            "responsible_department",
            "valid",
            "category",
            "severity",
            "opened_month",
            "records",
            "outcome",
            "closed_at",
            "round",
            "quantity_defective",
        ):
            batch.drop_column(column)
