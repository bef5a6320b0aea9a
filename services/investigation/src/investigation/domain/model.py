"""The investigation case (调查): an 8D case and its deadlines. Pure: no I/O.

A case opens when a complaint is registered and then follows the state machine of
`transitions.py` (DOMAIN.md §3). Each method checks the step is allowed now, records what the
engineer entered, meets or schedules deadlines from the factory policy and records one domain
event; the unit of work turns it into the audit row and the public `investigation.*` event.

The complaint is kept in investigation's own terms (`ComplaintFacts`): only the fields the
deadlines, the case and the 8D report use, translated from the public record at the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, InvalidInput, InvalidTransition
from investigation.domain.deadlines import Deadline, DeadlineState, schedule
from investigation.domain.events import (
    ActionChecked,
    ActionsAdded,
    CaseClosed,
    CaseEvent,
    CaseOpened,
    CaseReopened,
    CaseTriaged,
    CaseWithdrawn,
    ComplaintUpdated,
    ContainmentRecorded,
    CustomerReplied,
    DisputeRuled,
    FollowedUp,
    OnsiteRecorded,
    ResponsibilityDetermined,
    ResponsibilityDisputed,
    RootCauseRecorded,
    Standardised,
    TrainingRecorded,
)
from investigation.domain.policy import Anchor, CloseBasis, InvestigationPolicy
from investigation.domain.records import (
    Action,
    ActionKind,
    Category,
    Containment,
    Dispute,
    DisputeKind,
    FollowUp,
    LotCheck,
    Party,
    Records,
    Reply,
    ReplyKind,
    Responsibility,
    RootCause,
    Ruling,
    SpecialKind,
    Standardisation,
    Training,
    Triage,
)
from investigation.domain.rules import loss_class, propose_split, same_shares
from investigation.domain.transitions import STEPS, CaseState

__all__ = ["Case", "CaseState", "ComplaintFacts", "Deadline", "DeadlineState", "Province", "Region", "Transition"]


class Region(StrEnum):
    DOMESTIC = "domestic"  # 国内
    FOREIGN = "foreign"  # 国外


class Province(StrEnum):
    IN = "in"  # 本省
    OUT = "out"  # 外省


# The customer request kind that asks for a written (8D) report (seed 001 §1.4.3).
REPORT_8D = "report_8d"


@dataclass(frozen=True)
class ComplaintFacts:
    """What investigation keeps of a registered complaint (its own copy, its own types)."""

    number: str
    factory: str
    registered_at: datetime  # 受理: numbered by intake
    received_at: datetime  # received from the customer
    region: Region
    province: Province | None  # None: not known
    phenomenon: str  # 问题现象
    customer_company: str
    part_number: str | None = None  # 料号
    product_model: str | None = None  # 型号
    request_kind: str | None = None  # what the customer asked for (客户希望之处理方式)
    batch_return: bool = False  # 批量退货
    quantity_defective: int | None = None  # 不良数量

    def __post_init__(self) -> None:
        if self.registered_at.tzinfo is None or self.received_at.tzinfo is None:
            raise ValueError("complaint times are timezone-aware")

    @property
    def report_requested(self) -> bool:
        return self.request_kind == REPORT_8D


class PartiesInvalid(InvalidInput):
    """Responsibility shares that do not sum to exactly 100 %, or an override without a reason (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="parties")


# Milestones whose due time is known when the case opens.
OPENING_MILESTONES = ("first_response", "handling_proposal", "customer_reply", "customer_reply_latest")
# Milestones of a handling round: a reopened case gets them again, counted from the reopening.
ROUND_MILESTONES = ("customer_reply", "customer_reply_latest", "close")
# Replies to the customer meet these (seed 001 管制程序 §5.6.1, §5.6.2, §5.8).
REPLY_MILESTONES = frozenset(
    {"customer_reply", "customer_reply_latest", "process_abnormality_reply", "hazardous_substance_reply"}
)
SPECIAL_MILESTONES = {
    SpecialKind.PROCESS_ABNORMALITY: "process_abnormality_reply",
    SpecialKind.HAZARDOUS_SUBSTANCE: "hazardous_substance_reply",
}


