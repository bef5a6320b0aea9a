"""The rules a case applies beyond its transitions (DOMAIN.md §3.1-§3.8 and "Deadlines").

Responsibility splits and accident classes (seed 000), the dispute window (seed 000 §4.3.3.2.3),
CAPA closure after three clean lots (seed 001), reply deadlines (seed 001), on-site work and the
workshop training (seed 000 §4.2.1), the internal feedback slip (seed 004 §2.4.1). Policies are the
shipped ones (deploy/policies, F01 = the seed defaults).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.domain import InvalidTransition
from investigation.domain.deadlines import Deadline, DeadlineState
from investigation.domain.events import ActionChecked, ResponsibilityDetermined
from investigation.domain.model import Case, CaseState, PartiesInvalid
from investigation.domain.records import (
    ActionKind,
    Category,
    Crack,
    DisputeKind,
    LossClass,
    Party,
    PartyKind,
    QcFacts,
    ReplyKind,
    Severity,
    SpecialKind,
)
from investigation.domain.rules import loss_class, propose_split
from tests.unit.investigation.case_builders import (
    ACTION_DUE,
    ACTIONS_AT,
    CLOSED_AT,
    DAY,
    DETERMINED_AT,
    DISPUTED_AT,
    HOUR,
    LOTS_AT,
    QE,
    RECEIVED,
    REPLIED_AT,
    ROOT_CAUSED_AT,
    TRIAGED_AT,
    action,
    actions_open,
    complaint,
    containment_record,
    determination,
    determined,
    dispute_record,
    disputed,
    lots,
    opened,
    person,
    policy,
    replied,
    reply,
    root_cause_record,
    root_caused,
    ruling_record,
    standardisation,
    state_of,
    training,
    triage_record,
    triaged,
    verified,
)

S = CaseState
MET, PENDING, CANCELLED = DeadlineState.MET, DeadlineState.PENDING, DeadlineState.CANCELLED


def due(case: Case, milestone: str, round: int | None = None) -> Deadline:
    found = case.deadline(milestone, round)
    assert found is not None, f"no {milestone} deadline"
    return found


# -- responsibility split (DOMAIN.md §3.5, seed 000 客诉处罚管理规定) -------------------------------

SPLITS = [
    # 经品管实测实量检验的构件: 产线品管承担 70%,工序责任人承担 30%
    (QcFacts(measured=True), "component measured by QC", {"line_qc": 70, "process_owner": 30}),
    # 未经品管实测实量, 不可目视立即看出, 查品管日常工作记录,有记录: 产线品管 50%,工序责任人 50%
    (
        QcFacts(qc_log_record=True),
        "not measured, not visible at once, QC log has a record",
        {"line_qc": 50, "process_owner": 50},
    ),
    # 无记录: 工序责任人 50%,下工序 30%,工位长 20%
    (
        QcFacts(),
        "not measured, not visible at once, QC log has no record",
        {"process_owner": 50, "next_process": 30, "station_leader": 20},
    ),
    # 可目视立即看出 (缺边掉角, 露筋, 色差油污…): 出货品管 70%,产线品管 30%
    (QcFacts(visible_at_once=True), "defect visible at once", {"shipping_qc": 70, "line_qc": 30}),
    # 工厂内已出现贯穿性裂缝,但品管未反馈: 出货品管 (100%)
    (
        QcFacts(crack=Crack.SEEN_IN_FACTORY),
        "through-crack seen in the factory but not reported by QC",
        {"shipping_qc": 100},
    ),
    # the crack rule comes first, whatever else QC knew
    (
        QcFacts(measured=True, crack=Crack.SEEN_IN_FACTORY),
        "through-crack seen in the factory but not reported by QC",
        {"shipping_qc": 100},
    ),
]


@pytest.mark.parametrize(("facts", "situation", "shares"), SPLITS)
def test_each_split_rule_proposes_its_shares(facts: QcFacts, situation: str, shares: dict[str, int]) -> None:
    """DOMAIN.md §3.5, seed 000 客诉处罚管理规定 §5 (责任比例): the QC facts pick the row."""
    proposal = propose_split(facts, policy())
    assert proposal is not None and not proposal.manual
    assert proposal.situation == situation and proposal.source.startswith("seed 000 客诉处罚管理规定")
    assert {p.role: p.share for p in proposal.parties} == {role: Decimal(s) for role, s in shares.items()}
    assert all(p.kind is PartyKind.ROLE for p in proposal.parties)


@pytest.mark.parametrize(("facts", "situation", "shares"), SPLITS)
def test_accepting_the_proposal_needs_no_reason(facts: QcFacts, situation: str, shares: dict[str, int]) -> None:
    """DOMAIN.md §3.5: the engineer names the people in the proposed roles with the proposed shares;
    the case records which rule proposed them."""
    case = root_caused()
    parties = tuple(person(role, share) for role, share in shares.items())
    case.determine(determination(parties=parties, qc_facts=facts), policy())
    resp = case.records.responsibility
    assert case.state is S.RESPONSIBILITY_DETERMINED and resp is not None
    assert (resp.sequence, resp.parties, resp.split_situation, resp.override_reason) == (1, parties, situation, None)
    assert {p.role: p.share for p in resp.proposed} == {role: Decimal(s) for role, s in shares.items()}


def test_a_through_crack_found_outside_is_decided_by_discussion() -> None:
    """Seed 000 客诉处罚管理规定 (工厂外出现贯穿性裂缝: 经讨论决定): no proposal, the engineer gives the
    parties and the reason of the discussion."""
    facts = QcFacts(crack=Crack.FOUND_OUTSIDE)
    proposal = propose_split(facts, policy())
    assert proposal is not None and proposal.manual and proposal.parties == ()
    parties = (person("shipping_qc", 60), person("logistics", 40))
    case = root_caused()
    with pytest.raises(PartiesInvalid, match="decided by discussion"):
        case.determine(determination(parties=parties, qc_facts=facts), policy())
    assert (case.state, case.version, case.records.responsibility) == (S.ROOT_CAUSED, 4, None)
    case.determine(
        determination(parties=parties, qc_facts=facts, override_reason="meeting 11-21: transport damage"), policy()
    )
    resp = case.records.responsibility
    assert resp is not None and resp.override_reason == "meeting 11-21: transport damage"
    assert resp.split_situation == "through-crack found outside the factory"


def test_overriding_the_proposal_needs_a_reason() -> None:
    """DOMAIN.md §3.5: other shares than the rule's are the engineer's decision, with a reason; the
    history line and the event say why."""
    override = (person("line_qc", 60), person("process_owner", 40))
    case = root_caused()
    with pytest.raises(PartiesInvalid, match="override reason") as refused:
        case.determine(determination(parties=override), policy())
    assert "component measured by QC" in str(refused.value)
    for blank in ("", "   "):
        with pytest.raises(PartiesInvalid):
            case.determine(determination(parties=override, override_reason=blank), policy())
    assert case.state is S.ROOT_CAUSED and case.pull_changes() == []

    case.determine(determination(parties=override, override_reason="the process owner skipped curing"), policy())
    [change] = case.pull_changes()
    assert isinstance(change.event, ResponsibilityDetermined)
    assert change.event.responsibility.override_reason == "the process owner skipped curing"
    assert case.history[-1].reason == "the process owner skipped curing"
    assert change.event.dispute_window_ends_at == DETERMINED_AT + 2 * HOUR


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        (("33.33", "33.33", "33.33"), "sum to exactly 100 %, got 99.99"),
        (("70", "30.01"), "got 100.01"),
        (("120", "-20"), "more than 0 and at most 100"),
        (("100", "0"), "more than 0"),
    ],
)
def test_shares_must_sum_to_exactly_100(shares: tuple[str, ...], message: str) -> None:
    """DOMAIN.md §3.5: "percentage shares that sum to 100 %" — exactly, even with a reason."""
    parties = tuple(person(f"role_{i}", share) for i, share in enumerate(shares))
    case = root_caused()
    with pytest.raises(PartiesInvalid, match=message):
        case.determine(determination(parties=parties, override_reason="split three ways"), policy())
    assert (case.state, case.version, case.records.responsibility) == (S.ROOT_CAUSED, 4, None)


def test_no_party_or_a_party_twice_is_refused() -> None:
    case = root_caused()
    with pytest.raises(PartiesInvalid, match="at least one"):
        case.determine(determination(parties=(), override_reason="x"), policy())
    twice = (person("line_qc", 50, name="张三"), person("process_owner", 50, name="张三"))
    with pytest.raises(PartiesInvalid, match="named twice"):
        case.determine(determination(parties=twice, override_reason="x"), policy())


def test_a_supplier_party_marks_a_charge_back() -> None:
    """Seed 001 管制程序 §5.3.2 ("供货商原材料之来料不良…所有损失,全数转嫁给供货商")."""
    supplier = Party(kind=PartyKind.SUPPLIER, name="江苏钢材有限公司", share=Decimal(100))
    case = root_caused()
    case.determine(determination(parties=(supplier,), override_reason="rebar out of specification"), policy())
    resp = case.records.responsibility
    assert resp is not None and resp.charge_back
    own = determined().records.responsibility
    assert own is not None and not own.charge_back


# -- accident class by loss (seed 000 品質事故處理管理規定 §5.2) ---------------------------------------


@pytest.mark.parametrize(
    ("loss", "flags", "expected"),
    [
        ("50000", {}, LossClass.EXTRAORDINARY),  # A: 直接經濟損失5萬元以上(含5萬元)
        ("120000", {}, LossClass.EXTRAORDINARY),
        ("49999.99", {}, LossClass.MAJOR),  # just below: B a ≥30000
        ("30000", {}, LossClass.MAJOR),  # B a: ≥30000元
        ("29999.99", {}, LossClass.SERIOUS),
        ("500", {"customer_may_end": True}, LossClass.MAJOR),  # B b: 有可能終止合作關係
        ("500", {"reputation_severe": True}, LossClass.EXTRAORDINARY),  # A: 聲譽極其惡劣影響
        ("10000", {}, LossClass.SERIOUS),  # the illustrative threshold of the shipped policy
        ("9999.99", {}, LossClass.GENERAL),
        ("0", {}, LossClass.GENERAL),
    ],
)
def test_the_accident_class_by_loss(loss: str, flags: dict[str, bool], expected: LossClass) -> None:
    """DOMAIN.md §3.4, seed 000 品質事故處理管理規定 §5.2: extraordinary ≥ 50,000; major ≥ 30,000 or the
    customer may end the relationship; serious; general."""
    assert loss_class(Decimal(loss), policy(), **flags) is expected


def test_the_serious_threshold_is_marked_illustrative() -> None:
    """Seed 000 §5.2 does not print the serious class's threshold: the policy says it is an example."""
    rules = {rule.name: rule for rule in policy().loss_classes}
    assert (rules["serious"].min_loss, rules["serious"].illustrative) == (Decimal(10000), True)
    assert not rules["extraordinary"].illustrative and not rules["major"].illustrative


