"""Tables of the investigation database.

A case is one `cases` row (its complaint facts, state, and everything recorded as the JSON
`records`), one row per deadline and the append-only history. Beside them, projections kept in
step on every save, for lists and statistics: queryable columns on `cases`, the current
determination's parties, the actions, and the `stats_*` rollups (one row per factory × month of
opening × dimension, upserted in the same transaction as the change).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import Money, Percent, UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

# A case and investigation's own copy of the complaint facts it uses (not the public record).
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("factory", sa.String(10), nullable=False, index=True),
    sa.Column("state", sa.String(40), nullable=False, index=True),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("market_region", sa.String(20), nullable=False),
    sa.Column("market_province", sa.String(20), nullable=True),
    sa.Column("request_kind", sa.String(40), nullable=True),
    sa.Column("batch_return", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("customer_company", sa.String(200), nullable=False),
    sa.Column("part_number", sa.String(200), nullable=True),
    sa.Column("product_model", sa.String(200), nullable=True),
    sa.Column("phenomenon", sa.Text, nullable=False),
    sa.Column("quantity_defective", sa.Integer, nullable=True),
    sa.Column("round", sa.Integer, nullable=False, server_default="1"),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Column("records", sa.JSON, nullable=False),  # investigation.domain.records.Records, whole
    # Month of opening, yyyymm (202611): the month every rollup counts the case in, never moved.
    sa.Column("opened_month", sa.Integer, nullable=False),
    # Copied out of `records` for lists and statistics (NULL until recorded).
    sa.Column("severity", sa.String(20), nullable=True),
    sa.Column("category", sa.String(40), nullable=True),
    sa.Column("valid", sa.Boolean, nullable=True),
    sa.Column("responsible_department", sa.String(100), nullable=True),  # triage's
    sa.Column("cause_class", sa.String(40), nullable=True),
    sa.Column("loss_class", sa.String(40), nullable=True),
    sa.Column("loss_amount", Money, nullable=True),
    # The earliest due time of the case's pending deadlines (NULL: none pending), kept on every
    # save: the case list sorts and filters by it (domain/listing.py).
    sa.Column("next_due_at", UTCDateTime, nullable=True),
)
# The case list (domain/listing.py), within one factory or across all: by the next deadline (only
# cases with a pending one: a small share of all) and by opening time, each with the number last
# so that a keyset page is cut from the index in its order.
HAS_NEXT_DUE = sa.text("next_due_at IS NOT NULL")
sa.Index(
    "ix_cases_next_due", cases.c.next_due_at, cases.c.number, postgresql_where=HAS_NEXT_DUE, sqlite_where=HAS_NEXT_DUE
)
sa.Index(
    "ix_cases_factory_next_due",
    cases.c.factory,
    cases.c.next_due_at,
    cases.c.number,
    postgresql_where=HAS_NEXT_DUE,
    sqlite_where=HAS_NEXT_DUE,
)
sa.Index("ix_cases_opened", cases.c.opened_at, cases.c.number)
sa.Index("ix_cases_factory_opened", cases.c.factory, cases.c.opened_at, cases.c.number)

# One row per milestone and handling round of a case: what is due when, and whether it was met
# (DOMAIN.md §3 "Deadlines"). `factory` and `opened_month` are the case's (never change), so
# that overdue lists and the live "breached, still pending" counts read one small index.
case_deadlines = sa.Table(
    "case_deadlines",
    metadata,
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), primary_key=True),
    sa.Column("milestone", sa.String(40), primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True, server_default="1"),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),  # order in Case.deadlines
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("met_at", UTCDateTime, nullable=True),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("opened_month", sa.Integer, nullable=False),
)
# Partial indexes: only pending rows (a small share of all) are ever listed by due time. Queries
# must spell the predicate as the literal `state = 'pending'` for the planners to use them. Each
# holds the overdue list's whole order (due time, then the key) and every column the list's page
# and the live "breached" counts read: both are answered from the index alone, across all
# factories or within one.
PENDING = sa.text("state = 'pending'")
# (`state`, always 'pending' here, is there because SQLite counts an index as covering only when
# it holds every column the query names.)
_PENDING_COLUMNS = ("due_at", "number", "milestone", "round", "factory", "opened_month", "state")
sa.Index(
    "ix_case_deadlines_pending_due",
    *(case_deadlines.c[name] for name in _PENDING_COLUMNS),
    postgresql_where=PENDING,
    sqlite_where=PENDING,
)
sa.Index(
    "ix_case_deadlines_pending_factory",
    case_deadlines.c.factory,
    *(case_deadlines.c[name] for name in _PENDING_COLUMNS if name != "factory"),
    postgresql_where=PENDING,
    sqlite_where=PENDING,
)

# The current determination's parties (DOMAIN.md §3.5), rewritten when it changes.
case_parties = sa.Table(
    "case_parties",
    metadata,
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),  # the determination's
    sa.Column("department", sa.String(100), nullable=True),
    sa.Column("role", sa.String(100), nullable=True),
    sa.Column("share", Percent, nullable=False),
)

# Corrective and preventive actions (DOMAIN.md §3.7), one row each; lots stay in `records`.
case_actions = sa.Table(
    "case_actions",
    metadata,
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), primary_key=True),
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("verified_at", UTCDateTime, nullable=True),
    sa.Column("round", sa.Integer, nullable=False),
)

# -- rollups (DOMAIN.md §6): counters per factory × month of opening × dimension -------------------
# Kept by the repository: each save adds (new projection − stored projection) with one upsert
# per changed key. A month is yyyymm, a case counts in the month it opened.


def _rollup(name: str, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("factory", sa.String(10), primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        *columns,
    )


# Deadlines settled: met by the due time, met after it, cancelled. Action deadlines count as
# milestone "action". Pending ones are not counted here (they change with the clock): the
# breached ones are read live from case_deadlines.
stats_deadlines = _rollup(
    "stats_deadlines",
    sa.Column("milestone", sa.String(40), primary_key=True),
    sa.Column("on_time", sa.Integer, nullable=False),
    sa.Column("late", sa.Integer, nullable=False),
    sa.Column("cancelled", sa.Integer, nullable=False),
)
# Cases by outcome ('' while open) and the sum of cycle times (closed_at − opened_at, seconds).
stats_cases = _rollup(
    "stats_cases",
    sa.Column("outcome", sa.String(40), primary_key=True),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("cycle_seconds", sa.BigInteger, nullable=False),
)
# Closed cases (not withdrawn) by whole days from opening to closing, capped: percentiles.
stats_cycle_days = _rollup(
    "stats_cycle_days",
    sa.Column("days", sa.Integer, primary_key=True),
    sa.Column("cases", sa.Integer, nullable=False),
)
# Cases per department of the current determination ('' for parties without a department), and
# the department's shares summed, in hundredths of a percent (exact integers on both databases).
stats_departments = _rollup(
    "stats_departments",
    sa.Column("department", sa.String(100), primary_key=True),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("share_bp", sa.BigInteger, nullable=False),
)
# Accident classes of the current determination: dimension 'cause' (AccidentCause) or 'loss'
# (LossClass), with the losses in fen (CNY cents, exact integers).
stats_accidents = _rollup(
    "stats_accidents",
    sa.Column("dimension", sa.String(10), primary_key=True),
    sa.Column("accident_class", sa.String(40), primary_key=True),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("loss_cents", sa.BigInteger, nullable=False),
)
ROLLUPS = (stats_cases, stats_cycle_days, stats_deadlines, stats_departments, stats_accidents)

# Append-only: who / when / why of every transition (DOMAIN.md §3, §7).
case_history = sa.Table(
    "case_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(32), sa.ForeignKey("cases.number"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("from_state", sa.String(40), nullable=True),
    sa.Column("to_state", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
