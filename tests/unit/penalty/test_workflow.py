"""The assessment's workflow: draft → (appeal to the GM → decision → draft) → approved.

seed 002 篇二 §四.9 被处罚人有异议的可向总经理申诉 (the GM decides the appeal); seed 000 §4.2.2
20日之前报生产运营部部长签准 (production operations approves: final, to HR and finance). The
roles are the factory policy's `penalty.approvers`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.domain import InvalidInput, InvalidTransition, NotFound, StaleVersion
from cqm_shared.uow import Actor, MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain.ledger import CycleMilestone
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.service import handlers
from penalty.service.handlers import NotPermitted
from tests.unit.penalty.fakes import (
    GM,
    NOW,
    OPERATIONS,
    WORKSHOP,
    MemoryPenaltyUnitOfWork,
    determine,
    finding,
    party,
    responsibility,
    rule_book,
    stored,
    uows,
)

Make = Callable[..., MemoryPenaltyUnitOfWork]
D = Decimal
ID = "evt-1"
# seed 000 §5.2.6, 张三 of the assembly workshop: head 100, person 500, director 200, GM 100.
HEAD, PERSON, DIRECTOR, GM_LINE = 0, 1, 2, 3


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return rule_book()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def make(store: MemoryStore, clock: FakeClock, book: RuleBook) -> Make:
    """A store holding one draft: 张三's return of goods."""
    make = uows(store, clock)
    await determine(
        make, book, ID, responsibility(party("person", "张三", 100, department="装配车间"), findings=[finding("5.2.6")])
    )
    clock.advance(timedelta(days=2))
    return make


async def appeal(make: Make, *, lines: tuple[int, ...] = (PERSON,), version: int | None = 1) -> Assessment:
    return await handlers.appeal(
        make(WORKSHOP), ID, lines=lines, reason="张三 followed the work instruction", expected_version=version
    )


async def decide(
    make: Make,
    book: RuleBook,
    *,
    upheld: bool,
    amounts: dict[int, Decimal],
    roles: tuple[str, ...] = ("general_manager",),
) -> Assessment:
    return await handlers.decide_appeal(
        make(GM), book, ID, roles=roles, upheld=upheld, amounts=amounts, reason="GM's decision", expected_version=None
    )


async def approve(make: Make, book: RuleBook, roles: tuple[str, ...] = ("production_operations",)) -> Assessment:
    return await handlers.approve(make(OPERATIONS), book, ID, roles=roles, reason="签准", expected_version=None)


# -- approval ---------------------------------------------------------------------------------


async def test_production_operations_approves_a_draft_and_it_is_final(
    make: Make, store: MemoryStore, clock: FakeClock, book: RuleBook
) -> None:
    """seed 000 §4.2.2 报生产运营部部长签准."""
    a = await approve(make, book)
    assert (a.status, a.approved_by, a.approved_at) == (AssessmentStatus.APPROVED, OPERATIONS.id, clock.now())
    assert a.allowed_actions() == []
    states = {d.milestone: d.state for d in a.deadlines}
    assert states == {
        CycleMilestone.SUMMARY: "met",
        CycleMilestone.WORKSHOP_PROPOSAL: "met",
        CycleMilestone.APPROVAL: "met",
    }
    row = store.audit[-1]
    assert (row.action, row.actor, row.reason, row.before and row.before["status"]) == (
        "approve",
        OPERATIONS.id,
        "签准",
        "draft",
    )
    with pytest.raises(InvalidTransition, match="only a draft can be approved"):
        await approve(make, book)
    with pytest.raises(InvalidTransition, match="only a draft can be appealed"):
        await appeal(make, version=None)


async def test_approval_needs_the_role_the_policy_names(make: Make, store: MemoryStore, book: RuleBook) -> None:
    """penalty.approvers.approve: production_operations (admin may act for it)."""
    with pytest.raises(NotPermitted, match="production_operations"):
        await approve(make, book, roles=("general_manager", "quality_engineer"))
    assert stored(store)[ID].status is AssessmentStatus.DRAFT
    assert (await approve(make, book, roles=("admin",))).status is AssessmentStatus.APPROVED


async def test_approving_needs_the_version_the_approver_read(make: Make, book: RuleBook) -> None:
    with pytest.raises(StaleVersion):
        await handlers.approve(
            make(OPERATIONS), book, ID, roles=("production_operations",), reason="签准", expected_version=7
        )


async def test_another_factorys_approver_cannot_find_the_assessment(make: Make, book: RuleBook) -> None:
    f02 = Actor("user:ops-f02", frozenset({"F02"}))
    with pytest.raises(NotFound):
        await handlers.approve(make(f02), book, ID, roles=("production_operations",), reason="x", expected_version=None)


# -- appeal -----------------------------------------------------------------------------------