# -- the dispute window (seed 000 §4.3.3.2.3) ----------------------------------------------------


def test_a_dispute_at_exactly_two_hours_is_accepted() -> None:
    """Seed 000 §4.3.3.2.3: "可在收到工艺组的定性判断2小时内提出质疑" — the window includes its end."""
    clock = FakeClock(DETERMINED_AT)
    clock.advance(timedelta(hours=2))
    case = determined()
    case.dispute(dispute_record(at=clock.now()), policy())
    assert case.state is S.DISPUTED and case.records.disputes[-1].against == 1


def test_a_dispute_one_second_late_is_refused_naming_the_window_end() -> None:
    clock = FakeClock(DETERMINED_AT)
    clock.advance(timedelta(hours=2, seconds=1))
    case = determined()
    with pytest.raises(InvalidTransition) as refused:
        case.dispute(dispute_record(at=clock.now()), policy())
    assert (refused.value.state, refused.value.action) == ("responsibility_determined", "dispute")
    assert (DETERMINED_AT + 2 * HOUR).isoformat() in refused.value.reason
    assert "seed 000 §4.3.3.2.3" in refused.value.reason
    assert (case.state, case.records.disputes) == (S.RESPONSIBILITY_DETERMINED, ())


def test_a_market_cause_claim_has_the_same_window() -> None:
    """Seed 000 §4.3.3.2.3: "确因市场原因…也可在收到客诉反馈的2小时内提出申请"."""
    late = determined()
    with pytest.raises(InvalidTransition, match="window"):
        late.dispute(dispute_record(at=DETERMINED_AT + 3 * HOUR, kind=DisputeKind.MARKET_CAUSE), policy())
    case = determined()
    case.dispute(dispute_record(at=DETERMINED_AT + 2 * HOUR, kind=DisputeKind.MARKET_CAUSE), policy())
    assert case.state is S.DISPUTED


