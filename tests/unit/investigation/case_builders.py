"""Builders of investigation cases in every state, for the domain tests (DOMAIN.md §3).

Every time is fixed (UTC, no now()). The complaint is F01's, domestic and in-province, received
2026-11-20 02:00 and registered 06:00; the default steps then follow one another on the
timeline below. Each builder returns a case whose recorded changes were already pulled, so a
test sees exactly the changes of the steps it takes itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cqm_shared.domain import DomainError
from cqm_shared.policy import PolicyBook
from investigation.domain.model import Case, CaseState, ComplaintFacts, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import (
    AccidentCause,
    Action,
    ActionKind,
    AffectedScope,
    Category,
    Containment,
    Disposition,
    Dispute,
    DisputeKind,
    FollowUp,
    LossClass,
    LotCheck,
    Party,
    PartyKind,
    QcFacts,
    Reply,
    ReplyKind,
    Responsibility,
    RootCause,
    Ruling,
    ScopeKind,
    Severity,
    SpecialKind,
    Standardisation,
    Training,
    Triage,
)
from tests.conftest import POLICY_DIR

QE = "user:qe-1"  # the quality engineer who takes the steps
OPS = "user:ops-1"  # production operations (生产运营部), who rules on disputes
INTAKE = "system:/services/intake"

RECEIVED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
REGISTERED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
TRIAGED_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CONTAINED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ROOT_CAUSED_AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DETERMINED_AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
DISPUTED_AT = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)  # within the 2 h window
ACTIONS_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ACTION_DUE = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LOTS_AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # lots at 08:00, 09:00, 10:00
STANDARDISED_AT = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
REPLIED_AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CLOSED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
REOPENED_AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
WITHDRAWN_AT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

_BOOK: PolicyBook[InvestigationPolicy] | None = None


def policy(factory: str = "F01") -> InvestigationPolicy:
    """The factory's investigation policy as shipped in deploy/policies (F01: the seed defaults)."""
    global _BOOK
    if _BOOK is None:
        _BOOK = PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)
    return _BOOK.for_factory(factory)


def complaint(
    factory: str = "F01",
    *,
    region: Region = Region.DOMESTIC,
    province: Province | None = Province.IN,
    received_at: datetime = RECEIVED,
    registered_at: datetime = REGISTERED,
    request_kind: str | None = None,
) -> ComplaintFacts:
    return ComplaintFacts(
        number=f"{factory}-2611-0001",
        factory=factory,
        registered_at=registered_at,
        received_at=received_at,
        region=region,
        province=province,
        phenomenon="叠合板边角破损 chipped edges",
        customer_company="华东建工集团",
        part_number="PC-100",
        product_model="YB-PC",
        request_kind=request_kind,
    )


def opened(facts: ComplaintFacts | None = None, pol: InvestigationPolicy | None = None) -> Case:
    facts = facts or complaint()
    case = Case.open(facts, pol or policy(facts.factory), at=REGISTERED, by=INTAKE, reason="complaint.registered")
    case.pull_changes()
    return case


# -- records -------------------------------------------------------------------------------------


def triage_record(
    *,
    at: datetime = TRIAGED_AT,
    valid: bool = True,
    category: Category = Category.QUALITY,
    severity: Severity = Severity.MAJOR,
    our_fault: bool = True,
    special: SpecialKind | None = None,
    difficult: bool = False,
    dispatch: tuple[str, ...] = (),
    arrive_by: datetime | None = None,
) -> Triage:
    return Triage(
        valid=valid,
        category=category,
        severity=severity,
        our_fault=our_fault,
        at=at,
        by=QE,
        special=special,
        difficult=difficult,
        responsible_department="PC workshop 1",
        dispatch=dispatch,
        arrive_by=arrive_by,
    )


def containment_record(at: datetime = CONTAINED_AT) -> Containment:
    return Containment(
        scope=(AffectedScope(ScopeKind.WAREHOUSE, 40), AffectedScope(ScopeKind.SHIPPED, 10)),
        dispositions=(Disposition.SORTING, Disposition.EXCHANGE),
        at=at,
        by=QE,
        actions="isolate the lot in the yard",
    )


def root_cause_record(at: datetime = ROOT_CAUSED_AT) -> RootCause:
    return RootCause(
        occurrence_cause="demoulding too early",
        escape_cause="edge not checked at shipping",
        at=at,
        by=QE,
        team=(QE, "workshop_head"),
    )


