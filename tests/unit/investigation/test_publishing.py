"""What investigation publishes (CONTRACT.md event table) and the step use cases on the unit of work.

Every `investigation.*` event carries the case version, state, round and complete deadline list,
so consumers reconcile idempotently and ignore an older version arriving late (CONTRACT.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import EVENT_PAYLOADS
from cqm_shared.domain import InvalidTransition, NotFound, StaleVersion
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, MemoryStore, PublicEvent
from investigation.adapters.publishing import PUBLISHES, to_public
from investigation.domain.model import Case, CaseState
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import DisputeKind, Party, PartyKind
from investigation.service.handlers import StepContext, amend_case, case_of, open_case, take_step, withdraw_case
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.investigation import case_builders as cb
from tests.unit.investigation.fakes import MemoryInvestigationUnitOfWork


def published(case: Case) -> list[PublicEvent]:
    return [p for change in case.pull_changes() for p in to_public(change.event)]


def check(event: PublicEvent, case: Case) -> dict[str, Any]:
    """The payload is what the contract's model accepts, with the case's version and deadlines."""
    assert event.type in PUBLISHES and (event.type, 1) in EVENT_PAYLOADS
    data = event.data.model_dump(mode="json")
    again = EVENT_PAYLOADS[(event.type, 1)].model_validate(data)  # what a consumer parses
    assert again == event.data
    assert (event.subject, event.factory) == (case.number, case.factory)
    assert data["version"] == case.version
    assert len(data["deadlines"]) == len(case.deadlines)
    assert {(d["milestone"], d["round"], d["state"]) for d in data["deadlines"]} == {
        (d.milestone, d.round, d.state.value) for d in case.deadlines
    }
    return data


def test_every_step_of_the_quality_path_publishes_its_event_with_version_and_deadlines() -> None:
    case = cb.opened()
    pol = cb.policy()
    steps: list[tuple[Callable[[], None], str]] = [
        (lambda: case.triage(cb.triage_record(), pol), "investigation.triaged"),
        (lambda: case.contain(cb.containment_record()), "investigation.containment_recorded"),
        (lambda: case.analyse(cb.root_cause_record()), "investigation.root_cause_recorded"),
        (lambda: case.determine(cb.determination(), pol), "investigation.responsibility_determined"),
        (lambda: case.add_actions([cb.action()]), "investigation.action_added"),
        (lambda: case.verify("A1", cb.lots(3), pol), "investigation.action_verified"),
        (lambda: case.standardise(cb.standardisation()), "investigation.updated"),
        (lambda: case.reply(cb.reply(cb.REPLIED_AT)), "investigation.customer_replied"),
        (lambda: case.close(at=cb.CLOSED_AT, by=cb.QE), "investigation.closed"),
        (lambda: case.reopen(pol, at=cb.REOPENED_AT, by=cb.QE, reason="not accepted"), "investigation.reopened"),
    ]
    versions = []
    for act, expected in steps:
        act()
        [event] = published(case)
        assert event.type == expected
        versions.append(check(event, case)["version"])
    assert versions == list(range(2, 2 + len(steps)))  # opening was version 1


def test_the_determination_carries_rule_findings_loss_class_and_the_dispute_window() -> None:
    case = cb.root_caused()
    case.determine(cb.determination(), cb.policy())
    [event] = published(case)
    data = check(event, case)
    resp = case.records.responsibility
    assert resp is not None
    assert data["determination"] == 1 and data["supersedes"] is None
    assert Decimal(data["loss_amount"]) == resp.loss_amount and data["loss_class"] == resp.loss_class.value
    assert data["dispute_window_ends_at"] is not None
    assert sum(Decimal(p["share"]) for p in data["parties"]) == 100


def test_an_upheld_objection_publishes_the_ruling_and_a_superseding_determination() -> None:
    """Seed 000 §4.3.3.2.3: production operations rules finally; penalty recomputes from the new one."""
    case = cb.disputed()
    new = (
        Party(PartyKind.PERSON, "王五", Decimal(50), role="line_qc"),
        Party(PartyKind.PERSON, "赵六", Decimal(50), role="process_owner"),
    )
    case.rule(cb.ruling_record(at=cb.DISPUTED_AT + timedelta(minutes=30), upheld=True), cb.policy(), new_parties=new)
    ruled, determined = published(case)
    assert (ruled.type, determined.type) == ("investigation.dispute_ruled", "investigation.responsibility_determined")
    assert ruled.data.model_dump()["determination"] == 2
    data = determined.data.model_dump(mode="json")
    assert (data["determination"], data["supersedes"]) == (2, 1)
    assert [p["share"] for p in data["parties"]] == ["50", "50"]


def test_an_accepted_market_cause_clears_responsibility_without_a_determination() -> None:
    case = cb.disputed(DisputeKind.MARKET_CAUSE)
    case.rule(cb.ruling_record(at=cb.DISPUTED_AT + timedelta(minutes=30), upheld=True), cb.policy())
    [event] = published(case)
    assert event.type == "investigation.dispute_ruled"
    assert check(event, case)["responsibility_cleared"] is True


def test_a_withdrawal_is_published_as_closed_with_outcome_withdrawn() -> None:
    case = cb.determined()
    case.withdraw(at=cb.WITHDRAWN_AT, by=cb.INTAKE, reason="complaint.withdrawn")
    [event] = published(case)
    data = check(event, case)
    assert (event.type, data["outcome"], data["state"]) == ("investigation.closed", "withdrawn", "withdrawn")
    assert {d["state"] for d in data["deadlines"]} <= {"met", "cancelled"}


# -- the use cases on the in-memory unit of work --------------------------------------------------

QE = Actor("user:qe", frozenset({"F01"}))
INTAKE = Actor("system:/services/intake")
F02 = Actor("user:qe-f02", frozenset({"F02"}))
Make = Callable[..., MemoryInvestigationUnitOfWork]


@pytest.fixture(scope="module")
def policies() -> PolicyBook[InvestigationPolicy]:
    return PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)


@pytest.fixture
def make() -> Make:
    return factory(
        MemoryInvestigationUnitOfWork, MemoryStore(), FakeClock(T0), translate=to_public, source="/services/inv"
    )


def triage(ctx_case: Case, ctx: StepContext) -> None:
    ctx_case.triage(replace(cb.triage_record(at=ctx.at), by=ctx.by), ctx.policy)


async def test_a_step_runs_on_the_version_read_and_is_refused_on_a_stale_one(
    make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    await open_case(make(INTAKE), cb.complaint(), policies, why="test")
    with pytest.raises(StaleVersion):
        await take_step(make(QE), "F01-2611-0001", triage, policies, expected_version=7)
    case = await take_step(make(QE), "F01-2611-0001", triage, policies, expected_version=1)
    assert (case.state, case.version) == (CaseState.TRIAGED, 2)
    assert case.history[-1].actor == "user:qe"  # who the unit of work says acts
    with pytest.raises(InvalidTransition) as refused:
        await take_step(make(QE), "F01-2611-0001", triage, policies)
    assert refused.value.state == "triaged"
    assert (await case_of(make(QE), "F01-2611-0001")).version == 2  # nothing written by the refusal


async def test_another_factorys_case_cannot_be_stepped(make: Make, policies: PolicyBook[InvestigationPolicy]) -> None:
    await open_case(make(INTAKE), cb.complaint(), policies, why="test")
    with pytest.raises(NotFound):
        await take_step(make(F02), "F01-2611-0001", triage, policies)


async def test_complaint_changes_reach_the_case_and_repeat_harmlessly(
    make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """complaint.amended reschedules; complaint.withdrawn ends the case once (idempotent by state)."""
    with pytest.raises(NotFound):  # an amendment before the registration is retried, not lost
        await amend_case(make(INTAKE), cb.complaint(), policies, why="early")
    await open_case(make(INTAKE), cb.complaint(), policies, why="test")
    moved = cb.complaint(received_at=cb.RECEIVED - timedelta(hours=5))
    await amend_case(make(INTAKE), moved, policies, why="complaint.amended")
    case = await case_of(make(QE), "F01-2611-0001")
    reply = case.deadline("customer_reply")
    assert reply is not None and reply.due_at == cb.RECEIVED - timedelta(hours=5) + timedelta(hours=24)
    await withdraw_case(make(INTAKE), "F01-2611-0001", why="complaint.withdrawn")
    await withdraw_case(make(INTAKE), "F01-2611-0001", why="complaint.withdrawn again")
    case = await case_of(make(QE), "F01-2611-0001")
    assert case.state is CaseState.WITHDRAWN and case.version == 3
    assert all(not d.pending for d in case.deadlines)