def test_a_second_dispute_against_the_same_determination_is_refused() -> None:
    """Seed 000 §4.3.3.2.3: production operations rules *finally*: a dismissed objection is not
    raised again, even within the window."""
    case = disputed()
    case.rule(ruling_record(at=DISPUTED_AT + 10 * timedelta(minutes=1), upheld=False), policy())
    assert "dispute" not in case.allowed_steps()
    with pytest.raises(InvalidTransition) as refused:
        case.dispute(dispute_record(at=DISPUTED_AT + 20 * timedelta(minutes=1)), policy())
    assert "already disputed" in refused.value.reason


def test_the_determination_of_a_ruling_cannot_be_disputed() -> None:
    """Seed 000 §4.3.3.2.3 (由生产运营部进行最终裁决): a ruling is final. After an upheld objection the
    new determination (whose event says its window ends at the ruling) cannot be disputed again,
    not even a minute later."""
    case = disputed()
    ruled_at = DISPUTED_AT + HOUR
    case.rule(
        ruling_record(at=ruled_at, upheld=True),
        policy(),
        new_parties=(person("line_qc", 40), person("process_owner", 60)),
    )
    assert "dispute" not in case.allowed_steps()
    with pytest.raises(InvalidTransition):
        case.dispute(dispute_record(at=ruled_at + timedelta(minutes=1)), policy())
    assert case.state is S.RESPONSIBILITY_DETERMINED


