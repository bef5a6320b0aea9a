"""The complaint changes under a running case: complaint.amended / complaint.withdrawn (CONTRACT.md).

DOMAIN.md §3 "Deadlines": the deadlines count from the complaint's own times (received, registered)
and the close deadline depends on its market (seed 000 §4.2.1 in / out of province 5 / 15 days;
seed 002 (十) domestic / foreign 13 / 17 days). A correction moves the pending deadlines whose inputs
changed, never the met ones; a withdrawal cancels every pending deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import pytest

from cqm_shared.domain import InvalidTransition
from investigation.domain.deadlines import Deadline, DeadlineState
from investigation.domain.events import CaseClosed, ComplaintUpdated
from investigation.domain.model import Case, CaseState, ComplaintFacts, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import ReplyKind, SpecialKind
from tests.unit.investigation.case_builders import (
    CLOSED_AT,
    CONTAINED_AT,
    DAY,
    HOUR,
    INTAKE,
    RECEIVED,
    REGISTERED,
    REOPENED_AT,
    TRIAGED_AT,
    closed,
    complaint,
    contained,
    opened,
    policy,
    reopened,
    replied,
    reply,
    triage_record,
    triaged,
    withdrawn,
)

S = CaseState
PENDING, MET, CANCELLED = DeadlineState.PENDING, DeadlineState.MET, DeadlineState.CANCELLED
AMENDED_AT = datetime(2026, 11, 21, 9, 0, tzinfo=RECEIVED.tzinfo)


def due(case: Case, milestone: str, round: int | None = None) -> Deadline:
    found = case.deadline(milestone, round)
    assert found is not None, f"no {milestone} deadline"
    return found


def amend(case: Case, corrected: ComplaintFacts, pol: InvestigationPolicy | None = None) -> ComplaintUpdated | None:
    """Amend and return the one event it recorded (None when it recorded nothing)."""
    version, lines = case.version, len(case.history)
    changed = case.amend(corrected, pol or policy(corrected.factory), at=AMENDED_AT, by=INTAKE, reason="evt-amended")
    changes = case.pull_changes()
    if not changed:
        assert (changes, case.version, len(case.history)) == ([], version, lines)
        return None
    [change] = changes
    assert isinstance(change.event, ComplaintUpdated)
    assert (case.version, change.event.version, len(case.history)) == (version + 1, version + 1, lines + 1)
    assert change.event.deadlines == case.deadlines
    line = case.history[-1]
    assert (line.action, line.at, line.actor, line.reason) == ("amend", AMENDED_AT, INTAKE, "evt-amended")
    assert case.complaint == corrected
    return change.event


def test_a_changed_receipt_reschedules_the_pending_deadlines_not_the_met_ones() -> None:
    """DOMAIN.md §3 "Deadlines": customer reply (seed 001 管制程序 §5.6.2, 1 day / 48 h) counts from the
    receipt: it moves with it. The handling proposal (seed 004 §3.2) was met at containment and
    keeps its due time; the close (from the registration) and the feedback slip (from triage) do
    not depend on the receipt."""
    case = contained()
    before = {d.milestone: d for d in case.deadlines}
    earlier = RECEIVED - 3 * HOUR
    event = amend(case, replace(case.complaint, received_at=earlier))
    assert event is not None
    assert event.changed == ("received_at",)
    assert set(event.rescheduled) == {"customer_reply", "customer_reply_latest"}
    assert (due(case, "customer_reply").due_at, due(case, "customer_reply").state) == (earlier + DAY, PENDING)
    assert due(case, "customer_reply_latest").due_at == earlier + 2 * DAY
    assert due(case, "handling_proposal") == before["handling_proposal"]  # met: untouched
    assert due(case, "handling_proposal").met_at == CONTAINED_AT
    assert due(case, "first_response") == before["first_response"]
    assert due(case, "close") == before["close"] and due(case, "feedback_slip") == before["feedback_slip"]
    assert case.state is S.CONTAINED


def test_a_met_customer_reply_stays_where_it_was() -> None:
    """A preliminary reply met the customer reply: a later correction of the receipt does not move
    it; the still pending handling proposal (seed 004 §3.2, 48 h after receipt) moves."""
    case = triaged()
    case.reply(reply(TRIAGED_AT + HOUR, ReplyKind.PRELIMINARY))
    case.pull_changes()
    later = RECEIVED + 2 * HOUR
    event = amend(case, replace(case.complaint, received_at=later))
    assert event is not None and set(event.rescheduled) == {"handling_proposal"}
    assert due(case, "handling_proposal").due_at == later + 2 * DAY
    assert (due(case, "customer_reply").due_at, due(case, "customer_reply").met_at) == (
        RECEIVED + DAY,
        TRIAGED_AT + HOUR,
    )


def test_a_special_reply_deadline_moves_with_the_receipt() -> None:
    """Seed 001 管制程序 §5.6.1: the 4 h process-abnormality reply counts from the receipt."""
    case = opened()
    case.triage(triage_record(special=SpecialKind.PROCESS_ABNORMALITY), policy())
    case.pull_changes()
    later = RECEIVED + HOUR
    event = amend(case, replace(case.complaint, received_at=later))
    assert event is not None and "process_abnormality_reply" in event.rescheduled
    assert due(case, "process_abnormality_reply").due_at == later + 4 * HOUR


def test_in_province_to_out_of_province_moves_the_close_deadline() -> None:
    """Seed 000 §4.2.1 ("本省5日、外省15日内结案"): the market was wrong; the close deadline is the
    out-of-province one, with its clause."""
    case = triaged()
    assert due(case, "close").due_at == REGISTERED + 5 * DAY
    event = amend(case, replace(case.complaint, province=Province.OUT))
    assert event is not None and (event.changed, event.rescheduled) == (("province",), ("close",))
    close = due(case, "close")
    assert (close.due_at, close.source, close.state) == (
        REGISTERED + 15 * DAY,
        "seed 000 §4.2.1 (外省15日)",
        PENDING,
    )


def test_a_domestic_complaint_turned_foreign_counts_as_out_of_province() -> None:
    """Seed 000 §4.2.1 (F01's province basis): a foreign customer gets the out-of-province deadline."""
    case = triaged()
    event = amend(case, replace(case.complaint, region=Region.FOREIGN, province=None))
    assert event is not None and set(event.changed) == {"region", "province"} and event.rescheduled == ("close",)
    assert due(case, "close").due_at == REGISTERED + 15 * DAY


def test_f02s_region_basis_domestic_to_foreign() -> None:
    """Seed 002 (十) ("國內13天, 國外17天"): F02 counts the close by region."""
    pol = policy("F02")
    case = opened(complaint("F02", province=None), pol)
    close = due(case, "close")
    assert (close.due_at, close.source) == (REGISTERED + 13 * DAY, "seed 002 (十) (国内13天)")
    event = amend(case, replace(case.complaint, region=Region.FOREIGN), pol)
    assert event is not None and (event.changed, event.rescheduled) == (("region",), ("close",))
    close = due(case, "close")
    assert (close.due_at, close.source) == (REGISTERED + 17 * DAY, "seed 002 (十) (国外17天)")


def test_a_met_close_is_not_moved() -> None:
    """A closed case's copy is corrected (recorded), but its met close deadline stays."""
    case = closed()
    before = due(case, "close")
    event = amend(case, replace(case.complaint, province=Province.OUT))
    assert event is not None and event.changed == ("province",) and event.rescheduled == ()
    assert due(case, "close") == before and before.met_at == CLOSED_AT


def test_an_amendment_that_changes_nothing_records_nothing() -> None:
    """CONTRACT.md complaint.amended: an amendment of fields investigation does not keep (or the
    same values again) leaves the case as it is: no history line, no event, no new version."""
    case = contained()
    deadlines = case.deadlines
    assert amend(case, replace(case.complaint)) is None
    assert case.deadlines == deadlines and case.updated_at == CONTAINED_AT


def test_an_amendment_of_other_facts_reschedules_nothing() -> None:
    case = contained()
    deadlines = case.deadlines
    event = amend(case, replace(case.complaint, phenomenon="贯穿裂缝 through-crack", quantity_defective=3))
    assert event is not None and set(event.changed) == {"phenomenon", "quantity_defective"}
    assert event.rescheduled == () and case.deadlines == deadlines


def test_a_report_requested_later_adds_the_preliminary_report() -> None:
    """Seed 001 §1.4.3 ("当客户要求提供分析报告的…需在3天内回复初步报告"): counted from the receipt."""
    case = triaged()
    assert case.deadline("preliminary_report") is None
    event = amend(case, replace(case.complaint, request_kind="report_8d"))
    assert event is not None and event.changed == ("request_kind",) and "preliminary_report" in event.rescheduled
    report = due(case, "preliminary_report")
    assert (report.due_at, report.state, report.source, report.round) == (
        RECEIVED + 3 * DAY,
        PENDING,
        "seed 001 §1.4.3",
        1,
    )


def test_a_report_requested_after_closing_adds_no_deadline() -> None:
    case = closed()
    amend(case, replace(case.complaint, request_kind="report_8d"))
    assert case.deadline("preliminary_report") is None


def test_a_report_requested_after_the_final_reply_leaves_no_deadline_that_cannot_be_met() -> None:
    """Seed 001 §1.4.3: the preliminary report is for a final report that is late. Once the final
    reply went out the case is replied, where no reply step is allowed any more, and closing does
    not meet it: a pending preliminary report would stay overdue for ever."""
    case = replied()
    amend(case, replace(case.complaint, request_kind="report_8d"))
    report = case.deadline("preliminary_report")
    assert report is None or not report.pending


def test_the_round_two_close_follows_a_corrected_market() -> None:
    """Seed 002 (九) 9 and seed 000 §4.2.1: round 2's close deadline counts from the reopening with
    the market's duration (in province 5 days); corrected to out of province it is 15 days from the
    reopening."""
    case = reopened()
    assert due(case, "close", 2).due_at == REOPENED_AT + 5 * DAY
    amend(case, replace(case.complaint, province=Province.OUT))
    close = due(case, "close", 2)
    assert (close.due_at, close.source) == (REOPENED_AT + 15 * DAY, "seed 000 §4.2.1 (外省15日)")


def test_round_two_reply_deadlines_count_from_the_reopening_not_the_receipt() -> None:
    """Seed 002 (九) 9: a corrected receipt does not move round 2's customer reply."""
    case = reopened()
    before = due(case, "customer_reply", 2)
    amend(case, replace(case.complaint, received_at=RECEIVED - HOUR))
    assert due(case, "customer_reply", 2) == before and before.due_at == REOPENED_AT + DAY


def test_a_withdrawn_case_is_not_amended() -> None:
    case = withdrawn()
    with pytest.raises(InvalidTransition) as refused:
        case.amend(replace(case.complaint, province=Province.OUT), policy(), at=AMENDED_AT, by=INTAKE, reason="x")
    assert (refused.value.state, refused.value.action) == ("withdrawn", "amend")


@pytest.mark.parametrize("build", [opened, triaged, contained, replied, reopened])
def test_withdrawal_cancels_every_pending_deadline(build: Callable[[], Case]) -> None:
    """CONTRACT.md complaint.withdrawn, DOMAIN.md §3: the case ends; nothing stays pending, the
    deadlines a correction moved included."""
    case = build()
    amend(case, replace(case.complaint, received_at=RECEIVED - HOUR, province=Province.OUT))
    pending = {(d.milestone, d.round) for d in case.deadlines if d.pending}
    met = {(d.milestone, d.round): d for d in case.deadlines if d.state is MET}
    at = AMENDED_AT + HOUR
    case.withdraw(at=at, by=INTAKE, reason="complaint.withdrawn evt-9")
    assert case.state is S.WITHDRAWN
    assert {(d.milestone, d.round) for d in case.deadlines if d.state is CANCELLED and d.cancelled_at == at} == pending
    assert not any(d.pending for d in case.deadlines)
    assert {(d.milestone, d.round): d for d in case.deadlines if d.state is MET} == met
    [change] = case.pull_changes()
    assert isinstance(change.event, CaseClosed) and change.event.outcome == "withdrawn"
