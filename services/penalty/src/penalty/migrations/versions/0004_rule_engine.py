"""penalty: the rule engine's assessments (line items, workflow, breaches) and the monthly ledger

An assessment gains its workflow (draft, appealed, approved, superseded, void), the ledger
period it counts in, the rule table version it was computed with, warnings, the monthly cycle's
deadlines, the appeal and its decision, and its line items (one row each). It assesses a
determination (its columns become optional: a breach has none) or an SLA breach (new columns).
The determination's rule codes become findings with their counts. New: the ledger periods.

Assessments stored before this revision were `awaiting_rules`: they become drafts without
lines, counted in the Asia/Shanghai month they were determined in, computed with no rule table
(policy version `none`) and saying so in a warning.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)
Money = sa.Numeric(14, 2).with_variant(sa.String(32), "sqlite")  # exact: text on SQLite
Points = sa.Numeric().with_variant(sa.String(40), "sqlite")  # exact, any scale
ZONE = ZoneInfo("Asia/Shanghai")  # the factories' zone when this revision was written
NO_LINES = "assessed before the rule engine: no lines computed"
STATUS_UP = {"awaiting_rules": "draft", "finalized": "approved"}
STATUS_DOWN = {"draft": "awaiting_rules", "appealed": "awaiting_rules", "approved": "finalized"}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _period(value: Any) -> str:
    """yyyy-mm of a stored time in Asia/Shanghai (SQLite returns it naive: it is UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {value!r}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    local = value.astimezone(ZONE)
    return f"{local.year:04d}-{local.month:02d}"


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("basis", sa.String(20), nullable=True))
        batch.add_column(sa.Column("period", sa.String(7), nullable=True))
        batch.add_column(sa.Column("adjustment", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("reversal_period", sa.String(7), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(36), nullable=True))
        batch.add_column(sa.Column("policy_version", sa.String(100), nullable=True))
        batch.add_column(sa.Column("warnings", sa.JSON, nullable=True))
        batch.add_column(sa.Column("deadlines", sa.JSON, nullable=True))
        batch.add_column(sa.Column("appeal", sa.JSON, nullable=True))
        batch.add_column(sa.Column("decision", sa.JSON, nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("approved_at", Time, nullable=True))
        batch.add_column(sa.Column("sequence", sa.Integer, nullable=True))
        batch.add_column(sa.Column("findings", sa.JSON, nullable=True))
        batch.add_column(sa.Column("order_number", sa.String(64), nullable=True))
        batch.add_column(sa.Column("milestone", sa.String(60), nullable=True))
        batch.add_column(sa.Column("round", sa.Integer, nullable=True))
        batch.add_column(sa.Column("due_at", Time, nullable=True))
        batch.add_column(sa.Column("breached_at", Time, nullable=True))
        batch.add_column(sa.Column("department", sa.String(200), nullable=True))
        batch.alter_column("accident_class", existing_type=sa.String(40), nullable=True)
        batch.alter_column("loss_amount", existing_type=Money, nullable=True)
        batch.alter_column("determined_at", existing_type=Time, nullable=True)

    bind = op.get_bind()
    old = sa.table(
        "assessments",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("determined_at", Time),
        sa.column("rule_codes", sa.JSON),
    )
    rows = [
        {
            "key": assessment_id,
            "status": STATUS_UP.get(status, status),
            "period": _period(determined_at),
            "findings": [
                {
                    "code": code,
                    "occurrences": 1,
                    "pieces": 0,
                    "party": None,
                    "product_stage": "series",
                    "degree": "general",
                }
                for code in dict.fromkeys(_json(rule_codes) or [])
            ],
        }
        for assessment_id, status, determined_at, rule_codes in bind.execute(
            sa.select(old.c.id, old.c.status, old.c.determined_at, old.c.rule_codes)
        ).all()
    ]
    if rows:
        new = sa.table(
            "assessments",
            sa.column("id", sa.String),
            sa.column("basis", sa.String),
            sa.column("status", sa.String),
            sa.column("period", sa.String),
            sa.column("policy_version", sa.String),
            sa.column("warnings", sa.JSON),
            sa.column("deadlines", sa.JSON),
            sa.column("sequence", sa.Integer),
            sa.column("findings", sa.JSON),
        )
        bind.execute(
            sa.update(new)
            .where(new.c.id == sa.bindparam("key"))
            .values(
                basis="determination",
                status=sa.bindparam("status"),
                period=sa.bindparam("period"),
                policy_version="none",
                warnings=[NO_LINES],
                deadlines=[],
                sequence=1,
                findings=sa.bindparam("findings"),
            ),
            rows,
        )

    with op.batch_alter_table("assessments") as batch:
        batch.alter_column("basis", existing_type=sa.String(20), nullable=False)
        batch.alter_column("period", existing_type=sa.String(7), nullable=False)
        batch.alter_column("policy_version", existing_type=sa.String(100), nullable=False)
        batch.alter_column("warnings", existing_type=sa.JSON, nullable=False)
        batch.alter_column("deadlines", existing_type=sa.JSON, nullable=False)
        batch.drop_column("rule_codes")
    op.create_index("ix_assessments_factory_period", "assessments", ["factory", "period"])
    op.create_index("ix_assessments_reversal_period", "assessments", ["reversal_period"])
    op.create_index("ix_assessments_factory_status", "assessments", ["factory", "status"])

    op.create_table(
        "assessment_lines",
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("rule_code", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("payee_kind", sa.String(20), nullable=False),
        sa.Column("payee_id", sa.String(200), nullable=False),
        sa.Column("payee_name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("party", sa.String(200), nullable=True),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("points", Points, nullable=False),
        sa.Column("points_ledger", sa.String(20), nullable=True),
        sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("original_amount", Money, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("assessment_id", "position", name="pk_assessment_lines"),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name="fk_assessment_lines_assessment_id_assessments"
        ),
    )
    op.create_table(
        "ledger_periods",
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("closed_at", Time, nullable=True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("totals", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("factory", "period", name="pk_ledger_periods"),
    )


def downgrade() -> None:
    """Back to 0003: lines, periods and breach assessments have no place there and are dropped;
    rule codes come back from the findings, statuses to the three 0003 knew where they map."""
    op.drop_table("ledger_periods")
    op.drop_table("assessment_lines")
    op.execute(
        "DELETE FROM assessment_parties WHERE assessment_id IN (SELECT id FROM assessments WHERE basis = 'breach')"
    )
    op.execute("DELETE FROM assessments WHERE basis = 'breach'")
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("rule_codes", sa.JSON, nullable=True))

    bind = op.get_bind()
    table = sa.table(
        "assessments",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("findings", sa.JSON),
        sa.column("rule_codes", sa.JSON),
    )
    rows = [
        {
            "key": assessment_id,
            "status": STATUS_DOWN.get(status, status),
            "codes": list(dict.fromkeys(f["code"] for f in _json(findings) or [])),
        }
        for assessment_id, status, findings in bind.execute(
            sa.select(table.c.id, table.c.status, table.c.findings)
        ).all()
    ]
    if rows:
        bind.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("key"))
            .values(status=sa.bindparam("status"), rule_codes=sa.bindparam("codes")),
            rows,
        )

    op.drop_index("ix_assessments_factory_status", table_name="assessments")
    op.drop_index("ix_assessments_reversal_period", table_name="assessments")
    op.drop_index("ix_assessments_factory_period", table_name="assessments")
    with op.batch_alter_table("assessments") as batch:
        batch.alter_column("rule_codes", existing_type=sa.JSON, nullable=False)
        batch.alter_column("accident_class", existing_type=sa.String(40), nullable=False)
        batch.alter_column("loss_amount", existing_type=Money, nullable=False)
        batch.alter_column("determined_at", existing_type=Time, nullable=False)
        for name in (
            "department",
            "breached_at",
            "due_at",
            "round",
            "milestone",
            "order_number",
            "findings",
            "sequence",
            "approved_at",
            "approved_by",
            "decision",
            "appeal",
            "deadlines",
            "warnings",
            "policy_version",
            "superseded_by",
            "reversal_period",
            "adjustment",
            "period",
            "basis",
        ):
            batch.drop_column(name)