# -- CAPA: three consecutive lots without the defect (seed 001) ----------------------------------


def test_two_clean_lots_do_not_verify_the_action() -> None:
    """Seed 001 ("自发生投诉后连续三批无此不良即可结案"; 管制程序 §5.7.5 "若制程连续生产三批无异常")."""
    case = actions_open()
    case.verify("A1", lots(2), policy())
    [change] = case.pull_changes()
    assert isinstance(change.event, ActionChecked)
    assert change.event.clean_lots_required == 3 and not change.event.checked.verified
    assert case.state is S.ACTIONS_OPEN and not case.records.actions[0].verified


def test_a_defective_lot_resets_the_run() -> None:
    """Seed 001: the three lots are consecutive; a lot with the defect starts the count again."""
    case = actions_open()
    case.verify("A1", lots(3, defective=[1]), policy())  # clean, defective, clean
    assert case.state is S.ACTIONS_OPEN and case.records.actions[0].clean_run() == 1
    case.verify("A1", lots(1, LOTS_AT + 5 * HOUR, prefix="M"), policy())
    assert case.state is S.ACTIONS_OPEN and case.records.actions[0].clean_run() == 2
    case.verify("A1", lots(1, LOTS_AT + 6 * HOUR, prefix="N"), policy())
    assert state_of(case) is S.VERIFIED
    assert case.records.actions[0].verified_at == LOTS_AT + 6 * HOUR


def test_three_consecutive_clean_lots_verify_the_action() -> None:
    case = actions_open()
    case.verify("A1", lots(3), policy())
    assert case.state is S.VERIFIED
    assert case.records.actions[0].verified_at == LOTS_AT + 2 * HOUR
    with pytest.raises(InvalidTransition):  # nothing left to verify: the step is not allowed now
        case.verify("A1", lots(1, LOTS_AT + 5 * HOUR, prefix="X"), policy())


def test_the_case_is_verified_only_when_every_action_is() -> None:
    """DOMAIN.md §3.7: QE verifies each action; the case moves on when all are verified."""
    case = determined()
    case.add_actions(
        [action(kind=ActionKind.TEMPORARY, description="100% edge check"), action(description="new mould")]
    )
    assert [a.id for a in case.records.actions] == ["A1", "A2"]
    case.verify("A1", lots(3), policy())
    assert case.state is S.ACTIONS_OPEN
    case.verify("A2", lots(3, LOTS_AT + 4 * HOUR, prefix="B"), policy())
    assert state_of(case) is S.VERIFIED
    # a new action re-opens the CAPA (DOMAIN.md §3.7)
    case.add_actions([action(at=LOTS_AT + 8 * HOUR, due=LOTS_AT + 3 * DAY, description="poka-yoke")])
    assert case.state is S.ACTIONS_OPEN