def close_rule(complaint: ComplaintFacts, policy: InvestigationPolicy) -> str:
    """Which close deadline applies.

    Province basis (seed 000 §4.2.1): in-province 5 days, out-of-province 15 days; foreign
    markets count as out of province; an unknown province gets the stricter in-province
    deadline so that no case is overdue unnoticed. Region basis (seed 002 (十)): domestic
    13 days, foreign 17 days.
    """
    if policy.close_basis is CloseBasis.REGION:
        return "close_foreign" if complaint.region is Region.FOREIGN else "close_domestic"
    if complaint.region is Region.FOREIGN or complaint.province is Province.OUT:
        return "close_out_of_province"
    return "close_in_province"


def _opening_rules(complaint: ComplaintFacts, policy: InvestigationPolicy) -> dict[str, str]:
    """milestone -> policy rule of the deadlines a case has from its opening."""
    rules = {m: m for m in OPENING_MILESTONES}
    rules["close"] = close_rule(complaint, policy)
    if complaint.report_requested:
        # A customer who asked for a report gets a preliminary one within 3 days (seed 001 §1.4.3).
        rules["preliminary_report"] = "preliminary_report"
    return rules


def _anchor_time(anchor: Anchor, complaint: ComplaintFacts) -> datetime:
    if anchor is Anchor.REGISTERED:
        return complaint.registered_at
    if anchor is Anchor.RECEIVED:
        return complaint.received_at
    raise ValueError(f"a deadline anchored at {anchor} cannot be known when the case opens")


def opening_deadlines(complaint: ComplaintFacts, policy: InvestigationPolicy) -> list[Deadline]:
    deadlines = [
        schedule(milestone, rule, _anchor_time(policy.deadlines[rule].anchor, complaint), policy, round=1)
        for milestone, rule in _opening_rules(complaint, policy).items()
    ]
    return sorted(deadlines, key=lambda d: (d.due_at, d.milestone))


@dataclass(frozen=True)
class Transition:
    """One line of the case history (DOMAIN.md §3, §7: who / when / why of every transition)."""

    at: datetime
    actor: str
    action: str
    from_state: CaseState | None
    to_state: CaseState
    reason: str = ""


