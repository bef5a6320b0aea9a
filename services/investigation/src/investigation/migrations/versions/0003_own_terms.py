"""investigation: cases in investigation's own terms (complaint facts, deadline rows), version column

The case stored the whole public complaint record and its deadlines as JSON. The complaint
becomes the few columns investigation uses, the deadlines one row per milestone with a state
(indexed by due time and state), and the case gets a version for optimistic concurrency.
Existing rows are carried over; their deadlines are pending (nothing could meet them before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _time(value: Any) -> datetime | None:
    """An RFC 3339 text of the JSON (or a stored time) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> str | None:
    when = _time(value)
    return None if when is None else when.isoformat()


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("registered_at", Time, nullable=True))
        batch.add_column(sa.Column("received_at", Time, nullable=True))
        batch.add_column(sa.Column("market_region", sa.String(20), nullable=True))
        batch.add_column(sa.Column("market_province", sa.String(20), nullable=True))
        batch.add_column(sa.Column("request_kind", sa.String(40), nullable=True))
        batch.add_column(sa.Column("batch_return", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("customer_company", sa.String(200), nullable=True))
        batch.add_column(sa.Column("part_number", sa.String(200), nullable=True))
        batch.add_column(sa.Column("product_model", sa.String(200), nullable=True))
        batch.add_column(sa.Column("phenomenon", sa.Text, nullable=True))
    op.create_index("ix_cases_state", "cases", ["state"])

    op.create_table(
        "case_deadlines",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("milestone", sa.String(40), nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("met_at", Time, nullable=True),
        sa.Column("cancelled_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("number", "milestone", name="pk_case_deadlines"),
        sa.ForeignKeyConstraint(["number"], ["cases.number"], name="fk_case_deadlines_number_cases"),
    )
    op.create_index("ix_case_deadlines_due_at", "case_deadlines", ["due_at"])
    op.create_index("ix_case_deadlines_state", "case_deadlines", ["state"])

    cases = sa.table(
        "cases",
        sa.column("number", sa.String),
        sa.column("registered_at", Time),
        sa.column("received_at", Time),
        sa.column("market_region", sa.String),
        sa.column("market_province", sa.String),
        sa.column("request_kind", sa.String),
        sa.column("batch_return", sa.Boolean),
        sa.column("customer_company", sa.String),
        sa.column("part_number", sa.String),
        sa.column("product_model", sa.String),
        sa.column("phenomenon", sa.Text),
    )
    deadlines = sa.table(
        "case_deadlines",
        sa.column("number", sa.String),
        sa.column("milestone", sa.String),
        sa.column("due_at", Time),
        sa.column("state", sa.String),
        sa.column("source", sa.Text),
    )
    bind = op.get_bind()
    for number, complaint, due, opened_at in bind.execute(
        sa.text("SELECT number, complaint, deadlines, opened_at FROM cases")
    ).all():
        c: dict[str, Any] = _json(complaint) or {}
        market = c.get("market") or {}
        request = c.get("customer_request") or {}
        customer = c.get("customer") or {}
        product = c.get("product") or {}
        registered_at = _time(c.get("registered_at")) or _time(opened_at)
        bind.execute(
            sa.update(cases)
            .where(cases.c.number == number)
            .values(
                registered_at=registered_at,
                received_at=_time(c.get("received_at")) or registered_at,
                market_region=market.get("region") or "domestic",
                market_province=market.get("province"),
                request_kind=request.get("kind"),
                batch_return=bool(c.get("batch_return", False)),
                customer_company=customer.get("company") or "",
                part_number=product.get("part_number"),
                product_model=product.get("model"),
                phenomenon=c.get("phenomenon") or "",
            )
        )
        rows = [
            {
                "number": number,
                "milestone": d["milestone"],
                "due_at": _time(d["due_at"]),
                "state": d.get("state") or "pending",
                "source": d.get("source") or "",
            }
            for d in _json(due) or []
        ]
        if rows:
            bind.execute(sa.insert(deadlines), rows)

    with op.batch_alter_table("cases") as batch:
        batch.alter_column("registered_at", existing_type=Time, nullable=False)
        batch.alter_column("received_at", existing_type=Time, nullable=False)
        batch.alter_column("market_region", existing_type=sa.String(20), nullable=False)
        batch.alter_column("customer_company", existing_type=sa.String(200), nullable=False)
        batch.alter_column("phenomenon", existing_type=sa.Text, nullable=False)
        batch.drop_column("complaint")
        batch.drop_column("deadlines")


def downgrade() -> None:
    # The public record cannot be rebuilt from the facts kept: what is left is put back as JSON.
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("complaint", sa.JSON, nullable=True))
        batch.add_column(sa.Column("deadlines", sa.JSON, nullable=True))
    bind = op.get_bind()
    cases = sa.table(
        "cases", sa.column("number", sa.String), sa.column("complaint", sa.JSON), sa.column("deadlines", sa.JSON)
    )
    for r in bind.execute(
        sa.text(
            "SELECT number, factory, registered_at, received_at, market_region, market_province, request_kind,"
            " batch_return, customer_company, part_number, product_model, phenomenon FROM cases"
        )
    ).all():
        due = bind.execute(
            sa.text("SELECT milestone, due_at, source FROM case_deadlines WHERE number = :n ORDER BY due_at"),
            {"n": r.number},
        ).all()
        complaint = {
            "number": r.number,
            "factory": r.factory,
            "registered_at": _text(r.registered_at),
            "received_at": _text(r.received_at),
            "market": {"region": r.market_region, "province": r.market_province},
            "customer_request": {"kind": r.request_kind} if r.request_kind else None,
            "batch_return": bool(r.batch_return),
            "customer": {"company": r.customer_company},
            "product": {"part_number": r.part_number, "model": r.product_model},
            "phenomenon": r.phenomenon,
        }
        bind.execute(
            sa.update(cases)
            .where(cases.c.number == r.number)
            .values(
                complaint=complaint,
                deadlines=[{"milestone": d.milestone, "due_at": _text(d.due_at), "source": d.source} for d in due],
            )
        )
    op.drop_index("ix_case_deadlines_state", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_due_at", table_name="case_deadlines")
    op.drop_table("case_deadlines")
    op.drop_index("ix_cases_state", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("complaint", existing_type=sa.JSON, nullable=False)
        batch.alter_column("deadlines", existing_type=sa.JSON, nullable=False)
        for column in (
            "phenomenon",
            "product_model",
            "part_number",
            "customer_company",
            "batch_return",
            "request_kind",
            "market_province",
            "market_region",
            "received_at",
            "registered_at",
            "version",
        ):
            batch.drop_column(column)