async def test_an_appeal_waits_for_the_gm_and_blocks_approval(make: Make, store: MemoryStore, book: RuleBook) -> None:
    """seed 002 篇二 §四.9 可向总经理申诉: appealed, production operations cannot approve yet."""
    a = await appeal(make)
    assert a.status is AssessmentStatus.APPEALED
    assert a.appeal is not None and (a.appeal.by, a.appeal.lines) == (WORKSHOP.id, (PERSON,))
    assert a.allowed_actions() == ["decide_appeal"]
    assert {d.milestone: d.state for d in a.deadlines}[CycleMilestone.WORKSHOP_PROPOSAL] == "met"  # 18日之前报处罚
    assert (store.audit[-1].action, store.audit[-1].actor) == ("appeal", WORKSHOP.id)
    with pytest.raises(InvalidTransition, match="the GM decides it first"):
        await approve(make, book)


async def test_an_upheld_appeal_changes_the_decided_lines_and_keeps_the_originals(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    await appeal(make)
    a = await decide(make, book, upheld=True, amounts={PERSON: D(200)})

    assert a.status is AssessmentStatus.DRAFT and a.allowed_actions() == ["approve"]
    person = a.lines[PERSON]
    assert (person.amount, person.original_amount) == (D(200), D(500))
    assert [line.original_amount for i, line in enumerate(a.lines) if i != PERSON] == [None, None, None]
    assert a.total == D(600)  # 100 + 200 + 200 + 100
    row = store.audit[-1]
    assert (row.action, row.actor) == ("decide_appeal", GM.id)
    assert row.before is not None and row.after is not None
    assert (row.before["total"], row.after["total"]) == ("900.00", "600.00")

    final = await approve(make, book)
    assert (final.status, final.total) == (AssessmentStatus.APPROVED, D(600))


async def test_a_dismissed_appeal_leaves_the_amounts_and_cannot_be_filed_again(make: Make, book: RuleBook) -> None:
    await appeal(make)
    a = await decide(make, book, upheld=False, amounts={})
    assert a.decision is not None and not a.decision.upheld
    assert a.total == D(900)
    with pytest.raises(InvalidTransition, match="the decision is final"):
        await appeal(make, version=None)
    assert (await approve(make, book)).status is AssessmentStatus.APPROVED


async def test_the_appeal_is_decided_by_the_role_the_policy_names(make: Make, book: RuleBook) -> None:
    """penalty.approvers.decide_appeal: general_manager."""
    await appeal(make)
    with pytest.raises(NotPermitted, match="general_manager"):
        await decide(make, book, upheld=False, amounts={}, roles=("production_operations",))


async def test_a_decision_without_a_pending_appeal_is_refused(make: Make, book: RuleBook) -> None:
    with pytest.raises(InvalidTransition, match="there is no pending appeal"):
        await decide(make, book, upheld=False, amounts={})


@pytest.mark.parametrize(
    ("upheld", "decided", "message"),
    [
        (True, {}, "names the decided amount"),
        (False, {PERSON: D(100)}, "a dismissed appeal changes no amount"),
        (True, {PERSON: D(501)}, r"within 0\.\.500"),
        (True, {PERSON: D(-1)}, r"within 0\.\.500"),
        (True, {9: D(0)}, "no line at position 9"),
        (True, {PERSON: D("100.005")}, r"to the fen \(0\.01\)"),
    ],
)
async def test_a_decision_must_fit_the_lines(
    make: Make, store: MemoryStore, book: RuleBook, upheld: bool, decided: dict[int, Decimal], message: str
) -> None:
    await appeal(make)
    with pytest.raises(InvalidInput, match=message):
        await decide(make, book, upheld=upheld, amounts=decided)
    assert stored(store)[ID].status is AssessmentStatus.APPEALED  # nothing written


async def test_an_appeal_needs_a_reason_and_existing_lines(make: Make, store: MemoryStore) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        await handlers.appeal(make(WORKSHOP), ID, lines=(), reason="  ", expected_version=None)
    with pytest.raises(InvalidInput, match=r"no line at position\(s\) \[4\]"):
        await appeal(make, lines=(PERSON, 4))
    assert stored(store)[ID].status is AssessmentStatus.DRAFT


async def test_two_editors_never_overwrite_each_other(make: Make, book: RuleBook) -> None:
    await appeal(make, version=1)
    with pytest.raises(StaleVersion):
        await appeal(make, version=1)


async def test_a_newer_determination_supersedes_a_pending_appeal(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    """The ruling changed the parties: the appealed assessment is replaced, its appeal moot."""
    await appeal(make)
    await determine(
        make,
        book,
        "evt-2",
        responsibility(party("department", "机加车间", 100), findings=[finding("5.2.4")], sequence=2),
    )
    assert stored(store)[ID].status is AssessmentStatus.SUPERSEDED
    with pytest.raises(InvalidTransition, match="there is no pending appeal"):
        await decide(make, book, upheld=False, amounts={})
