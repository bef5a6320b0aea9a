"""Every path of the case's state machine (DOMAIN.md §3, transitions.py).

"A state machine per complaint; every transition is recorded with who / when / why." The quality
path, the short path (not valid / not a quality matter / not our fault), the dispute path,
reopening (seed 002 (九) 9), withdrawal, and every step refused where the table does not allow it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from cqm_shared.domain import InvalidTransition
from investigation.domain.deadlines import Deadline, DeadlineState
from investigation.domain.events import (
    CaseClosed,
    CaseReopened,
    CustomerReplied,
    DisputeRuled,
    ResponsibilityDetermined,
)
from investigation.domain.model import Case, CaseState, PartiesInvalid
from investigation.domain.records import Category, DisputeKind, Party, ReplyKind
from investigation.domain.transitions import STEPS
from tests.unit.investigation.case_builders import (
    ACTIONS_AT,
    BUILDERS,
    CLOSED_AT,
    CONTAINED_AT,
    DAY,
    DETERMINED_AT,
    DISPUTED_AT,
    HOUR,
    INTAKE,
    LOTS_AT,
    OPS,
    QE,
    REASON,
    REGISTERED,
    REPLIED_AT,
    ROOT_CAUSED_AT,
    STANDARDISED_AT,
    TRIAGED_AT,
    action,
    closed,
    containment_record,
    determination,
    determined,
    disputed,
    follow_up,
    lots,
    opened,
    person,
    policy,
    replied,
    reply,
    root_cause_record,
    ruling_record,
    standardisation,
    state_of,
    succeeds,
    take,
    training,
    triage_record,
    triaged,
)

S = CaseState
PENDING, MET, CANCELLED = DeadlineState.PENDING, DeadlineState.MET, DeadlineState.CANCELLED


def states(case: Case) -> dict[tuple[str, int], tuple[DeadlineState, datetime | None]]:
    """(milestone, round) -> (state, met_at or cancelled_at)."""
    return {(d.milestone, d.round): (d.state, d.met_at or d.cancelled_at) for d in case.deadlines}


def due(case: Case, milestone: str, round: int | None = None) -> Deadline:
    found = case.deadline(milestone, round)
    assert found is not None, f"no {milestone} deadline"
    return found


# -- the quality path ---------------------------------------------------------------------------


def test_the_full_quality_path_from_opening_to_closing() -> None:
    """DOMAIN.md §3.1-§3.8: opened → triaged → contained → root_caused → responsibility_determined
    → actions_open → verified → replied → closed, each step by whom, when and why, and the
    deadlines met on the way (first response at triage, handling proposal at containment, feedback
    slip at root cause, the action at its first lot, the customer reply and the close)."""
    pol = policy()
    case = opened()
    assert (case.state, case.version, case.round) == (S.OPENED, 1, 1)
    path: list[tuple[Callable[[], None], CaseState]] = [
        (lambda: case.triage(triage_record(), pol), S.TRIAGED),
        (lambda: case.contain(containment_record()), S.CONTAINED),
        (lambda: case.analyse(root_cause_record()), S.ROOT_CAUSED),
        (lambda: case.determine(determination(), pol), S.RESPONSIBILITY_DETERMINED),
        (lambda: case.add_actions([action()]), S.ACTIONS_OPEN),
        (lambda: case.verify("A1", lots(3), pol), S.VERIFIED),
        (lambda: case.standardise(standardisation()), S.VERIFIED),
        (lambda: case.reply(reply(REPLIED_AT)), S.REPLIED),
        (lambda: case.record_training(training(REPLIED_AT + HOUR)), S.REPLIED),
        (lambda: case.close(at=CLOSED_AT, by=QE, reason="customer satisfied"), S.CLOSED),
    ]
    for version, (step, expected) in enumerate(path, start=2):
        step()
        assert (case.state, case.version) == (expected, version)

    assert [(t.action, t.from_state, t.to_state) for t in case.history] == [
        ("open", None, S.OPENED),
        ("triage", S.OPENED, S.TRIAGED),
        ("containment", S.TRIAGED, S.CONTAINED),
        ("root_cause", S.CONTAINED, S.ROOT_CAUSED),
        ("responsibility", S.ROOT_CAUSED, S.RESPONSIBILITY_DETERMINED),
        ("actions", S.RESPONSIBILITY_DETERMINED, S.ACTIONS_OPEN),
        ("verification", S.ACTIONS_OPEN, S.VERIFIED),
        ("standardisation", S.VERIFIED, S.VERIFIED),
        ("reply", S.VERIFIED, S.REPLIED),
        ("training", S.REPLIED, S.REPLIED),
        ("close", S.REPLIED, S.CLOSED),
    ]
    assert [t.at for t in case.history] == [
        REGISTERED,
        TRIAGED_AT,
        CONTAINED_AT,
        ROOT_CAUSED_AT,
        DETERMINED_AT,
        ACTIONS_AT,
        LOTS_AT + 2 * HOUR,  # the last lot of the three
        STANDARDISED_AT,
        REPLIED_AT,
        REPLIED_AT + HOUR,
        CLOSED_AT,
    ]
    assert case.history[-1].actor == QE and case.history[-1].reason == "customer satisfied"
    assert (case.outcome, case.closed_at) == ("resolved", CLOSED_AT)
    assert states(case) == {
        ("first_response", 1): (MET, TRIAGED_AT),
        ("handling_proposal", 1): (MET, CONTAINED_AT),
        ("customer_reply", 1): (MET, REPLIED_AT),
        ("customer_reply_latest", 1): (MET, REPLIED_AT),
        ("feedback_slip", 1): (MET, ROOT_CAUSED_AT),
        ("workshop_training", 1): (MET, REPLIED_AT + HOUR),
        ("action:A1", 1): (MET, LOTS_AT),
        ("close", 1): (MET, CLOSED_AT),
    }
    assert due(case, "close").due_at == REGISTERED + 5 * DAY  # in province, seed 000 §4.2.1
    [closing] = case.pull_changes()[-1:]
    assert isinstance(closing.event, CaseClosed) and closing.event.outcome == "resolved"


# -- the short path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid", "category", "our_fault", "outcome"),
    [
        (False, Category.QUALITY, True, "not_valid"),  # 投诉不成立
        (False, Category.PRICE, True, "not_valid"),  # not valid whatever the category
        (True, Category.PRICE, True, "non_quality"),  # seed 001: 价格 is not a quality matter
        (True, Category.CONSULTATION, True, "non_quality"),
        (True, Category.QUALITY, False, "not_our_fault"),  # seed 004 §4.2.1 A: 非我公司产品问题
    ],
)
def test_the_short_path_replies_and_closes_with_its_outcome(
    valid: bool, category: Category, our_fault: bool, outcome: str
) -> None:
    """DOMAIN.md §3.1, seed 004 §4.2.1 A ("如果非我公司产品问题,立即通知客户服务部自行处理") and seed 000
    客诉处罚管理规定 §5 ("如客诉内容确定为非工厂责任时…即可结案"): triaged → final reply → replied →
    closed, without containment; the handling proposal is met at triage, no feedback slip is sent."""
    case = triaged(valid=valid, category=category, our_fault=our_fault)
    with pytest.raises(InvalidTransition) as refused:
        take(case, "containment")
    assert (refused.value.state, refused.value.action) == ("triaged", "containment")
    assert "reply and close" in refused.value.reason
    assert "containment" not in case.allowed_steps()

    case.reply(reply(TRIAGED_AT + HOUR, content="not our product: letter to the project"))
    assert case.state is S.REPLIED
    case.close(at=TRIAGED_AT + 2 * HOUR, by=QE)
    assert (case.state, case.outcome, case.closed_at) == (S.CLOSED, outcome, TRIAGED_AT + 2 * HOUR)
    assert states(case) == {
        ("first_response", 1): (MET, TRIAGED_AT),
        ("handling_proposal", 1): (MET, TRIAGED_AT),
        ("customer_reply", 1): (MET, TRIAGED_AT + HOUR),
        ("customer_reply_latest", 1): (MET, TRIAGED_AT + HOUR),
        ("close", 1): (MET, TRIAGED_AT + 2 * HOUR),
    }
    assert [t.action for t in case.history] == ["open", "triage", "reply", "close"]


def test_a_final_reply_is_refused_while_the_quality_investigation_runs() -> None:
    """DOMAIN.md §3.8: the result is replied once the actions are verified; before that only a
    preliminary reply (seed 001 §1.4.3) goes out, and the state stays."""
    case = triaged()
    with pytest.raises(InvalidTransition) as refused:
        case.reply(reply(TRIAGED_AT + HOUR))
    assert (refused.value.state, refused.value.action) == ("triaged", "reply")
    assert case.version == 2 and case.records.replies == ()
    case.reply(reply(TRIAGED_AT + HOUR, ReplyKind.PRELIMINARY))
    assert (case.state, case.version) == (S.TRIAGED, 3)


# -- the dispute path ---------------------------------------------------------------------------


NEW_PARTIES = (person("line_qc", 40), person("process_owner", 60))


def test_an_upheld_objection_with_new_parties_publishes_a_new_determination() -> None:
    """DOMAIN.md §3.6, seed 000 §4.3.3.2.3 (由生产运营部进行最终裁决): the ruling and a new determination
    that supersedes the old one: two events, two versions, two history lines."""
    case = disputed()
    assert case.state is S.DISPUTED and case.version == 6
    ruled_at = DISPUTED_AT + HOUR
    case.rule(
        ruling_record(at=ruled_at, upheld=True, reason="QC log proves the process"), policy(), new_parties=NEW_PARTIES
    )

    assert state_of(case) is S.RESPONSIBILITY_DETERMINED and case.version == 8
    first, second = case.pull_changes()
    assert isinstance(first.event, DisputeRuled) and isinstance(second.event, ResponsibilityDetermined)
    assert (first.version, first.event.version, second.version, second.event.version) == (7, 7, 8, 8)
    assert first.event.dispute.ruling is not None and first.event.dispute.ruling.determination == 2
    assert first.event.responsibility_cleared is False
    assert second.event.supersedes == 1 and second.event.responsibility.sequence == 2
    assert second.event.responsibility.parties == NEW_PARTIES
    assert second.event.dispute_window_ends_at == ruled_at  # a ruling is final
    resp = case.records.responsibility
    assert resp is not None and (resp.sequence, resp.parties, resp.at, resp.by) == (2, NEW_PARTIES, ruled_at, OPS)
    assert [(t.action, t.from_state, t.to_state, t.actor) for t in case.history[-2:]] == [
        ("ruling", S.DISPUTED, S.RESPONSIBILITY_DETERMINED, OPS),
        ("responsibility", S.RESPONSIBILITY_DETERMINED, S.RESPONSIBILITY_DETERMINED, OPS),
    ]
    # the workshop still trains (seed 000 §4.2.1): counted from the first determination
    assert due(case, "workshop_training").due_at == DETERMINED_AT + 15 * DAY


@pytest.mark.parametrize(
    ("new_parties", "message"),
    [((), "names the parties as ruled"), ((person("line_qc", 70), person("process_owner", 30)), "changes the parties")],
)
def test_an_upheld_objection_must_change_the_parties(new_parties: tuple[Party, ...], message: str) -> None:
    """DOMAIN.md §3.6: an objection upheld changes who is responsible; nothing is recorded otherwise."""
    case = disputed()
    with pytest.raises(PartiesInvalid, match=message):
        case.rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=True), policy(), new_parties=new_parties)
    assert (case.state, case.version, case.records.disputes[-1].ruling) == (S.DISPUTED, 6, None)
    assert case.pull_changes() == []


def test_a_dismissed_objection_keeps_the_determination() -> None:
    """DOMAIN.md §3.6: production operations dismisses the objection: one event, the same parties,
    and the case goes on to corrective actions."""
    case = disputed()
    case.rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=False), policy())
    [change] = case.pull_changes()
    assert isinstance(change.event, DisputeRuled) and change.event.responsibility_cleared is False
    ruling = case.records.disputes[-1].ruling
    assert ruling is not None and (ruling.upheld, ruling.determination) == (False, None)
    resp = case.records.responsibility
    assert resp is not None and resp.sequence == 1 and resp.at == DETERMINED_AT
    assert case.state is S.RESPONSIBILITY_DETERMINED and "actions" in case.allowed_steps()
    with pytest.raises(PartiesInvalid):
        disputed().rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=False), policy(), new_parties=NEW_PARTIES)


def test_an_accepted_market_cause_clears_responsibility_and_ends_with_a_final_reply() -> None:
    """Seed 000 §4.3.3.2.3 ("确因市场原因而非质量问题造成的客诉…由生产运营部进行最终裁决"): nobody is
    responsible, the workshop training (seed 000 §4.2.1) is cancelled, the final reply is allowed
    at once and the case closes as market_cause."""
    case = disputed(DisputeKind.MARKET_CAUSE)
    ruled_at = DISPUTED_AT + HOUR
    case.rule(ruling_record(at=ruled_at, upheld=True, reason="site misuse"), policy())
    [change] = case.pull_changes()
    assert isinstance(change.event, DisputeRuled) and change.event.responsibility_cleared is True
    resp = case.records.responsibility
    assert resp is not None and (resp.parties, resp.sequence) == ((), 2)
    assert states(case)[("workshop_training", 1)] == (CANCELLED, ruled_at)
    assert case.state is S.RESPONSIBILITY_DETERMINED
    assert "dispute" not in case.allowed_steps()

    case.reply(reply(ruled_at + HOUR, content="a market cause, not a quality one"))
    assert state_of(case) is S.REPLIED
    case.close(at=ruled_at + 2 * HOUR, by=QE)
    assert (case.state, case.outcome) == (S.CLOSED, "market_cause")


def test_a_dismissed_market_cause_claim_keeps_the_parties() -> None:
    """Seed 000 §4.3.3.2.3: the claim is ruled finally; dismissed, the training is still due."""
    case = disputed(DisputeKind.MARKET_CAUSE)
    case.rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=False), policy())
    resp = case.records.responsibility
    assert resp is not None and resp.sequence == 1 and len(resp.parties) == 2
    assert states(case)[("workshop_training", 1)] == (PENDING, None)


# -- reopening (seed 002 (九) 9) ----------------------------------------------------------------


def test_reopen_from_replied_starts_round_two_with_deadlines_counted_from_the_reopening() -> None:
    """Seed 002 (九) 9 ("若客戶未能接受時業務部門應再填一份新的客戶抱怨處理表"): the customer does not
    accept the reply: round 2, new customer-reply and close deadlines counted from the reopening
    (seed 001 管制程序 §5.6.2: 1 day / 48 h; seed 000 §4.2.1: in province 5 days), round 1's pending
    close deadline cancelled."""
    case = replied()
    case.follow_up(follow_up(REPLIED_AT + DAY, accepted=False))
    with pytest.raises(InvalidTransition, match="did not accept"):
        case.close(at=REPLIED_AT + DAY + HOUR, by=QE)
    at = REPLIED_AT + 2 * DAY
    case.reopen(policy(), at=at, by="user:cs-1", reason="customer rejects the 8D")
    assert (case.state, case.round, case.closed_at, case.outcome) == (S.REOPENED, 2, None, None)
    assert states(case)[("close", 1)] == (CANCELLED, at)
    assert states(case)[("customer_reply", 1)] == (MET, REPLIED_AT)  # met stays met
    assert states(case)[("workshop_training", 1)] == (PENDING, None)  # not a round milestone
    assert {(d.milestone, d.due_at) for d in case.deadlines if d.round == 2} == {
        ("customer_reply", at + DAY),
        ("customer_reply_latest", at + 2 * DAY),
        ("close", at + 5 * DAY),
    }
    assert due(case, "close").round == 2
    change = case.pull_changes()[-1]
    assert isinstance(change.event, CaseReopened) and change.event.round == 2
    assert case.history[-1].reason == "customer rejects the 8D"


def test_reopen_from_closed_starts_round_two() -> None:
    """Seed 002 (九) 9: a closed case is reopened the same way; the met close stays met."""
    case = closed()
    at = CLOSED_AT + 3 * DAY
    case.reopen(policy(), at=at, by="user:cs-1", reason="the customer found the defect again")
    assert (case.state, case.round) == (S.REOPENED, 2)
    assert states(case)[("close", 1)] == (MET, CLOSED_AT)
    assert states(case)[("close", 2)] == (PENDING, None)
    assert due(case, "close", 2).due_at == at + 5 * DAY
    assert due(case, "customer_reply", 2).due_at == at + DAY
    # round 2 starts again with triage; its feedback slip belongs to round 2 (seed 004 §2.4.1)
    case.triage(triage_record(at=at + HOUR), policy())
    assert case.state is S.TRIAGED
    assert due(case, "feedback_slip", 2).due_at == at + HOUR + 2 * DAY
    assert states(case)[("feedback_slip", 1)] == (MET, ROOT_CAUSED_AT)


@pytest.mark.parametrize("reason", ["", "   "])
@pytest.mark.parametrize("build", [replied, closed])
def test_reopen_needs_a_reason(build: Callable[[], Case], reason: str) -> None:
    """DOMAIN.md §3: every transition says why; reopening says why the customer does not accept."""
    case = build()
    before = (case.state, case.version, case.round, case.deadlines)
    with pytest.raises(InvalidTransition) as refused:
        case.reopen(policy(), at=CLOSED_AT + DAY, by="user:cs-1", reason=reason)
    assert refused.value.action == "reopen"
    assert (case.state, case.version, case.round, case.deadlines) == before


# -- withdrawal ---------------------------------------------------------------------------------

OPEN_STATES = [s for s in CaseState if s not in {S.CLOSED, S.WITHDRAWN}]


@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdrawal_from_any_open_state_cancels_every_pending_deadline(state: CaseState) -> None:
    """DOMAIN.md §3 (complaint.withdrawn, CONTRACT.md): the case ends as withdrawn; every pending
    deadline is cancelled at the withdrawal, the met ones stay met."""
    case = BUILDERS[state]()
    before = {(d.milestone, d.round): d for d in case.deadlines}
    assert any(d.pending for d in before.values())
    at = case.updated_at + HOUR
    case.withdraw(at=at, by=INTAKE, reason="complaint.withdrawn evt-7")
    assert (case.state, case.outcome, case.closed_at) == (S.WITHDRAWN, "withdrawn", at)
    for key, old in before.items():
        now = states(case)[key]
        assert now == ((CANCELLED, at) if old.pending else (old.state, old.met_at or old.cancelled_at)), key
    assert not any(d.pending for d in case.deadlines)
    [change] = case.pull_changes()
    assert isinstance(change.event, CaseClosed) and change.event.outcome == "withdrawn"
    assert change.event.state is S.WITHDRAWN
    assert (case.history[-1].from_state, case.history[-1].to_state) == (state, S.WITHDRAWN)
    assert case.allowed_steps() == []


@pytest.mark.parametrize("state", [S.CLOSED, S.WITHDRAWN])
def test_withdrawal_is_refused_once_the_case_ended(state: CaseState) -> None:
    case = BUILDERS[state]()
    with pytest.raises(InvalidTransition) as refused:
        case.withdraw(at=case.updated_at + HOUR, by=INTAKE, reason="complaint.withdrawn")
    assert (refused.value.state, refused.value.action) == (state.value, "withdraw")


# -- illegal steps ------------------------------------------------------------------------------

ILLEGAL = [(state, step) for state in CaseState for step, rule in STEPS.items() if state not in rule.allowed_from]


@pytest.mark.parametrize(("state", "step"), ILLEGAL, ids=[f"{s.value}-{n}" for s, n in ILLEGAL])
def test_a_step_the_table_does_not_allow_is_refused_naming_the_state(state: CaseState, step: str) -> None:
    """transitions.py / DOMAIN.md §3: a step not allowed from a state raises InvalidTransition that
    names the state and the step; nothing changes."""
    case = BUILDERS[state]()
    assert case.state is state
    before = (case.version, len(case.history), case.deadlines, case.records)
    with pytest.raises(InvalidTransition) as refused:
        take(case, step)
    assert (refused.value.state, refused.value.action, refused.value.identity) == (state.value, step, case.number)
    assert state.value in str(refused.value)
    assert step not in case.allowed_steps()
    assert (case.version, len(case.history), case.deadlines, case.records) == before
    assert case.pull_changes() == []


def test_the_table_covers_every_state() -> None:
    """Every state is a case's state in some test above (the builders reach each of them)."""
    assert set(BUILDERS) == set(CaseState)
    for state, build in BUILDERS.items():
        assert build().state is state