def person(role: str, share: int | str, name: str | None = None) -> Party:
    return Party(kind=PartyKind.PERSON, name=name or f"{role} on duty", share=Decimal(share), role=role)


MEASURED_SPLIT = (person("line_qc", 70), person("process_owner", 30))  # seed 000 经品管实测实量


def determination(
    *,
    at: datetime = DETERMINED_AT,
    parties: tuple[Party, ...] = MEASURED_SPLIT,
    qc_facts: QcFacts | None = None,
    override_reason: str | None = None,
    loss: Decimal = Decimal("12000"),
    loss_class: LossClass = LossClass.SERIOUS,
) -> Responsibility:
    return Responsibility(
        sequence=0,  # the case numbers its determinations
        parties=parties,
        cause_class=AccidentCause.MANAGEMENT_GENERAL,
        loss_amount=loss,
        loss_class=loss_class,
        qc_facts=qc_facts if qc_facts is not None else QcFacts(measured=True),
        at=at,
        by=QE,
        override_reason=override_reason,
    )


def dispute_record(
    *, at: datetime = DISPUTED_AT, kind: DisputeKind = DisputeKind.OBJECTION, reason: str = "the QC log was wrong"
) -> Dispute:
    return Dispute(kind=kind, department="PC workshop 1", reason=reason, at=at, by="user:workshop-head", against=0)


def ruling_record(*, at: datetime, upheld: bool, reason: str = "ruled by production operations") -> Ruling:
    return Ruling(upheld=upheld, at=at, by=OPS, reason=reason)


def action(
    *,
    at: datetime = ACTIONS_AT,
    due: datetime = ACTION_DUE,
    kind: ActionKind = ActionKind.PERMANENT,
    description: str = "demould after 12 h curing",
) -> Action:
    return Action(
        id="", kind=kind, description=description, owner="workshop_head", due_at=due, added_at=at, added_by=QE
    )


def lots(
    count: int, start: datetime = LOTS_AT, *, defective: Iterable[int] = (), prefix: str = "L"
) -> tuple[LotCheck, ...]:
    """`count` lots an hour apart; the lots at the indexes in `defective` still show the defect."""
    bad = set(defective)
    return tuple(
        LotCheck(lot=f"{prefix}{i + 1}", defect_found=i in bad, at=start + i * HOUR, by=QE) for i in range(count)
    )


def reply(at: datetime, kind: ReplyKind = ReplyKind.FINAL, content: str = "8D result") -> Reply:
    return Reply(kind=kind, content=content, at=at, by="user:cs-1", channel="email")


def follow_up(at: datetime, *, accepted: bool = True) -> FollowUp:
    return FollowUp(satisfied=accepted, accepted=accepted, at=at, by="user:cs-1")


def standardisation(at: datetime = STANDARDISED_AT) -> Standardisation:
    return Standardisation(documents=("WI-PC-012 demoulding", "CP-PC-003 control plan"), at=at, by=QE)


def training(at: datetime) -> Training:
    return Training(at=at, by="workshop_head", attendees=12)


# -- cases in each state ------------------------------------------------------------------------


def state_of(case: Case) -> CaseState:
    """The case's state, read afresh (a check after a step that mypy would take as already narrowed)."""
    return case.state


def _done(case: Case) -> Case:
    case.pull_changes()
    return case


def triaged(pol: InvestigationPolicy | None = None, **kwargs: Any) -> Case:
    pol = pol or policy()
    case = opened(pol=pol)
    case.triage(triage_record(**kwargs), pol)
    return _done(case)


def contained() -> Case:
    case = triaged()
    case.contain(containment_record())
    return _done(case)


def root_caused() -> Case:
    case = contained()
    case.analyse(root_cause_record())
    return _done(case)


def determined() -> Case:
    case = root_caused()
    case.determine(determination(), policy())
    return _done(case)


def disputed(kind: DisputeKind = DisputeKind.OBJECTION) -> Case:
    case = determined()
    case.dispute(dispute_record(kind=kind), policy())
    return _done(case)


def actions_open(kind: ActionKind = ActionKind.PERMANENT) -> Case:
    case = determined()
    case.add_actions([action(kind=kind)])
    return _done(case)


def verified(*, standardised: bool = True) -> Case:
    case = actions_open()
    case.verify("A1", lots(3), policy())
    if standardised:
        case.standardise(standardisation())
    return _done(case)


