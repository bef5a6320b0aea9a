"""penalty: the cost rollup stats_cost (质量成本: compensation + penalties per factory × month ×
department), filled from the assessments stored so far

From now on the assessment repository keeps it in the transaction of every change. This revision
counts what is stored, as the ledger does: an assessment counts in its period while draft,
appealed or approved or once replaced after its period closed, and is negated in its reversal
period. Fines and charge-backs by the line's department; the compensation (loss amount) split by
the parties' shares, a party in the department its lines name, a supplier's share in ''. In fen.
(A frozen copy of penalty/adapters/rollups.py as it was written: migrations import no live code.)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20
"""

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COUNTED = ("draft", "appealed", "approved")
CHUNK = 1000


def _fen(value: Any) -> int:
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _split(total: int, weights: dict[str, int]) -> dict[str, int]:
    whole = sum(weights.values())
    if total == 0:
        return {}
    if whole <= 0:
        return {"": total}
    out = {key: total * w // whole for key, w in weights.items()}
    rest = total - sum(out.values())
    for key in sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))[:rest]:
        out[key] += 1
    return out


def _figures(loss: Any, parties: list[Any], lines: list[Any]) -> dict[str, list[int]]:
    """department -> [compensation, fines, charge-backs, money lines] of one assessment."""
    out: dict[str, list[int]] = {}
    weights: dict[str, int] = {}
    for p in parties:
        if p.kind == "supplier":
            department = ""
        else:
            own = p.department or (p.name if p.kind == "department" else None)
            named = [x.department for x in lines if x.party == p.name and x.department]
            department = (own or "") if own in named or not named else named[0]
        weights[department] = weights.get(department, 0) + _fen(p.share)
    for department, value in _split(_fen(loss) if loss is not None else 0, weights).items():
        out.setdefault(department, [0, 0, 0, 0])[0] += value
    for x in lines:
        if x.kind in ("fine", "charge_back"):
            row = out.setdefault(x.department or "", [0, 0, 0, 0])
            row[1 if x.kind == "fine" else 2] += _fen(x.amount)
            row[3] += 1
    return out


def _chunks(bind: sa.Connection, a: sa.TableClause) -> Iterator[list[Any]]:
    counted = sa.or_(a.c.status.in_(COUNTED), a.c.reversal_period.is_not(None))
    last = ""
    while True:
        rows = bind.execute(
            sa.select(a.c.id, a.c.factory, a.c.status, a.c.period, a.c.reversal_period, a.c.loss_amount)
            .where(counted, a.c.id > last)
            .order_by(a.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def upgrade() -> None:
    op.create_table(
        "stats_cost",
        sa.Column("factory", sa.String(10), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("compensation_fen", sa.BigInteger, nullable=False),
        sa.Column("fines_fen", sa.BigInteger, nullable=False),
        sa.Column("charge_backs_fen", sa.BigInteger, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("period", "department", "factory", name="pk_stats_cost"),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    a = sa.table(
        "assessments",
        sa.column("id", sa.String),
        sa.column("factory", sa.String),
        sa.column("status", sa.String),
        sa.column("period", sa.String),
        sa.column("reversal_period", sa.String),
        sa.column("loss_amount", sa.String),
    )
    p = sa.table(
        "assessment_parties",
        sa.column("assessment_id", sa.String),
        sa.column("position", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("name", sa.String),
        sa.column("department", sa.String),
        sa.column("share", sa.String),
    )
    x = sa.table(
        "assessment_lines",
        sa.column("assessment_id", sa.String),
        sa.column("position", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("department", sa.String),
        sa.column("party", sa.String),
        sa.column("amount", sa.String),
    )
    totals: dict[tuple[str, str, str], list[int]] = {}
    for rows in _chunks(bind, a):
        ids = [r.id for r in rows]
        parties: dict[str, list[Any]] = {}
        lines: dict[str, list[Any]] = {}
        for r in bind.execute(sa.select(p).where(p.c.assessment_id.in_(ids)).order_by(p.c.assessment_id, p.c.position)):
            parties.setdefault(r.assessment_id, []).append(r)
        for r in bind.execute(sa.select(x).where(x.c.assessment_id.in_(ids)).order_by(x.c.assessment_id, x.c.position)):
            lines.setdefault(r.assessment_id, []).append(r)
        for r in rows:
            places = [(r.period, 1)] if r.status in COUNTED or r.reversal_period is not None else []
            if r.reversal_period is not None and r.reversal_period != r.period:
                places.append((r.reversal_period, -1))
            figures = _figures(r.loss_amount, parties.get(r.id, []), lines.get(r.id, []))
            for period, sign in places:
                for department, values in figures.items():
                    known = totals.setdefault((r.factory, period, department), [0, 0, 0, 0])
                    for i, value in enumerate(values):
                        known[i] += sign * value
    rows_out = [
        {
            "factory": factory,
            "period": period,
            "department": department,
            "compensation_fen": v[0],
            "fines_fen": v[1],
            "charge_backs_fen": v[2],
            "lines": v[3],
        }
        for (factory, period, department), v in sorted(totals.items())
        if any(v)
    ]
    if rows_out:
        stats = sa.table(
            "stats_cost",
            *(
                sa.column(name)
                for name in ("factory", "period", "department", "compensation_fen", "fines_fen", "charge_backs_fen")
            ),
            sa.column("lines"),
        )
        bind.execute(sa.insert(stats), rows_out)


def downgrade() -> None:
    op.drop_table("stats_cost")