# -- allowed_steps() is what succeeds -----------------------------------------------------------


def _market_cause_cleared() -> Case:
    case = disputed(DisputeKind.MARKET_CAUSE)
    case.rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=True), policy())
    case.pull_changes()
    return case


def _objection_dismissed() -> Case:
    case = disputed()
    case.rule(ruling_record(at=DISPUTED_AT + HOUR, upheld=False), policy())
    case.pull_changes()
    return case


def _short_path_triaged() -> Case:
    return triaged(our_fault=False)


def _replied_not_accepted() -> Case:
    case = replied()
    case.follow_up(follow_up(REPLIED_AT + HOUR, accepted=False))
    case.pull_changes()
    return case


def _replied_without_standardisation() -> Case:
    return replied(standardised=False)


def _onsite_complete() -> Case:
    case = determined()
    for i, what in enumerate(("arrived", "sheet_returned", "returned", "report_sent")):
        case.record_onsite(what, policy(), at=DETERMINED_AT + (i + 1) * timedelta(minutes=10), by=QE)
    case.pull_changes()
    return case


VARIANTS: dict[str, Callable[[], Case]] = {
    **{state.value: build for state, build in BUILDERS.items()},
    "triaged, not our fault": _short_path_triaged,
    "objection dismissed": _objection_dismissed,
    "market cause accepted": _market_cause_cleared,
    "replied, customer does not accept": _replied_not_accepted,
    "replied, permanent action not standardised": _replied_without_standardisation,
    "determined, on-site work complete": _onsite_complete,
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_allowed_steps_are_exactly_the_steps_that_succeed(variant: str) -> None:
    """The console shows allowed_steps() as forms (model.py): each one it lists must succeed, and
    no step it leaves out may succeed (a plausible request for each step, on a fresh case)."""
    build = VARIANTS[variant]
    allowed = set(build().allowed_steps())
    succeeding = {step for step in STEPS if succeeds(build, step)}
    assert allowed == succeeding, (
        f"listed but refused: {allowed - succeeding}; unlisted but taken: {succeeding - allowed}"
    )


EXPECTED_ALLOWED: dict[CaseState, set[str]] = {
    S.OPENED: {"triage", "amend", "withdraw"},
    S.TRIAGED: {"containment", "reply", "onsite", "amend", "withdraw"},
    S.CONTAINED: {"root_cause", "reply", "onsite", "amend", "withdraw"},
    S.ROOT_CAUSED: {"responsibility", "reply", "onsite", "amend", "withdraw"},
    S.RESPONSIBILITY_DETERMINED: {"dispute", "actions", "reply", "onsite", "training", "amend", "withdraw"},
    S.DISPUTED: {"ruling", "reply", "onsite", "training", "amend", "withdraw"},
    S.ACTIONS_OPEN: {"actions", "verification", "standardisation", "reply", "onsite", "training", "amend", "withdraw"},
    S.VERIFIED: {"actions", "standardisation", "reply", "onsite", "training", "amend", "withdraw"},
    S.REPLIED: {"follow_up", "close", "reopen", "standardisation", "onsite", "training", "amend", "withdraw"},
    S.CLOSED: {"follow_up", "reopen", "onsite", "training", "amend"},
    S.REOPENED: {"triage", "containment", "reply", "onsite", "training", "amend", "withdraw"},
    S.WITHDRAWN: set(),
}


@pytest.mark.parametrize("state", list(CaseState))
def test_allowed_steps_per_state(state: CaseState) -> None:
    """DOMAIN.md §3 and the table of transitions.py, state by state (the builders' cases: a major
    complaint, so someone was dispatched on site; no training recorded yet)."""
    assert set(BUILDERS[state]().allowed_steps()) == EXPECTED_ALLOWED[state]


# -- every step: one history line, one event, version + 1, the full deadline list ----------------

ALLOWED = [(state, step) for state, steps in EXPECTED_ALLOWED.items() for step in sorted(steps)]


@pytest.mark.parametrize(("state", "step"), ALLOWED, ids=[f"{s.value}-{n}" for s, n in ALLOWED])
def test_every_step_records_who_when_why_and_exactly_one_event(state: CaseState, step: str) -> None:
    """DOMAIN.md §3 ("every transition is recorded with who / when / why"), CONTRACT.md (every event
    carries the case's version and its complete list of deadlines): one history line with actor,
    time and reason, one domain event with version = previous + 1 and the deadlines after the step."""
    case = BUILDERS[state]()
    version, lines, snapshot = case.version, len(case.history), case.snapshot()
    at = take(case, step)
    [change] = case.pull_changes()
    assert case.version == version + 1
    assert (change.version, change.event.version) == (version + 1, version + 1)  # type: ignore[attr-defined]
    assert change.event.deadlines == case.deadlines  # type: ignore[attr-defined]
    assert (change.event.state, change.event.round) == (case.state, case.round)  # type: ignore[attr-defined]
    assert (change.before, change.after) == (snapshot, case.snapshot())
    assert len(case.history) == lines + 1
    if step == "verification":
        at += 2 * HOUR  # the step is taken when the last of its three lots was checked
    line = case.history[-1]
    assert (line.at, line.reason, line.from_state, line.to_state) == (at, REASON, state, case.state)
    assert line.actor == change.event.actor
    assert line.actor in {QE, INTAKE, OPS, "user:workshop-head", "user:cs-1", "workshop_head"}
    assert change.event.at == at and change.event.reason == REASON
    assert case.updated_at == at


def test_the_history_line_names_the_step_taken() -> None:
    """DOMAIN.md §3: the history says what was done (the step's name), and who did it."""
    case = determined()
    take(case, "dispute")
    take(case, "ruling")
    take(case, "onsite")
    take(case, "training")
    assert [t.action for t in case.history[-4:]] == ["dispute", "ruling", "onsite", "training"]
    assert case.history[-4].actor == "user:workshop-head" and case.history[-3].actor == OPS


def test_a_reply_event_carries_the_reply() -> None:
    """CONTRACT.md investigation.customer_replied: preliminary or final."""
    case = triaged()
    case.reply(reply(TRIAGED_AT + HOUR, ReplyKind.PRELIMINARY))
    [change] = case.pull_changes()
    assert isinstance(change.event, CustomerReplied)
    assert (change.event.reply.kind, change.event.reply.round) == (ReplyKind.PRELIMINARY, 1)