def replied(*, standardised: bool = True) -> Case:
    case = verified(standardised=standardised)
    case.reply(reply(REPLIED_AT))
    return _done(case)


def closed() -> Case:
    case = replied()
    case.close(at=CLOSED_AT, by=QE, reason="three clean lots, customer informed")
    return _done(case)


def reopened() -> Case:
    case = closed()
    case.reopen(policy(), at=REOPENED_AT, by="user:cs-1", reason="the customer does not accept the result")
    return _done(case)


def withdrawn() -> Case:
    case = determined()
    case.withdraw(at=WITHDRAWN_AT, by=INTAKE, reason="complaint.withdrawn")
    return _done(case)


BUILDERS: dict[CaseState, Callable[[], Case]] = {
    CaseState.OPENED: opened,
    CaseState.TRIAGED: triaged,
    CaseState.CONTAINED: contained,
    CaseState.ROOT_CAUSED: root_caused,
    CaseState.RESPONSIBILITY_DETERMINED: determined,
    CaseState.DISPUTED: disputed,
    CaseState.ACTIONS_OPEN: actions_open,
    CaseState.VERIFIED: verified,
    CaseState.REPLIED: replied,
    CaseState.CLOSED: closed,
    CaseState.REOPENED: reopened,
    CaseState.WITHDRAWN: withdrawn,
}


# -- one plausible request per step, made a minute after the case's last change -------------------

REASON = "because the test says so"


def next_minute(case: Case) -> datetime:
    return case.updated_at + timedelta(minutes=1)


def _verify(case: Case, at: datetime) -> None:
    open_actions = [a.id for a in case.records.actions if not a.verified]
    case.verify(
        open_actions[0] if open_actions else "A1", lots(3, at, prefix=f"S{at:%d%H%M}-"), policy(), reason=REASON
    )


def _onsite(case: Case, at: datetime) -> None:
    onsite = case.records.onsite
    order = (
        ("arrived", onsite.arrived_at),
        ("sheet_returned", onsite.sheet_returned_at),
        ("returned", onsite.returned_at),
        ("report_sent", onsite.report_sent_at),
    )
    what = next((name for name, done in order if done is None), "arrived")
    case.record_onsite(what, policy(), at=at, by=QE, reason=REASON)


def _amend(case: Case, at: datetime) -> None:
    corrected = replace(case.complaint, phenomenon=case.complaint.phenomenon + " (corrected)")
    case.amend(corrected, policy(), at=at, by=INTAKE, reason=REASON)


DO: dict[str, Callable[[Case, datetime], None]] = {
    "triage": lambda c, at: c.triage(triage_record(at=at), policy(), reason=REASON),
    "containment": lambda c, at: c.contain(containment_record(at), reason=REASON),
    "root_cause": lambda c, at: c.analyse(root_cause_record(at), reason=REASON),
    "responsibility": lambda c, at: c.determine(determination(at=at), policy(), reason=REASON),
    "dispute": lambda c, at: c.dispute(dispute_record(at=at, reason=REASON), policy()),
    "ruling": lambda c, at: c.rule(ruling_record(at=at, upheld=False, reason=REASON), policy()),
    "actions": lambda c, at: c.add_actions([action(at=at, due=at + 3 * DAY)], reason=REASON),
    "verification": _verify,
    "standardisation": lambda c, at: c.standardise(standardisation(at), reason=REASON),
    "reply": lambda c, at: c.reply(reply(at, ReplyKind.PRELIMINARY), reason=REASON),
    "follow_up": lambda c, at: c.follow_up(follow_up(at), reason=REASON),
    "close": lambda c, at: c.close(at=at, by=QE, reason=REASON),
    "reopen": lambda c, at: c.reopen(policy(), at=at, by=QE, reason=REASON),
    "onsite": _onsite,
    "training": lambda c, at: c.record_training(training(at), reason=REASON),
    "amend": _amend,
    "withdraw": lambda c, at: c.withdraw(at=at, by=INTAKE, reason=REASON),
}


def take(case: Case, step: str, at: datetime | None = None) -> datetime:
    """Take `step` with a plausible request; returns the time it was taken at."""
    when = at or next_minute(case)
    DO[step](case, when)
    return when


def succeeds(build: Callable[[], Case], step: str) -> bool:
    """Whether `step` with a plausible request succeeds on a fresh case from `build`."""
    case = build()
    try:
        take(case, step)
    except DomainError:
        return False
    return True
