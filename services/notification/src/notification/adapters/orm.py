"""Tables of the notification database."""

from __future__ import annotations

import sqlalchemy as sa

from cqm_shared.audit import audit_table
from cqm_shared.db import UTCDateTime, new_metadata
from cqm_shared.messaging.tables import messaging_tables

metadata = new_metadata()

# The delivery log: one row per recipient and channel of an event. In-app rows are delivered
# when written; the others wait in `pending` until the delivery worker claims them
# (`next_attempt_at <= now`, no live lease), sends them and records the outcome.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("number", sa.String(32), nullable=False, index=True),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("recipient_role", sa.String(50), nullable=False),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("locale", sa.String(5), nullable=False, server_default="zh"),
    sa.Column("target", sa.String(200), nullable=True),  # e-mail address, robot or webhook name
    sa.Column("digest", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("failed_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("event_id", "recipient", "channel", name="uq_notifications_event_recipient"),
)
sa.Index("ix_notifications_due", notifications.c.status, notifications.c.next_attempt_at)
sa.Index("ix_notifications_recipient", notifications.c.recipient, notifications.c.created_at)

# Read marks of the in-app inbox, per person: a notice to a role's inbox is read by each
# holder of the role on their own.
inbox_reads = sa.Table(
    "inbox_reads",
    metadata,
    sa.Column("notification_id", sa.String(36), primary_key=True),
    sa.Column("reader", sa.String(100), primary_key=True),
    sa.Column("read_at", UTCDateTime, nullable=False),
)

# What notification knows of each deadline holder (a case, an assessment): the newest version
# applied, so a late, older event never resurrects a cancelled timer.
deadline_tracks = sa.Table(
    "deadline_tracks",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),  # case:<number> or assessment:<id>
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("producer", sa.String(50), nullable=False),
    sa.Column("applied_version", sa.Integer, nullable=False),
    sa.Column("department", sa.String(200), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Durable timers: reminders, breaches and escalation levels of every pending deadline.
timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("track", sa.String(100), nullable=False, index=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("factory", sa.String(10), nullable=False),
    sa.Column("milestone", sa.String(100), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),  # reminder, breach or escalation
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),  # the deadline's
    sa.Column("fire_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending, fired or cancelled
    sa.Column("source", sa.String(100), nullable=False, server_default=""),
    sa.Column("producer", sa.String(50), nullable=False),
    sa.Column("department", sa.String(200), nullable=True),
    sa.Column("audience", sa.String(500), nullable=False, server_default=""),  # roles, comma-separated
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("fired_at", UTCDateTime, nullable=True),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    # Fired, and then its deadline was met, cancelled or moved (domain Timer.settle).
    sa.Column("settled_at", UTCDateTime, nullable=True),
)
sa.Index("ix_timers_due", timers.c.state, timers.c.fire_at)
# The escalation list: the breach and escalation timers that still stand for a pending deadline
# (pending, or fired and not settled), in the list's order (the deadline's due time, then its
# key). Partial: settled and cancelled timers and reminders, most of all, are not in it. It holds
# every column the list's page reads, so the page is cut from the index alone, within one factory
# too (SQLite counts an index as covering only when it holds every column a query names, the
# predicate's included). One index only: each timer written or fired updates it.
COUNTING = sa.text("kind <> 'reminder' AND state <> 'cancelled' AND settled_at IS NULL")
sa.Index(
    "ix_timers_counting_due",
    *(
        timers.c[name]
        for name in ("due_at", "track", "milestone", "round", "factory", "number", "kind", "state", "settled_at")
    ),
    postgresql_where=COUNTING,
    sqlite_where=COUNTING,
)

# Chat robots' send budget (about 20 messages a minute): one row per robot and minute.
send_windows = sa.Table(
    "send_windows",
    metadata,
    sa.Column("target", sa.String(120), primary_key=True),
    sa.Column("window_start", UTCDateTime, primary_key=True),
    sa.Column("sent", sa.Integer, nullable=False),
)

tables = messaging_tables(metadata)
audit_log = audit_table(metadata)
