"""intake: complaint statistics – day, product and defect type of each complaint, and the rollups

A complaint gains the columns the statistics count it by: the factory's calendar day of its
registration (yyyymmdd), its product (part number, else model) and its defect type (不良类型,
new and optional in the record). New: the rollup counters per dimension × product × day (and
month, year) × factory × key, kept by the repository in the transaction of every change.

Complaints stored before this revision have no defect type; their day is their registration
day in Asia/Shanghai, the zone every factory's policy ships with (a migration cannot read the
policy files). The rollups are filled from their rows by the counting rule of the raw counts:
a repeat counts as a repeat, else a withdrawn complaint as withdrawn, else as a complaint.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROLLUPS = (("stats_complaint_days", "day"), ("stats_complaint_months", "month"), ("stats_complaint_years", "year"))
PERIODS = {"day": "registered_day", "month": "registered_day / 100", "year": "registered_day / 10000"}  # integers

COMPLAINTS = "SUM(CASE WHEN repeat_of IS NULL AND status <> 'withdrawn' THEN 1 ELSE 0 END)"
REPEATS = "SUM(CASE WHEN repeat_of IS NOT NULL THEN 1 ELSE 0 END)"
WITHDRAWN = "SUM(CASE WHEN repeat_of IS NULL AND status = 'withdrawn' THEN 1 ELSE 0 END)"
DEFECT = "COALESCE(defect_type, '')"
# (dimension, product expression, key expression), as intake/adapters/rollups.py counted them in 0005
DIMENSIONS = (
    ("channel", "''", "channel"),
    ("defect_type", "''", DEFECT),
    ("product", "''", "product_key"),
    ("product_channel", "product_key", "channel"),
    ("product_defect_type", "product_key", DEFECT),
)


def _day(value: Any) -> int:
    """yyyymmdd of a stored time in Asia/Shanghai (SQLite returns it naive: it is UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {value!r}")
    local = (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(SHANGHAI)
    return local.year * 10000 + local.month * 100 + local.day


def _product(part_number: str | None, record: Any) -> str:
    if part_number:
        return part_number
    product = record.get("product") if isinstance(record, dict) else None
    model = product.get("model") if isinstance(product, dict) else None
    return model if isinstance(model, str) else ""


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("registered_day", sa.Integer, nullable=True))
        batch.add_column(sa.Column("product_key", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("defect_type", sa.String(100), nullable=True))

    bind = op.get_bind()
    complaints = sa.table(
        "complaints",
        sa.column("number", sa.String),
        sa.column("registered_at", sa.DateTime(timezone=True)),
        sa.column("part_number", sa.String),
        sa.column("record", sa.JSON),
        sa.column("registered_day", sa.Integer),
        sa.column("product_key", sa.String),
    )
    rows = [
        {"n": number, "registered_day": _day(registered_at), "product_key": _product(part_number, record)}
        for number, registered_at, part_number, record in bind.execute(
            sa.select(complaints.c.number, complaints.c.registered_at, complaints.c.part_number, complaints.c.record)
        ).all()
    ]
    if rows:
        bind.execute(
            sa.update(complaints)
            .where(complaints.c.number == sa.bindparam("n"))
            .values(registered_day=sa.bindparam("registered_day"), product_key=sa.bindparam("product_key")),
            rows,
        )
    with op.batch_alter_table("complaints") as batch:
        batch.alter_column("registered_day", existing_type=sa.Integer, nullable=False)

    for name, period in ROLLUPS:
        op.create_table(
            name,
            sa.Column("dimension", sa.String(20), nullable=False),
            sa.Column("product", sa.String(200), nullable=False),
            sa.Column(period, sa.Integer, nullable=False),
            sa.Column("factory", sa.String(10), nullable=False),
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("complaints", sa.Integer, nullable=False),
            sa.Column("repeats", sa.Integer, nullable=False),
            sa.Column("withdrawn", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint(
                "dimension",
                "product",
                period,
                "factory",
                "key",
                name=f"pk_{name}",
                postgresql_include=["complaints", "repeats", "withdrawn"],  # index-only scans
            ),
            sqlite_with_rowid=False,  # clustered on the primary key
        )
        value = PERIODS[period]  # integer division on both databases
        for dimension, product, key in DIMENSIONS:
            groups = ", ".join(x for x in (product, value, "factory", key) if x != "''")  # PostgreSQL: no constants
            op.execute(
                f'INSERT INTO {name} (dimension, product, {period}, factory, "key", complaints, repeats, withdrawn)'
                f" SELECT '{dimension}', {product}, {value}, factory, {key}, {COMPLAINTS}, {REPEATS}, {WITHDRAWN}"
                f" FROM complaints GROUP BY {groups}"
            )


def downgrade() -> None:
    for name, _period in reversed(ROLLUPS):
        op.drop_table(name)
    with op.batch_alter_table("complaints") as batch:
        for column in ("defect_type", "product_key", "registered_day"):
            batch.drop_column(column)
