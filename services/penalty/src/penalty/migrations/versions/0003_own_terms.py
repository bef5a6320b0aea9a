"""penalty: assessments in penalty's own terms (parties table, columns), version column

The determination was stored as the public event's JSON; it becomes columns and one row per
responsible party. Existing rows are carried over.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_parties",
        sa.Column("assessment_id", sa.String(36), sa.ForeignKey("assessments.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("role", sa.String(100), nullable=True),
        sa.Column("share", sa.Numeric(5, 2).with_variant(sa.String(8), "sqlite"), nullable=False),
    )
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("determined_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rule_codes", sa.JSON, nullable=True))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))

    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"

    def at(value: Any) -> datetime:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.replace(tzinfo=None) if sqlite else moment

    rows = bind.execute(sa.text("SELECT id, determination, received_at FROM assessments")).all()
    parties = sa.table(
        "assessment_parties",
        sa.column("assessment_id"),
        sa.column("position"),
        sa.column("kind"),
        sa.column("name"),
        sa.column("department"),
        sa.column("role"),
        sa.column("share"),
    )
    for assessment_id, determination, received_at in rows:
        d = json.loads(determination) if isinstance(determination, str) else determination
        bind.execute(
            sa.text("UPDATE assessments SET determined_at = :at, rule_codes = :codes WHERE id = :id").bindparams(
                sa.bindparam("at", type_=sa.DateTime(timezone=True)), sa.bindparam("codes", type_=sa.JSON)
            ),
            {"at": at(d.get("determined_at") or received_at), "codes": d.get("rule_codes", []), "id": assessment_id},
        )
        for position, p in enumerate(d.get("parties", [])):
            bind.execute(
                sa.insert(parties).values(
                    assessment_id=assessment_id,
                    position=position,
                    kind=p["kind"],
                    name=p["name"],
                    department=p.get("department"),
                    role=p.get("role"),
                    share=str(Decimal(str(p["share"]))) if sqlite else Decimal(str(p["share"])),
                )
            )

    with op.batch_alter_table("assessments") as batch:
        batch.alter_column("determined_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("rule_codes", existing_type=sa.JSON, nullable=False)
        batch.drop_column("determination")
        batch.drop_column("line_items")


def downgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("determination", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("line_items", sa.JSON, nullable=False, server_default="[]"))
        batch.drop_column("version")
        batch.drop_column("rule_codes")
        batch.drop_column("determined_at")
    op.drop_table("assessment_parties")