def test_a_final_reply_and_so_the_close_are_refused_while_an_action_is_unverified() -> None:
    """DOMAIN.md §3.7-§3.8: "every action verified, final reply sent" before closing."""
    case = actions_open()
    case.verify("A1", lots(2), policy())
    with pytest.raises(InvalidTransition, match="verified"):
        case.reply(reply(LOTS_AT + 3 * HOUR))
    with pytest.raises(InvalidTransition) as refused:
        case.close(at=LOTS_AT + 4 * HOUR, by=QE)
    assert (refused.value.state, refused.value.action) == ("actions_open", "close")


def test_closing_is_refused_while_standardisation_is_missing_for_a_permanent_action() -> None:
    """Seed 001 管制程序 §5.9 (标准化: 对有切实改善效果之改善措施…予以标准化): a permanent action is
    standardised before the case closes."""
    case = replied(standardised=False)
    with pytest.raises(InvalidTransition, match="standardised") as refused:
        case.close(at=CLOSED_AT, by=QE)
    assert refused.value.state == "replied" and case.state is S.REPLIED


def test_temporary_actions_alone_need_no_standardisation() -> None:
    case = actions_open(ActionKind.TEMPORARY)
    case.verify("A1", lots(3), policy())
    case.reply(reply(REPLIED_AT))
    case.close(at=CLOSED_AT, by=QE)
    assert (case.state, case.outcome) == (S.CLOSED, "resolved")


def test_a_case_missing_its_standardisation_does_not_get_stuck_in_replied() -> None:
    """Seed 001 §5.9: the close asks for the standardised documents. Either the final reply waits
    for them, or the engineer can still record them once replied; a replied case that can neither
    be standardised nor closed is a dead end (today: standardisation is allowed only in
    actions_open / verified, and closing is refused in replied)."""
    case = verified(standardised=False)
    try:
        case.reply(reply(REPLIED_AT))
    except InvalidTransition as refused:
        assert "standardis" in refused.reason and case.state is S.VERIFIED
        return
    assert case.state is S.REPLIED
    assert "standardisation" in case.allowed_steps()
    case.standardise(standardisation(REPLIED_AT + HOUR))
    case.close(at=CLOSED_AT, by=QE)
    assert state_of(case) is S.CLOSED


def test_a_lot_checked_twice_is_refused() -> None:
    """Seed 001: three *different* consecutive lots; a lot counted twice would fake the run."""
    case = actions_open()
    case.verify("A1", lots(2), policy())
    again = lots(1)  # L1 again
    with pytest.raises(InvalidTransition, match="lot checked twice: L1"):
        case.verify("A1", again, policy())
    same = (*lots(1, LOTS_AT + 5 * HOUR, prefix="Z"), *lots(1, LOTS_AT + 6 * HOUR, prefix="Z"))
    with pytest.raises(InvalidTransition, match="lot checked twice"):
        case.verify("A1", same, policy())
    assert len(case.records.actions[0].lots) == 2 and case.state is S.ACTIONS_OPEN


def test_the_action_deadline_is_met_at_the_first_lot() -> None:
    """Seed 001 纠正预防措施 (owner and due date): the first lot made under the action shows it was
    implemented; its due date is met then, not when the run of three is complete."""
    case = actions_open()
    action_deadline = due(case, "action:A1")
    assert (action_deadline.due_at, action_deadline.state) == (ACTION_DUE, PENDING)
    assert action_deadline.source == "permanent action, owner workshop_head (seed 001 纠正预防措施)"
    case.verify("A1", lots(2), policy())
    assert (due(case, "action:A1").state, due(case, "action:A1").met_at) == (MET, LOTS_AT)
    case.verify("A1", lots(1, LOTS_AT + 5 * HOUR, prefix="M"), policy())
    assert due(case, "action:A1").met_at == LOTS_AT  # unchanged


