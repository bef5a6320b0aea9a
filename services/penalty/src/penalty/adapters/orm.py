"""Tables of the penalty database.

An assessment is one `assessments` row (its workflow state, the subject it assesses: a
determination or an SLA breach, and what is small and read whole as JSON: warnings, the
monthly cycle's deadlines, the appeal and its decision), one row per responsible party of the
determination and one row per line item (考核明细). A factory's month of the ledger is one
`ledger_periods` row, open until closed for good.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from cqm_shared.audit import audit_table
from cqm_shared.db import Money, Percent, UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()


class Points(TypeDecorator[Decimal]):
    """Points (绩效分 / 管理分) exactly as computed, whatever their scale (a split of 33.33 % gives
    four decimals): unconstrained NUMERIC on PostgreSQL, the decimal's text on SQLite (no float)."""

    impl = sa.Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("points must be a Decimal")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


assessments = sa.Table(
    "assessments",
    metadata,
    # A determination's: the event's id; a breach's: uuid5 of (factory, number, milestone, round).
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("number", sa.String(32), nullable=False, index=True),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("basis", sa.String(20), nullable=False),  # determination or breach
    sa.Column("status", sa.String(20), nullable=False),  # draft appealed approved superseded void
    sa.Column("period", sa.String(7), nullable=False),  # yyyy-mm of the ledger it counts in
    sa.Column("adjustment", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reversal_period", sa.String(7), nullable=True),
    sa.Column("superseded_by", sa.String(36), nullable=True),
    sa.Column("policy_version", sa.String(100), nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),  # [str]
    sa.Column("deadlines", sa.JSON, nullable=False),  # the monthly cycle: [{milestone, due_at, …}]
    sa.Column("appeal", sa.JSON(none_as_null=True), nullable=True),  # {by, at, reason, lines}
    sa.Column("decision", sa.JSON(none_as_null=True), nullable=True),  # {by, at, upheld, reason, amounts}
    sa.Column("approved_by", sa.String(200), nullable=True),
    sa.Column("approved_at", UTCDateTime, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The determination assessed (NULL for a breach's assessment); its parties: assessment_parties.
    sa.Column("sequence", sa.Integer, nullable=True),
    sa.Column("accident_class", sa.String(40), nullable=True),
    sa.Column("loss_amount", Money, nullable=True),
    sa.Column("determined_at", UTCDateTime, nullable=True),
    sa.Column("findings", sa.JSON(none_as_null=True), nullable=True),  # [{code, occurrences, pieces, party, …}]
    sa.Column("order_number", sa.String(64), nullable=True),
    # The SLA breach assessed (NULL for a determination's assessment).
    sa.Column("milestone", sa.String(60), nullable=True),
    sa.Column("round", sa.Integer, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("breached_at", UTCDateTime, nullable=True),
    sa.Column("department", sa.String(200), nullable=True),
)
# A ledger reads (factory, period) and the reversals landing in a period; lists filter by status.
sa.Index("ix_assessments_factory_period", assessments.c.factory, assessments.c.period)
sa.Index("ix_assessments_reversal_period", assessments.c.reversal_period)
sa.Index("ix_assessments_factory_status", assessments.c.factory, assessments.c.status)

# The responsible parties of the determination an assessment is for, in penalty's own terms.
assessment_parties = sa.Table(
    "assessment_parties",
    metadata,
    sa.Column("assessment_id", sa.String(36), sa.ForeignKey("assessments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("department", sa.String(200), nullable=True),
    sa.Column("role", sa.String(100), nullable=True),
    sa.Column("share", Percent, nullable=False),
)

# The line items (考核明细) of an assessment, in the rule engine's order.
assessment_lines = sa.Table(
    "assessment_lines",
    metadata,
    sa.Column("assessment_id", sa.String(36), sa.ForeignKey("assessments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("rule_code", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),  # fine points charge_back exempt commission_cancelled
    sa.Column("role", sa.String(60), nullable=False),
    sa.Column("payee_kind", sa.String(20), nullable=False),  # person department supplier role
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
)

# A factory's month of the ledger (月度考核台账): open, then closed for good with its totals.
ledger_periods = sa.Table(
    "ledger_periods",
    metadata,
    sa.Column("factory", sa.String(10), primary_key=True),
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),  # open closed
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("closed_by", sa.String(200), nullable=True),
    sa.Column("totals", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)

# -- the cost rollup (DOMAIN.md §6 质量成本): counters per ledger month × department × factory ---
# Kept by the assessment repository in the transaction of every change: it adds (what it
# writes − what it loaded), see rollups.py. Money in fen (exact integers on both databases);
# department '' for what has none (suppliers' charge-backs and their share of the compensation).
# Keyed month first: a question over all factories sums the rows in key order, without a sort,
# and one factory's question reads the same range (ten factories are ten rows per department);
# on SQLite the table is its key (WITHOUT ROWID), on PostgreSQL the key is a covering index
# once vacuumed.
stats_cost = sa.Table(
    "stats_cost",
    metadata,
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),  # yyyy-mm, as assessments.period
    sa.Column("department", sa.String(200), nullable=False),
    sa.Column("compensation_fen", sa.BigInteger, nullable=False),  # the loss, split by the parties' shares
    sa.Column("fines_fen", sa.BigInteger, nullable=False),
    sa.Column("charge_backs_fen", sa.BigInteger, nullable=False),
    sa.Column("lines", sa.Integer, nullable=False),  # fine and charge-back lines, net of reversals
    sa.PrimaryKeyConstraint("period", "department", "factory"),
    sqlite_with_rowid=False,
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
