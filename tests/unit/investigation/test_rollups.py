"""What a case counts in the statistics rollups, and its records as JSON (no database).

The integration tests compare the rollups with GROUP BYs over real rows; these pin the rules
themselves: the month of a case, cycle-time buckets, action milestones as one line,
departments of the current determination only, exact money, and records that come back equal
with every time in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from investigation.adapters import rollups
from investigation.adapters.repository import records_json, records_of
from investigation.domain.records import (
    AccidentCause,
    LossClass,
    Party,
    PartyKind,
    QcFacts,
    Records,
    Responsibility,
    RootCause,
)

OPENED = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)  # 2026-11-01 04:00 in Shanghai


def projection(**changes: object) -> rollups.Projection:
    values: dict[str, object] = {
        "factory": "F01",
        "month": 202610,
        "opened_at": OPENED,
        "closed_at": None,
        "outcome": None,
        "cause_class": None,
        "loss_class": None,
        "loss_amount": None,
        "parties": (),
        "deadlines": (),
    }
    values.update(changes)
    return rollups.Projection(**values)  # type: ignore[arg-type]


def test_the_month_of_a_case_is_that_of_its_opening_in_the_zone_given() -> None:
    assert rollups.month_of(OPENED, UTC) == 202610
    assert rollups.month_of(OPENED, ZoneInfo("Asia/Shanghai")) == 202611


def test_an_open_case_counts_once_with_no_cycle_time_and_a_closed_one_by_whole_days() -> None:
    assert rollups.contributions(projection()) == {("stats_cases", ("F01", 202610, "")): (1, 0)}
    closed = rollups.contributions(
        projection(closed_at=OPENED + timedelta(days=3, hours=23, seconds=59), outcome="resolved")
    )
    seconds = 3 * 86400 + 23 * 3600 + 59
    assert closed == {
        ("stats_cases", ("F01", 202610, "resolved")): (1, seconds),
        ("stats_cycle_days", ("F01", 202610, 3)): (1,),
    }
    withdrawn = rollups.contributions(projection(closed_at=OPENED + timedelta(days=400), outcome="withdrawn"))
    assert set(withdrawn) == {("stats_cases", ("F01", 202610, "withdrawn"))}  # no cycle time for a withdrawal
    long = rollups.contributions(projection(closed_at=OPENED + timedelta(days=900), outcome="resolved"))
    assert ("stats_cycle_days", ("F01", 202610, rollups.MAX_CYCLE_DAYS)) in long


def test_settled_deadlines_count_on_time_late_or_cancelled_and_actions_as_one_milestone() -> None:
    due = OPENED + timedelta(hours=24)
    facts = (
        rollups.DeadlineFacts("first_response", "met", due, due),  # exactly at the due time: on time
        rollups.DeadlineFacts("action:A1", "met", due, due + timedelta(seconds=1)),
        rollups.DeadlineFacts("action:A2", "cancelled", due, None),
        rollups.DeadlineFacts("close", "pending", due, None),  # pending: counted live, not here
    )
    counted = rollups.contributions(projection(deadlines=facts))
    assert counted[("stats_deadlines", ("F01", 202610, "first_response"))] == (1, 0, 0)
    assert counted[("stats_deadlines", ("F01", 202610, "action"))] == (0, 1, 1)
    assert ("stats_deadlines", ("F01", 202610, "close")) not in counted


def test_a_new_determination_moves_the_counts_from_the_old_departments_to_the_new() -> None:
    old = projection(
        parties=(
            rollups.PartyFacts("person", "王", "QC", Decimal("33.335")),  # rounds half up like the column
            rollups.PartyFacts("person", "李", "QC", Decimal("16.665")),
            rollups.PartyFacts("role", "station leader", None, Decimal(50)),
        ),
        cause_class="communication",
        loss_class="general",
        loss_amount=Decimal("0.005"),
    )
    new = projection(
        parties=(rollups.PartyFacts("department", "R&D", None, Decimal(100)),),
        cause_class="technical_major",
        loss_class="major",
        loss_amount=Decimal("30000"),
    )
    before = rollups.contributions(old)
    assert before[("stats_departments", ("F01", 202610, "QC"))] == (1, 5001)  # one case, 33.34 % + 16.67 %
    assert before[("stats_departments", ("F01", 202610, ""))] == (1, 5000)
    assert before[("stats_accidents", ("F01", 202610, "cause", "communication"))] == (1, 1)  # 0.005 -> 1 fen
    change = rollups.difference(rollups.contributions(new), before)
    assert change == {
        ("stats_departments", ("F01", 202610, "QC")): (-1, -5001),
        ("stats_departments", ("F01", 202610, "")): (-1, -5000),
        ("stats_departments", ("F01", 202610, "R&D")): (1, 10000),
        ("stats_accidents", ("F01", 202610, "cause", "communication")): (-1, -1),
        ("stats_accidents", ("F01", 202610, "loss", "general")): (-1, -1),
        ("stats_accidents", ("F01", 202610, "cause", "technical_major")): (1, 3_000_000),
        ("stats_accidents", ("F01", 202610, "loss", "major")): (1, 3_000_000),
    }
    assert rollups.difference(before, before) == {}


def test_records_come_back_equal_exact_and_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 21, 18, 0, tzinfo=shanghai)
    records = Records(
        root_cause=RootCause("a", "b", at, "qe", why_chains=(("why", "because"),)),
        responsibility=Responsibility(
            sequence=2,
            parties=(
                Party(PartyKind.PERSON, "王", Decimal("70.50"), "QC"),
                Party(PartyKind.ROLE, "x", Decimal("29.5")),
            ),
            cause_class=AccidentCause.COMMUNICATION,
            loss_amount=Decimal("12345.678"),
            loss_class=LossClass.SERIOUS,
            qc_facts=QcFacts(measured=True),
            at=at,
            by="qe",
        ),
    )
    back = records_of(records_json(records))
    assert back == records
    assert back.responsibility is not None and back.responsibility.at.tzinfo is UTC
    assert back.responsibility.loss_amount == Decimal("12345.678") and isinstance(back.root_cause, RootCause)
    assert back.root_cause.why_chains == (("why", "because"),)
    assert records_of({}) == Records()  # cases stored before 0004


def test_a_naive_time_is_refused_rather_than_read_back_as_local_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        records_json(Records(root_cause=RootCause("a", "b", datetime(2026, 11, 21, 8, 0), "qe")))