def test_an_action_is_due_after_it_is_added() -> None:
    case = determined()
    with pytest.raises(InvalidTransition, match="due after it is added"):
        case.add_actions([action(at=ACTIONS_AT, due=ACTIONS_AT)])
    with pytest.raises(InvalidTransition, match="no action"):
        case.add_actions([])
    assert case.state is S.RESPONSIBILITY_DETERMINED and case.records.actions == ()


def test_an_unknown_action_cannot_be_verified() -> None:
    case = actions_open()
    with pytest.raises(InvalidTransition, match="no action A9"):
        case.verify("A9", lots(3), policy())


# -- reply deadlines (seed 001) ------------------------------------------------------------------


def test_a_preliminary_reply_meets_the_preliminary_report_and_the_customer_reply() -> None:
    """Seed 001 §1.4.3 ("如报告不能在规定时间内完成时,需在3天内回复初步报告") and 管制程序 §5.6.2
    ("客诉回复在一天内回复,最迟不超过48小时"): the preliminary reply is the customer's answer in time."""
    facts = complaint(request_kind="report_8d")
    case = opened(facts)
    assert due(case, "preliminary_report").due_at == RECEIVED + 3 * DAY
    case.triage(triage_record(), policy())
    at = TRIAGED_AT + HOUR
    case.reply(reply(at, ReplyKind.PRELIMINARY, "containment done, report by 11-25"))
    assert case.state is S.TRIAGED
    for milestone in ("preliminary_report", "customer_reply", "customer_reply_latest"):
        d = due(case, milestone)
        assert (d.state, d.met_at, d.met_on_time) == (MET, at, True), milestone
    assert due(case, "close").state is PENDING


@pytest.mark.parametrize(
    ("special", "milestone", "hours", "source"),
    [
        (SpecialKind.PROCESS_ABNORMALITY, "process_abnormality_reply", 4, "seed 001 管制程序 §5.6.1"),
        (SpecialKind.HAZARDOUS_SUBSTANCE, "hazardous_substance_reply", 48, "seed 001 管制程序 §5.8"),
    ],
)
def test_special_complaints_get_their_own_reply_deadline_at_triage(
    special: SpecialKind, milestone: str, hours: int, source: str
) -> None:
    """Seed 001 管制程序 §5.6.1 ("制程质量异常在 4 小时内回复结果") and §5.8 ("有毒物质超标准则在 48 小时内
    回复给客户"): counted from the receipt, added when triage recognises the kind; a reply meets it."""
    case = opened()
    assert case.deadline(milestone) is None
    case.triage(triage_record(special=special), policy())
    d = due(case, milestone)
    assert (d.due_at, d.source, d.state, d.round) == (RECEIVED + timedelta(hours=hours), source, PENDING, 1)
    case.reply(reply(TRIAGED_AT + HOUR, ReplyKind.PRELIMINARY))
    assert (due(case, milestone).state, due(case, milestone).met_at) == (MET, TRIAGED_AT + HOUR)


def test_a_special_kind_is_a_quality_matter() -> None:
    case = opened()
    with pytest.raises(InvalidTransition, match="quality matter"):
        case.triage(triage_record(category=Category.PRICE, special=SpecialKind.HAZARDOUS_SUBSTANCE), policy())
    assert case.state is S.OPENED and case.deadline("hazardous_substance_reply") is None


# -- on-site investigation (seed 000 §4.1.1, §4.2.1) ---------------------------------------------


@pytest.mark.parametrize(
    ("severity", "dispatch"),
    [
        (Severity.URGENT, ("production_vp", "process_group")),
        (Severity.CRITICAL, ("production_vp", "process_group")),
        (Severity.MAJOR, ("workshop_head",)),
        (Severity.MODERATE, ("line_qe",)),
        (Severity.MINOR, ("line_qe",)),
    ],
)
def test_severity_decides_who_is_dispatched(severity: Severity, dispatch: tuple[str, ...]) -> None:
    """Seed 000 §4.1.1 ("此分类方法…作为客诉受理处置人员的外派依据"), the policy's dispatch table."""
    case = triaged(severity=severity)
    assert case.records.triage is not None and case.records.triage.dispatch == dispatch