@dataclass
class Case(Aggregate):
    entity: ClassVar[str] = "investigation"

    number: str
    factory: str
    state: CaseState
    complaint: ComplaintFacts
    deadlines: tuple[Deadline, ...]
    opened_at: datetime
    updated_at: datetime
    history: list[Transition] = field(default_factory=list)
    version: int = 0
    records: Records = field(default_factory=Records)
    round: int = 1  # handling round: 2, 3, … after the customer did not accept (seed 002 (九) 9)
    closed_at: datetime | None = None
    outcome: str | None = None

    @property
    def identity(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "round": self.round,
            "outcome": self.outcome,
            "deadlines": [d.snapshot() for d in self.deadlines],
        }

    def deadline(self, milestone: str, round: int | None = None) -> Deadline | None:
        """The milestone's deadline in `round` (default: the latest round that has it)."""
        found = [d for d in self.deadlines if d.milestone == milestone and (round is None or d.round == round)]
        return max(found, key=lambda d: d.round) if found else None

    # -- the state machine ---------------------------------------------------------------

    def allowed_steps(self) -> list[str]:
        """The steps a person may take now (the console shows these as forms)."""
        return [name for name, step in STEPS.items() if self.state in step.allowed_from and self._why_not(name) is None]

    def _why_not(self, step: str) -> str | None:
        """A rule that refuses `step` in the current state, beyond the transition table."""
        triage = self.records.triage
        ends = triage is not None and triage.ends_investigation
        if step == "containment" and self.state is CaseState.TRIAGED and ends:
            return "triage found the complaint not valid, not a quality matter or not our fault: reply and close"
        if step == "containment" and self.state is CaseState.REOPENED and triage is None:
            return "triage the complaint first"
        resp = self.records.responsibility
        if step == "dispute":
            if resp is None or not resp.parties:
                return "there is no determination to dispute"
            if any(d.against == resp.sequence for d in self.records.disputes):
                return f"determination {resp.sequence} was already disputed and ruled on"
            if any(d.ruling and d.ruling.determination == resp.sequence for d in self.records.disputes):
                return (
                    "the determination comes from production operations' ruling, which is final (seed 000 §4.3.3.2.3)"
                )
        if step == "actions" and resp is not None and not resp.parties:
            return "responsibility was cleared (market cause): nothing to correct"
        if step == "close":
            why = self._close_refused()
            if why is not None:
                return why
        if step == "verification" and not any(not a.verified for a in self.records.actions):
            return "every action is verified"
        if step == "onsite":
            if triage is None or not triage.dispatch:
                return "nobody was dispatched on site at triage"
            if self.records.onsite.report_sent_at is not None:
                return "the on-site work is complete: the report was sent"
        if step == "training" and not any(d.pending and d.milestone == "workshop_training" for d in self.deadlines):
            return "no workshop training is due"
        return None

    def _close_refused(self) -> str | None:
        open_actions = [a.id for a in self.records.actions if not a.verified]
        if open_actions:
            return f"actions not verified: {', '.join(open_actions)}"
        permanent = any(a.kind is ActionKind.PERMANENT for a in self.records.actions)
        if permanent and self.records.standardisation is None:
            return "record the standardised documents first (seed 001 §5.9)"
        last = self.records.follow_ups[-1] if self.records.follow_ups else None
        if last is not None and not last.accepted and last.at >= self._round_started():
            return "the customer did not accept the result: reopen for a new round"
        return None

    def _check(self, step: str) -> None:
        allowed = STEPS[step].allowed_from
        if self.state not in allowed:
            states = ", ".join(sorted(s.value for s in allowed))
            raise InvalidTransition(self.entity, self.number, self.state.value, step, f"allowed only when {states}")
        reason = self._why_not(step)
        if reason is not None:
            raise InvalidTransition(self.entity, self.number, self.state.value, step, reason)

    def _refuse(self, step: str, reason: str) -> InvalidTransition:
        return InvalidTransition(self.entity, self.number, self.state.value, step, reason)

    def _apply(
        self,
        make: Callable[..., CaseEvent],
        *,
        to: CaseState | None,
        at: datetime,
        by: str,
        reason: str,
        **payload: Any,
    ) -> None:
        """Record one change: the history line, the audit row and the public event agree on it.

        Call after the records and deadlines are changed; `to` None keeps the state.
        """
        from_state = self.state
        before = self._before
        self.state = to or self.state
        self.updated_at = at
        event = make(
            at=at,
            actor=by,
            reason=reason,
            number=self.number,
            factory=self.factory,
            state=self.state,
            version=self.version + 1,
            round=self.round,
            deadlines=self.deadlines,
            **payload,
        )
        self.history.append(
            Transition(at=at, actor=by, action=event.action, from_state=from_state, to_state=self.state, reason=reason)
        )
        self.record(event, before=before)

    def _begin(self, step: str) -> None:
        self._check(step)
        self._before = self.snapshot()

    # -- deadlines -------------------------------------------------------------------------

    def _meet(self, milestones: Iterable[str], at: datetime, *, any_round: bool = False) -> None:
        names = set(milestones)
        self.deadlines = tuple(
            d.met(at) if d.pending and d.milestone in names and (any_round or d.round == self.round) else d
            for d in self.deadlines
        )

    def _cancel(self, at: datetime, keep: Callable[[Deadline], bool] = lambda d: False) -> None:
        self.deadlines = tuple(d.cancelled(at) if d.pending and not keep(d) else d for d in self.deadlines)

    def _add(self, *deadlines: Deadline) -> None:
        known = {(d.milestone, d.round) for d in self.deadlines}
        fresh = [d for d in deadlines if (d.milestone, d.round) not in known]
        self.deadlines = tuple(sorted([*self.deadlines, *fresh], key=lambda d: (d.due_at, d.milestone, d.round)))

    # -- 0. opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls, complaint: ComplaintFacts, policy: InvestigationPolicy, *, at: datetime, by: str, reason: str
    ) -> Case:
        """A new case for a registered complaint, with the deadlines known at opening."""
        case = cls(
            number=complaint.number,
            factory=complaint.factory,
            state=CaseState.OPENED,
            complaint=complaint,
            deadlines=tuple(opening_deadlines(complaint, policy)),
            opened_at=at,
            updated_at=at,
        )
        event = CaseOpened(
            at=at,
            actor=by,
            reason=reason,
            number=case.number,
            factory=case.factory,
            state=CaseState.OPENED,
            version=1,
            round=1,
            deadlines=case.deadlines,
        )
        case.history.append(
            Transition(at=at, actor=by, action=event.action, from_state=None, to_state=case.state, reason=reason)
        )
        case.record(event, before=None)
        return case

    # -- 1. triage (确认/分类) -------------------------------------------------------------

    def triage(self, triage: Triage, policy: InvestigationPolicy, *, reason: str = "") -> None:
        """Validity, category, severity; severity decides who goes on site (seed 000 §4.1.1)."""
        self._begin("triage")
        at = triage.at
        if not triage.dispatch and policy.dispatch:
            triage = replace(triage, dispatch=tuple(policy.dispatch[triage.severity.value]))
        if triage.category is not Category.QUALITY and triage.special is not None:
            raise self._refuse("triage", f"a {triage.special.value} complaint is a quality matter")
        self.records = replace(self.records, triage=triage)
        self._meet({"first_response"}, at)
        if triage.ends_investigation:
            # Not our product: customer service answers the customer at once (seed 004 §4.2.1 a).
            self._meet({"handling_proposal"}, at)
        else:
            slip = "feedback_slip_difficult" if triage.difficult else "feedback_slip"
            self._add(schedule("feedback_slip", slip, at, policy, round=self.round))
        if triage.special is not None:
            milestone = SPECIAL_MILESTONES[triage.special]
            self._add(schedule(milestone, milestone, self.complaint.received_at, policy, round=self.round))
        if triage.dispatch and triage.arrive_by is not None:
            self._add(
                Deadline(
                    milestone="onsite_arrival",
                    due_at=triage.arrive_by,
                    source="seed 000 §4.2.1 (按客户服务处要求时间到达)",
                    round=self.round,
                )
            )
        self._apply(CaseTriaged, to=CaseState.TRIAGED, at=at, by=triage.by, reason=reason or triage.note, triage=triage)

    # -- 2. containment (围堵) --------------------------------------------------------------

    def contain(self, containment: Containment, *, reason: str = "") -> None:
        self._begin("containment")
        if any(s.quantity < 0 for s in containment.scope):
            raise self._refuse("containment", "affected quantities are not negative")
        self.records = replace(self.records, containment=containment)
        self._meet({"handling_proposal"}, containment.at)
        self._apply(
            ContainmentRecorded,
            to=CaseState.CONTAINED,
            at=containment.at,
            by=containment.by,
            reason=reason or containment.note,
            containment=containment,
        )

    # -- 3. root cause and 8D (原因分析) -----------------------------------------------------

    def analyse(self, root_cause: RootCause, *, reason: str = "") -> None:
        self._begin("root_cause")
        self.records = replace(self.records, root_cause=root_cause)
        # The responsible department answered the feedback slip with cause and measures (seed 004 §2.4.1).
        self._meet({"feedback_slip"}, root_cause.at)
        self._apply(
            RootCauseRecorded,
            to=CaseState.ROOT_CAUSED,
            at=root_cause.at,
            by=root_cause.by,
            reason=reason,
            root_cause=root_cause,
        )

    # -- 4./5. accident class and responsibility (责任判定) ----------------------------------

    def determine(self, responsibility: Responsibility, policy: InvestigationPolicy, *, reason: str = "") -> None:
        """Parties with shares summing to 100 %; the split rule's proposal unless overridden with a reason."""
        self._begin("responsibility")
        responsibility = self._checked_determination(responsibility, policy)
        self._determined(responsibility, policy, reason=reason)

    def _checked_determination(self, resp: Responsibility, policy: InvestigationPolicy) -> Responsibility:
        _check_parties(resp.parties)
        klass = loss_class(
            resp.loss_amount, policy, customer_may_end=resp.customer_may_end, reputation_severe=resp.reputation_severe
        )
        resp = replace(resp, loss_class=klass)
        proposal = propose_split(resp.qc_facts, policy)
        previous = self.records.responsibility
        resp = replace(resp, sequence=(previous.sequence + 1) if previous else 1)
        if proposal is None:
            return replace(resp, proposed=(), split_situation=None)
        resp = replace(resp, proposed=proposal.parties, split_situation=proposal.situation)
        if proposal.manual:
            if not (resp.override_reason or "").strip():
                raise PartiesInvalid(
                    f"{proposal.situation}: the split is decided by discussion ({proposal.source}); give the reason"
                )
        elif not _same_roles_and_shares(resp.parties, proposal.parties) and not (resp.override_reason or "").strip():
            shares = ", ".join(f"{p.name} {p.share}%" for p in proposal.parties)
            raise PartiesInvalid(
                f"the parties differ from the split of '{proposal.situation}' ({shares}, {proposal.source}):"
                " give an override reason"
            )
        return resp

    def _determined(self, resp: Responsibility, policy: InvestigationPolicy, *, reason: str) -> None:
        previous = self.records.responsibility
        self.records = replace(self.records, responsibility=resp)
        if self.deadline("workshop_training", self.round) is None:
            # The responsible workshop trains its people within 15 days (seed 000 §4.2.1).
            self._add(schedule("workshop_training", "workshop_training", resp.at, policy, round=self.round))
        self._apply(
            ResponsibilityDetermined,
            to=CaseState.RESPONSIBILITY_DETERMINED,
            at=resp.at,
            by=resp.by,
            reason=reason or resp.override_reason or "",
            responsibility=resp,
            dispute_window_ends_at=resp.at + policy.dispute_window,
            supersedes=previous.sequence if previous else None,
        )

    # -- 6. dispute and ruling (异议, 裁决) ---------------------------------------------------

    def dispute(self, dispute: Dispute, policy: InvestigationPolicy) -> None:
        """Within the window after the classification (seed 000 §4.3.3.2.3: 2 hours)."""
        self._begin("dispute")
        resp = self.records.responsibility
        assert resp is not None  # _why_not refused otherwise
        ends = resp.at + policy.dispute_window
        if dispute.at > ends:
            raise self._refuse(
                "dispute",
                f"the {policy.dispute_window_hours}-hour window after the classification of {resp.at.isoformat()}"
                f" ended at {ends.isoformat()} (seed 000 §4.3.3.2.3)",
            )
        dispute = replace(dispute, against=resp.sequence)
        self.records = replace(self.records, disputes=(*self.records.disputes, dispute))
        self._apply(
            ResponsibilityDisputed,
            to=CaseState.DISPUTED,
            at=dispute.at,
            by=dispute.by,
            reason=dispute.reason,
            dispute=dispute,
        )

    def rule(
        self,
        ruling: Ruling,
        policy: InvestigationPolicy,
        *,
        new_parties: tuple[Party, ...] = (),
        override_reason: str = "",
    ) -> None:
        """Production operations' final ruling; new parties publish a new determination."""
        self._begin("ruling")
        dispute = self.records.disputes[-1]
        resp = self.records.responsibility
        assert resp is not None
        cleared = ruling.upheld and dispute.kind is DisputeKind.MARKET_CAUSE
        changed = ruling.upheld and dispute.kind is DisputeKind.OBJECTION
        if changed:
            if not new_parties:
                raise PartiesInvalid("an upheld objection names the parties as ruled")
            _check_parties(new_parties)
            if same_shares(new_parties, resp.parties):
                raise PartiesInvalid("an upheld objection changes the parties or their shares")
        elif new_parties:
            raise PartiesInvalid("a dismissed objection or an accepted market cause names no new parties")
        ruling = replace(ruling, determination=resp.sequence + 1 if (changed or cleared) else None)
        ruled = replace(dispute, ruling=ruling)
        self.records = replace(self.records, disputes=(*self.records.disputes[:-1], ruled))
        if cleared:
            # A market, not a quality cause (seed 000 §4.3.3.2.3): nobody is responsible, no training.
            self.records = replace(
                self.records,
                responsibility=replace(
                    resp, sequence=resp.sequence + 1, parties=(), findings=(), at=ruling.at, by=ruling.by
                ),
            )
            self._cancel(ruling.at, keep=lambda d: d.milestone != "workshop_training")
        self._apply(
            DisputeRuled,
            to=CaseState.RESPONSIBILITY_DETERMINED,
            at=ruling.at,
            by=ruling.by,
            reason=ruling.reason,
            dispute=ruled,
            responsibility_cleared=cleared,
        )
        if changed:
            self._before = self.snapshot()
            new = replace(
                resp,
                sequence=resp.sequence + 1,
                parties=new_parties,
                at=ruling.at,
                by=ruling.by,
                override_reason=override_reason or ruling.reason,
            )
            self.records = replace(self.records, responsibility=new)
            self._apply(
                ResponsibilityDetermined,
                to=None,
                at=ruling.at,
                by=ruling.by,
                reason=f"ruling on dispute: {ruling.reason}",
                responsibility=new,
                dispute_window_ends_at=ruling.at,  # a ruling is final: no window
                supersedes=resp.sequence,
            )

    # -- 7. corrective and preventive actions (纠正预防措施) ---------------------------------

    def add_actions(self, actions: Iterable[Action], *, reason: str = "") -> None:
        self._begin("actions")
        added = []
        next_id = len(self.records.actions) + 1
        for action in actions:
            if action.due_at <= action.added_at:
                raise self._refuse("actions", f"action '{action.description}' is due after it is added")
            added.append(replace(action, id=f"A{next_id}", round=self.round))
            next_id += 1
        if not added:
            raise self._refuse("actions", "no action given")
        self.records = replace(self.records, actions=(*self.records.actions, *added))
        self._add(
            *(
                Deadline(
                    milestone=f"action:{a.id}",
                    due_at=a.due_at,
                    source=f"{a.kind.value} action, owner {a.owner} (seed 001 纠正预防措施)",
                    round=self.round,
                )
                for a in added
            )
        )
        first = added[0]
        self._apply(
            ActionsAdded,
            to=CaseState.ACTIONS_OPEN,
            at=first.added_at,
            by=first.added_by,
            reason=reason,
            actions=tuple(added),
        )

    def verify(
        self, action_id: str, checks: Iterable[LotCheck], policy: InvestigationPolicy, *, reason: str = ""
    ) -> None:
        """Lot by lot: an action is verified after N consecutive lots without the defect (seed 001: 3)."""
        self._begin("verification")
        action = next((a for a in self.records.actions if a.id == action_id), None)
        if action is None:
            raise self._refuse("verification", f"no action {action_id}")
        if action.verified:
            raise self._refuse("verification", f"action {action_id} is already verified")
        checks = tuple(checks)
        if not checks:
            raise self._refuse("verification", "no lot checked")
        seen = {c.lot for c in action.lots}
        repeated = [c.lot for c in checks if c.lot in seen]
        if repeated or len({c.lot for c in checks}) != len(checks):
            raise self._refuse("verification", f"lot checked twice: {', '.join(repeated) or 'in this request'}")
        last = checks[-1]
        checked = replace(action, lots=(*action.lots, *checks))
        if checked.clean_run() >= policy.clean_lots_to_close:
            checked = replace(checked, verified_at=last.at)
        self.records = replace(
            self.records, actions=tuple(checked if a.id == action_id else a for a in self.records.actions)
        )
        # The first lot made under the action shows it is implemented: its due date is met.
        self._meet({f"action:{action_id}"}, checks[0].at, any_round=True)
        every = all(a.verified for a in self.records.actions)
        self._apply(
            ActionChecked,
            to=CaseState.VERIFIED if every else None,
            at=last.at,
            by=last.by,
            reason=reason,
            checked=checked,
            clean_lots_required=policy.clean_lots_to_close,
        )

    def standardise(self, standardisation: Standardisation, *, reason: str = "") -> None:
        self._begin("standardisation")
        if not standardisation.documents:
            raise self._refuse("standardisation", "name the documents that were updated")
        self.records = replace(self.records, standardisation=standardisation)
        self._apply(
            Standardised,
            to=None,
            at=standardisation.at,
            by=standardisation.by,
            reason=reason,
            standardisation=standardisation,
        )

    # -- 8. reply, follow-up, close, reopen (回复/回访/结案) ----------------------------------

    def reply(self, reply: Reply, *, reason: str = "") -> None:
        self._begin("reply")
        to: CaseState | None = None
        if reply.kind is ReplyKind.FINAL:
            why = self._final_reply_refused()
            if why is not None:
                raise self._refuse("reply", why)
            to = CaseState.REPLIED
        reply = replace(reply, round=self.round)
        self.records = replace(self.records, replies=(*self.records.replies, reply))
        self._meet(REPLY_MILESTONES | {"preliminary_report"}, reply.at)
        self._apply(CustomerReplied, to=to, at=reply.at, by=reply.by, reason=reason, reply=reply)

    def _final_reply_refused(self) -> str | None:
        triage = self.records.triage
        resp = self.records.responsibility
        if self.state is CaseState.TRIAGED and triage is not None and triage.ends_investigation:
            return None
        if self.state is CaseState.RESPONSIBILITY_DETERMINED and resp is not None and not resp.parties:
            return None  # market cause accepted by the ruling
        if self.state is CaseState.VERIFIED:
            return None
        return "the final reply comes after every corrective action is verified (or when triage ends the case)"

    def follow_up(self, follow_up: FollowUp, *, reason: str = "") -> None:
        self._begin("follow_up")
        self.records = replace(self.records, follow_ups=(*self.records.follow_ups, follow_up))
        self._apply(
            FollowedUp, to=None, at=follow_up.at, by=follow_up.by, reason=reason or follow_up.note, follow_up=follow_up
        )

    def close(self, *, at: datetime, by: str, reason: str = "") -> None:
        self._begin("close")
        self.outcome = self._outcome()
        self.closed_at = at
        self._meet({"close"}, at)
        self._apply(CaseClosed, to=CaseState.CLOSED, at=at, by=by, reason=reason, outcome=self.outcome)

    def _round_starts(self) -> dict[int, datetime]:
        """When each round began: round 1 at opening, round n at the (n-1)th reopening."""
        reopened = [t.at for t in self.history if t.action == "reopen"]
        return {1: self.opened_at, **{n + 2: at for n, at in enumerate(reopened)}}

    def _round_started(self) -> datetime:
        return self._round_starts()[self.round]

    def _outcome(self) -> str:
        triage = self.records.triage
        resp = self.records.responsibility
        if triage is not None and triage.ends_investigation and self.records.containment is None:
            if not triage.valid:
                return "not_valid"
            return "non_quality" if triage.category is not Category.QUALITY else "not_our_fault"
        if resp is not None and not resp.parties:
            return "market_cause"
        return "resolved"

    def reopen(self, policy: InvestigationPolicy, *, at: datetime, by: str, reason: str) -> None:
        """The customer does not accept: a new handling round with new deadlines (seed 002 (九) 9)."""
        self._begin("reopen")
        if not reason.strip():
            raise self._refuse("reopen", "say why the customer does not accept")
        current = self.round
        self._cancel(at, keep=lambda d: not (d.milestone in ROUND_MILESTONES and d.round == current))
        self.round += 1
        self.closed_at = None
        self.outcome = None
        rules = {"customer_reply": "customer_reply", "customer_reply_latest": "customer_reply_latest"}
        rules["close"] = close_rule(self.complaint, policy)
        self._add(*(schedule(m, rule, at, policy, round=self.round) for m, rule in rules.items()))
        self._apply(CaseReopened, to=CaseState.REOPENED, at=at, by=by, reason=reason)

    # -- on site and training (seed 000 §4.2.1) ------------------------------------------------

    def record_onsite(self, what: str, policy: InvestigationPolicy, *, at: datetime, by: str, reason: str = "") -> None:
        """arrived -> sheet_returned (24 h after arrival) ; returned -> report_sent (3 days after return)."""
        self._begin("onsite")
        onsite = self.records.onsite
        steps: dict[str, tuple[str | None, str]] = {
            "arrived": (None, "arrived_at"),
            "sheet_returned": ("arrived_at", "sheet_returned_at"),
            "returned": ("arrived_at", "returned_at"),
            "report_sent": ("returned_at", "report_sent_at"),
        }
        if what not in steps:
            raise self._refuse("onsite", f"unknown on-site step {what!r}: one of {', '.join(steps)}")
        needs, sets = steps[what]
        if getattr(onsite, sets) is not None:
            raise self._refuse("onsite", f"{what} was already recorded")
        if needs is not None and getattr(onsite, needs) is None:
            raise self._refuse("onsite", f"record {needs.removesuffix('_at').replace('_', ' ')} first")
        onsite = replace(onsite, **{sets: at})
        self.records = replace(self.records, onsite=onsite)
        if what == "arrived":
            self._meet({"onsite_arrival"}, at)
            self._add(schedule("onsite_sheet_return", "onsite_sheet_return", at, policy, round=self.round))
        elif what == "sheet_returned":
            self._meet({"onsite_sheet_return"}, at)
        elif what == "returned":
            self._add(schedule("onsite_work_report", "onsite_work_report", at, policy, round=self.round))
        else:
            self._meet({"onsite_work_report"}, at)
        self._apply(OnsiteRecorded, to=None, at=at, by=by, reason=reason, onsite=onsite, what=what)

    def record_training(self, training: Training, *, reason: str = "") -> None:
        self._begin("training")
        self.records = replace(self.records, training=training)
        self._meet({"workshop_training"}, training.at, any_round=True)
        self._apply(
            TrainingRecorded, to=None, at=training.at, by=training.by, reason=reason or training.note, training=training
        )

    # -- the complaint changes (complaint.amended / complaint.withdrawn) -----------------------

    def amend(
        self, complaint: ComplaintFacts, policy: InvestigationPolicy, *, at: datetime, by: str, reason: str
    ) -> bool:
        """Keep the corrected copy; recompute the pending deadlines whose inputs changed.

        Returns False (and records nothing) when none of the facts investigation keeps changed.
        """
        self._check("amend")
        old = self.complaint
        changed = tuple(
            name for name in ComplaintFacts.__dataclass_fields__ if getattr(old, name) != getattr(complaint, name)
        )
        if not changed:
            return False
        self._before = self.snapshot()
        self.complaint = complaint
        rescheduled = []
        rules = _opening_rules(complaint, policy)
        special = self.records.triage.special if self.records.triage else None
        if special is not None:
            rules[SPECIAL_MILESTONES[special]] = SPECIAL_MILESTONES[special]
        round_starts = self._round_starts()
        updated = []
        for d in self.deadlines:
            rule = rules.get(d.milestone)
            fresh = None
            if d.pending and d.round == 1 and rule is not None:
                start = _anchor_time(policy.deadlines[rule].anchor, complaint)
                fresh = schedule(d.milestone, rule, start, policy, round=1)
            elif d.pending and d.round > 1 and d.milestone == "close" and d.round in round_starts:
                # A later round's close counts from its reopening, with the corrected market's rule.
                fresh = schedule("close", close_rule(complaint, policy), round_starts[d.round], policy, round=d.round)
            if fresh is not None and (fresh.due_at != d.due_at or fresh.source != d.source):
                rescheduled.append(d.milestone)
                d = replace(d, due_at=fresh.due_at, source=fresh.source)
            updated.append(d)
        self.deadlines = tuple(updated)
        if (
            complaint.report_requested
            and self.deadline("preliminary_report") is None
            and self.state not in {CaseState.REPLIED, CaseState.CLOSED}
        ):
            self._add(schedule("preliminary_report", "preliminary_report", complaint.received_at, policy, round=1))
            rescheduled.append("preliminary_report")
        self._apply(
            ComplaintUpdated, to=None, at=at, by=by, reason=reason, changed=changed, rescheduled=tuple(rescheduled)
        )
        return True

    def withdraw(self, *, at: datetime, by: str, reason: str) -> None:
        """The complaint was withdrawn: the case ends and every pending deadline is cancelled."""
        self._begin("withdraw")
        self._cancel(at)
        self.outcome = "withdrawn"
        self.closed_at = at
        self._apply(CaseWithdrawn, to=CaseState.WITHDRAWN, at=at, by=by, reason=reason, outcome="withdrawn")

    _before: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)


def _check_parties(parties: tuple[Party, ...]) -> None:
    if not parties:
        raise PartiesInvalid("name at least one responsible party")
    if any(p.share <= 0 or p.share > 100 for p in parties):
        raise PartiesInvalid("every share is more than 0 and at most 100 percent")
    total = sum((p.share for p in parties), Decimal(0))
    if total != 100:
        raise PartiesInvalid(f"shares must sum to exactly 100 %, got {total}")
    names = [(p.kind, p.name) for p in parties]
    if len(set(names)) != len(names):
        raise PartiesInvalid("a party is named twice")


def _same_roles_and_shares(given: tuple[Party, ...], proposed: tuple[Party, ...]) -> bool:
    """The engineer accepted the proposal: the proposed roles with the proposed shares."""
    by_role = sorted(((p.role or p.name), p.share.normalize()) for p in given)
    return by_role == sorted(((p.role or p.name), p.share.normalize()) for p in proposed)