def test_an_explicit_dispatch_is_kept() -> None:
    case = triaged(severity=Severity.MINOR, dispatch=("quality_manager",))
    assert case.records.triage is not None and case.records.triage.dispatch == ("quality_manager",)


def test_on_site_arrival_sheet_return_and_work_report_deadlines() -> None:
    """Seed 000 §4.2.1: arrive when customer service asks; the 《客户投诉跟踪调查表》 faxed back within
    24 h (after arrival); the 《客诉处理情况工作报告》 within three days of the return."""
    arrive_by = TRIAGED_AT + 6 * HOUR
    case = triaged(arrive_by=arrive_by)
    assert (due(case, "onsite_arrival").due_at, due(case, "onsite_arrival").state) == (arrive_by, PENDING)
    pol = policy()
    arrived = TRIAGED_AT + 5 * HOUR
    case.record_onsite("arrived", pol, at=arrived, by="workshop_head")
    assert (due(case, "onsite_arrival").state, due(case, "onsite_arrival").met_at) == (MET, arrived)
    sheet = due(case, "onsite_sheet_return")
    assert (sheet.due_at, sheet.state) == (arrived + 24 * HOUR, PENDING)
    assert sheet.source == "seed 000 §4.2.1 (24小时内传真)"
    case.record_onsite("sheet_returned", pol, at=arrived + 20 * HOUR, by="workshop_head")
    assert (due(case, "onsite_sheet_return").state, due(case, "onsite_sheet_return").met_at) == (
        MET,
        arrived + 20 * HOUR,
    )
    back = arrived + 30 * HOUR
    case.record_onsite("returned", pol, at=back, by="workshop_head")
    report = due(case, "onsite_work_report")
    assert (report.due_at, report.state) == (back + 72 * HOUR, PENDING)
    assert report.source == "seed 000 §4.2.1 (三日内交工作报告)"
    case.record_onsite("report_sent", pol, at=back + 50 * HOUR, by="workshop_head")
    assert due(case, "onsite_work_report").met_at == back + 50 * HOUR
    onsite = case.records.onsite
    assert (onsite.arrived_at, onsite.returned_at, onsite.report_sent_at) == (arrived, back, back + 50 * HOUR)
    assert case.state is S.TRIAGED and case.version == 6


@pytest.mark.parametrize(
    ("done", "what", "message"),
    [
        ((), "sheet_returned", "record arrived first"),
        ((), "returned", "record arrived first"),
        (("arrived",), "report_sent", "record returned first"),
        (("arrived",), "arrived", "arrived was already recorded"),
        ((), "left", "unknown on-site step 'left'"),
    ],
)
def test_the_on_site_order_is_enforced(done: tuple[str, ...], what: str, message: str) -> None:
    """Seed 000 §4.2.1: arrival, then the sheet; return, then the work report."""
    case = triaged()
    for i, step in enumerate(done):
        case.record_onsite(step, policy(), at=TRIAGED_AT + (i + 1) * HOUR, by="workshop_head")
    version = case.version
    with pytest.raises(InvalidTransition, match=message):
        case.record_onsite(what, policy(), at=TRIAGED_AT + 5 * HOUR, by="workshop_head")
    assert case.version == version


def test_nobody_on_site_without_a_dispatch() -> None:
    """Seed 000 §4.1.1: the on-site work follows the dispatch; a factory without a dispatch table
    whose engineer sent nobody records no on-site step."""
    pol = policy().model_copy(update={"dispatch": {}})
    case = triaged(pol)
    assert case.records.triage is not None and case.records.triage.dispatch == ()
    assert "onsite" not in case.allowed_steps()
    with pytest.raises(InvalidTransition, match="nobody was dispatched"):
        case.record_onsite("arrived", pol, at=TRIAGED_AT + HOUR, by=QE)


# -- internal feedback slip (seed 004 §2.4.1) ----------------------------------------------------


@pytest.mark.parametrize(
    ("difficult", "hours", "source"),
    [
        (False, 48, "seed 004 §2.4.1 (信息事务处理单, 两天)"),
        (True, 168, "seed 004 §2.4.1 (较难的问题不超过一星期)"),
    ],
)
def test_the_feedback_slip_is_due_from_triage_and_met_at_root_cause(difficult: bool, hours: int, source: str) -> None:
    """Seed 004 §2.4.1 ("被反馈部门收到《信息事务处理单》后…时间一般不超过两天,较难的问题不超过一星期"):
    counted from triage; the responsible department answers with cause and measures."""
    case = triaged(difficult=difficult)
    slip = due(case, "feedback_slip")
    assert (slip.due_at, slip.source, slip.state) == (TRIAGED_AT + timedelta(hours=hours), source, PENDING)
    case.contain(containment_record())
    assert due(case, "feedback_slip").state is PENDING
    case.analyse(root_cause_record())
    assert (due(case, "feedback_slip").state, due(case, "feedback_slip").met_at) == (MET, ROOT_CAUSED_AT)


def test_no_feedback_slip_when_triage_ends_the_case() -> None:
    """Seed 004 §4.2.1 A: not our product: no department is asked for measures."""
    assert triaged(our_fault=False).deadline("feedback_slip") is None


# -- workshop training (seed 000 §4.2.1) ---------------------------------------------------------


def test_the_workshop_trains_within_15_days_of_the_determination() -> None:
    """Seed 000 §4.2.1 ("责任车间应在15日内依据出现的客诉组织相关人员学习、教育")."""
    case = determined()
    d = due(case, "workshop_training")
    assert (d.due_at, d.state, d.source) == (DETERMINED_AT + 15 * DAY, PENDING, "seed 000 §4.2.1 (15日内组织学习)")
    at = DETERMINED_AT + 10 * DAY
    case.record_training(training(at))
    assert (due(case, "workshop_training").state, due(case, "workshop_training").met_at) == (MET, at)
    assert case.state is S.RESPONSIBILITY_DETERMINED
    with pytest.raises(InvalidTransition, match="no workshop training is due"):
        case.record_training(training(at + DAY))


def test_no_training_before_the_determination() -> None:
    case = root_caused()
    assert case.deadline("workshop_training") is None
    with pytest.raises(InvalidTransition):
        case.record_training(training(DETERMINED_AT))


def test_a_training_deadline_of_a_new_round_can_be_met() -> None:
    """Seed 000 §4.2.1 and seed 002 (九) 9: when a reopened case is determined again, a pending
    workshop-training deadline of round 2 must be one that recording the training can meet (no
    deadline is left to escalate forever)."""
    case = verified()
    case.record_training(training(LOTS_AT + 3 * HOUR))
    case.reply(reply(REPLIED_AT))
    case.close(at=CLOSED_AT, by=QE)
    pol = policy()
    at = CLOSED_AT + 2 * DAY
    case.reopen(pol, at=at, by="user:cs-1", reason="the defect came back")
    case.contain(containment_record())
    case.analyse(root_cause_record(at + DAY))
    case.determine(determination(at=at + 2 * DAY), pol)
    pending = [d for d in case.deadlines if d.milestone == "workshop_training" and d.pending]
    if pending:
        case.record_training(training(at + 3 * DAY))
        assert not [d for d in case.deadlines if d.milestone == "workshop_training" and d.pending]


def test_triage_after_reopening_keeps_round_one_records_apart() -> None:
    """Seed 002 (九) 9: round 2's deadlines are its own; round 1's met ones stay met."""
    case = replied()
    at = REPLIED_AT + DAY
    case.reopen(policy(), at=at, by="user:cs-1", reason="not accepted")
    case.triage(triage_record(at=at + HOUR, difficult=True), policy())
    assert due(case, "feedback_slip", 2).due_at == at + HOUR + 7 * DAY
    assert due(case, "feedback_slip", 1).state is MET
    assert due(case, "first_response", 1).met_at == TRIAGED_AT


def test_the_dispute_window_is_the_policys() -> None:
    """Seed 000 §4.3.3.2.3 gives 2 hours; a factory may set its own window (policy data)."""
    pol = policy().model_copy(update={"dispute_window_hours": Decimal(4)})
    case = root_caused()
    case.determine(determination(), pol)
    case.dispute(dispute_record(at=DETERMINED_AT + 4 * HOUR), pol)
    assert case.state is S.DISPUTED
