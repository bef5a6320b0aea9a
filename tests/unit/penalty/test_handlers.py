"""Penalty's assessment use cases through the in-memory unit of work (no broker, no database).

DOMAIN.md §4: a responsibility determination (or an SLA breach) is assessed from the factory's
rule table into a draft of line items; a newer determination of the case supersedes the older
assessment; a ruling that clears responsibility voids it. Every change leaves an audit row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import ResponsibleParty, RuleFinding
from cqm_shared.domain import NotFound
from cqm_shared.policy import UnknownFactory
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain.ledger import CycleMilestone
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.domain.terms import Breach, LineKind
from penalty.entrypoints.consumers import determination
from penalty.service import handlers
from tests.unit.penalty.fakes import (
    HEAD_OFFICE,
    NOW,
    NUMBER,
    SYSTEM,
    T0,
    MemoryPenaltyUnitOfWork,
    finding,
    party,
    periods,
    responsibility,
    rule_book,
    stored,
    uows,
)

Make = Callable[..., MemoryPenaltyUnitOfWork]
D = Decimal

ZHANG = party("person", "张三", 100, department="装配车间")


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
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return uows(store, clock)


async def assess(
    make: Make,
    book: RuleBook,
    event_id: str,
    *,
    responsible: ResponsibleParty = ZHANG,
    findings: Sequence[RuleFinding] = (finding("5.2.6"),),
    sequence: int = 1,
    number: str = NUMBER,
    factory: str = "F01",
    at: datetime = T0,
) -> None:
    """Determination `sequence` of a case (by default: 张三's return of goods, seed 000 §5.2.6)."""
    payload = responsibility(responsible, findings=findings, sequence=sequence, number=number, factory=factory, at=at)
    await handlers.assess_determination(make(), book, event_id, determination(payload), why=f"test {event_id}")


# -- assessing a determination ----------------------------------------------------------------


async def test_a_determination_becomes_a_draft_with_its_lines_table_version_and_period(
    make: Make, store: MemoryStore, clock: FakeClock, book: RuleBook
) -> None:
    """DOMAIN.md §4 "Output: penalty line items … pending approval" (seed 000 §5.2.6: 900)."""
    await assess(make, book, "evt-1")

    a = stored(store)["evt-1"]
    assert (a.number, a.factory, a.status, a.period, a.adjustment) == (
        NUMBER,
        "F01",
        AssessmentStatus.DRAFT,
        "2026-11",
        False,
    )
    assert a.policy_version == f"2026.1#{book.for_factory('F01').digest}"
    assert a.total == D(900)
    assert a.received_at == clock.now() and a.version == 1
    assert a.allowed_actions() == ["appeal", "approve"]
    assert list(periods(store)) == ["F01/2026-11"]  # the ledger period it counts in, open


async def test_the_monthly_cycle_deadlines_run_in_the_following_month_factory_time(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    """seed 000 §4.2.2: by the 15th summarised (done: assessing is summarising), by the 18th the
    workshop's proposal, by the 20th production operations' approval – end of day, Shanghai."""
    await assess(make, book, "evt-1")
    deadlines = {d.milestone: d for d in stored(store)["evt-1"].deadlines}
    assert {m: (d.due_at.isoformat(), d.state) for m, d in deadlines.items()} == {
        CycleMilestone.SUMMARY: ("2026-12-15T16:00:00+00:00", "met"),
        CycleMilestone.WORKSHOP_PROPOSAL: ("2026-12-18T16:00:00+00:00", "pending"),
        CycleMilestone.APPROVAL: ("2026-12-20T16:00:00+00:00", "pending"),
    }
    assert deadlines[CycleMilestone.APPROVAL].source == "seed 000 §4.2.2 (20日之前报生产运营部部长签准)"


async def test_assessing_leaves_an_audit_row(make: Make, store: MemoryStore, book: RuleBook) -> None:
    await assess(make, book, "evt-1")
    [row] = store.audit
    assert (row.action, row.entity, row.entity_id, row.factory, row.actor, row.at, row.reason) == (
        "assess",
        "assessment",
        NUMBER,
        "F01",
        SYSTEM.id,
        NOW,
        "test evt-1",
    )
    assert row.before is None and row.after is not None
    assert row.after["status"] == "draft" and row.after["total"] == "900.00"
    assert row.after["lines"][0] == {"rule": "5.2.6", "payee": "u-asm-head", "amount": "100.00", "points": "0"}


async def test_the_same_determination_twice_is_assessed_once(make: Make, store: MemoryStore, book: RuleBook) -> None:
    await assess(make, book, "evt-1")
    await assess(make, book, "evt-1")
    assert list(stored(store)) == ["evt-1"]
    assert len(store.audit) == 1


async def test_the_inbox_refuses_a_second_claim_of_one_message_and_nothing_is_written(
    store: MemoryStore, make: Make, book: RuleBook
) -> None:
    entry = InboxEntry("evt-1", "penalty.responsibility", "investigation.responsibility_determined")
    d = determination(responsibility(ZHANG, findings=[finding("5.2.6")]))
    await handlers.assess_determination(make(SYSTEM, entry), book, "evt-1", d, why="first")
    with pytest.raises(AlreadyProcessed):
        await handlers.assess_determination(make(SYSTEM, entry), book, "evt-2", d, why="the same message again")
    assert list(stored(store)) == ["evt-1"]


async def test_a_factory_without_a_policy_file_is_refused_and_nothing_is_written(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    d = determination(responsibility(ZHANG, findings=[finding("5.2.6")], factory="F09", number="F09-2611-0001"))
    with pytest.raises(UnknownFactory):
        await handlers.assess_determination(make(), book, "evt-1", d, why="test")
    assert stored(store) == {} and store.audit == []


async def test_the_determinations_local_date_picks_the_period(make: Make, store: MemoryStore, book: RuleBook) -> None:
    """Asia/Shanghai: 30 November 16:30 UTC is 1 December 00:30 at the factory -> period 2026-12."""
    await assess(make, book, "evt-1", at=datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    assert stored(store)["evt-1"].period == "2026-12"


# -- recomputation: a newer determination replaces the draft -------------------------------------


async def test_a_recomputation_after_a_ruling_replaces_the_draft_and_leaves_an_audit_trail(
    make: Make, store: MemoryStore, clock: FakeClock, book: RuleBook
) -> None:
    """seed 000 §4.3.3.2.3 由生产运营部进行最终裁决: the ruling moves the responsibility from the
    fitter to the machining workshop; determination 2 supersedes determination 1."""
    await assess(make, book, "evt-1")
    clock.advance(timedelta(hours=3))
    await assess(
        make,
        book,
        "evt-2",
        responsible=party("department", "机加车间", 100),
        findings=[finding("5.2.4")],
        sequence=2,
    )

    old, new = stored(store)["evt-1"], stored(store)["evt-2"]
    assert (old.status, old.superseded_by, old.reversal_period) == (AssessmentStatus.SUPERSEDED, "evt-2", None)
    assert all(d.state == "cancelled" for d in old.deadlines if d.milestone is not CycleMilestone.SUMMARY)
    assert (new.status, new.total, new.sequence) == (AssessmentStatus.DRAFT, D(50), 2)
    trail = [(r.action, r.before and r.before["status"], r.after and r.after["status"]) for r in store.audit]
    assert trail[0] == ("assess", None, "draft")  # determination 1; then, in one commit:
    assert sorted(trail[1:], key=repr) == [("assess", None, "draft"), ("supersede", "draft", "superseded")]
    assert {r.entity_id for r in store.audit} == {NUMBER}  # the case's trail, read by its number
    [supersede] = [r for r in store.audit if r.action == "supersede"]
    assert supersede.reason == "determination 2 supersedes determination 1"
    assert supersede.before is not None and supersede.before["total"] == "900.00"  # what was replaced, kept

    ledger = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    assert [a.id for a in ledger.assessments] == ["evt-2"] and ledger.totals.fines == D(50)


async def test_an_older_determination_arriving_late_is_kept_superseded_at_once(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    await assess(make, book, "evt-2", findings=[finding("5.2.4")], sequence=2)
    await assess(make, book, "evt-1", sequence=1)

    late, current = stored(store)["evt-1"], stored(store)["evt-2"]
    assert (late.status, late.superseded_by, late.total) == (AssessmentStatus.SUPERSEDED, "evt-2", D(900))
    assert all(d.state != "pending" for d in late.deadlines)  # nothing is due for it
    assert current.status is AssessmentStatus.DRAFT and current.version == 1  # untouched
    assert [(r.action, r.after and r.after["status"]) for r in store.audit] == [
        ("assess", "draft"),
        ("assess", "superseded"),  # its lines kept for the record, counted nowhere
    ]
    ledger = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    assert [a.id for a in ledger.assessments] == ["evt-2"]


async def test_a_ruling_that_clears_responsibility_voids_the_case(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    """seed 000 §4.3.3.2.3 确因市场原因而非质量问题造成的客诉: nothing is owed."""
    await assess(make, book, "evt-1")
    await handlers.void_case(make(), book, NUMBER, "F01", why="market cause accepted")

    a = stored(store)["evt-1"]
    assert (a.status, a.reversal_period) == (AssessmentStatus.VOID, None)
    assert store.audit[-1].action == "void" and store.audit[-1].reason == "market cause accepted"
    ledger = await handlers.ledger(make(HEAD_OFFICE), book, "F01", "2026-11")
    assert ledger.entries == [] and ledger.totals.pending == 0


async def test_voiding_twice_changes_nothing_more(make: Make, store: MemoryStore, book: RuleBook) -> None:
    await assess(make, book, "evt-1")
    await handlers.void_case(make(), book, NUMBER, "F01", why="ruled")
    await handlers.void_case(make(), book, NUMBER, "F01", why="ruled again")
    assert [r.action for r in store.audit] == ["assess", "void"]


# -- process penalties from SLA breaches --------------------------------------------------------


def training_breach(*, round: int = 1, department: str | None = "装配车间") -> Breach:
    return Breach(NUMBER, "F01", "workshop_training", round, T0, T0, department=department)


async def test_a_breach_is_assessed_once_per_case_milestone_and_round_whatever_the_level(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    """seed 000 §4.3.1.6 罚车间负责人20元/次: the escalations to the head, the director and the GM
    are the same miss; a reopened case's second round is another."""
    first = await handlers.assess_breach(make(), book, training_breach(), why="level 0")
    again = await handlers.assess_breach(make(), book, training_breach(), why="level 2")
    second_round = await handlers.assess_breach(make(), book, training_breach(round=2), why="round 2")

    assert first == again and first is not None and second_round not in (None, first)
    assert sorted(stored(store)) == sorted([first, second_round])
    a = stored(store)[first]
    assert [(x.rule_code, x.payee.id, x.amount) for x in a.lines] == [("4.3.1.6", "u-asm-head", D(20))]
    assert (a.breach, a.determination, a.period) == (training_breach(), None, "2026-11")


async def test_a_breach_of_a_milestone_without_a_process_penalty_is_ignored(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    b = Breach(NUMBER, "F01", "first_response", 1, T0, T0)
    assert await handlers.assess_breach(make(), book, b, why="test") is None
    assert stored(store) == {} and store.audit == []


async def test_a_breach_without_a_department_takes_the_case_determinations(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    """seed 000 §4.3.2.2 扣车间基础管理分2分/次: the workshop the case's determination holds responsible."""
    await assess(make, book, "evt-1", responsible=party("department", "机加车间", 100), findings=[])
    missed = Breach(NUMBER, "F01", "workshop_proposal", 1, T0, T0)
    found = await handlers.assess_breach(make(), book, missed, why="test")
    assert found is not None
    [line] = stored(store)[found].lines
    assert (line.kind, line.payee.id, line.points, line.points_ledger, line.unresolved) == (
        LineKind.POINTS,
        "机加车间",
        D(2),
        "management",
        False,
    )


async def test_a_breach_of_an_unknown_department_is_addressed_to_the_role(
    make: Make, store: MemoryStore, book: RuleBook
) -> None:
    found = await handlers.assess_breach(make(), book, training_breach(department=None), why="test")
    assert found is not None
    [line] = stored(store)[found].lines
    assert (line.unresolved, line.payee.name, line.amount) == (True, "department_head", D(20))


# -- reading ----------------------------------------------------------------------------------


async def test_another_factorys_assessments_are_invisible(make: Make, book: RuleBook) -> None:
    await assess(make, book, "evt-2", number="F02-2611-0001", factory="F02")
    f01_user = Actor("user:f01", frozenset({"F01"}))
    assert await handlers.assessments_of(make(f01_user), "F02-2611-0001") == []
    assert len(await handlers.assessments_of(make(HEAD_OFFICE), "F02-2611-0001")) == 1
    with pytest.raises(NotFound):
        await handlers.assessment(make(f01_user), "evt-2")
    with pytest.raises(NotFound):
        await handlers.ledger(make(f01_user), book, "F02", "2026-11")


async def test_search_filters_by_factory_period_and_status_newest_first(
    make: Make, clock: FakeClock, book: RuleBook
) -> None:
    await assess(make, book, "evt-1", number="F01-2611-0001")
    clock.advance(timedelta(minutes=1))
    await assess(make, book, "evt-2", number="F01-2611-0002")
    clock.advance(timedelta(minutes=1))
    await assess(make, book, "evt-3", number="F02-2611-0001", factory="F02")

    def ids(found: list[Assessment]) -> list[str]:
        return [a.id for a in found]

    every = await handlers.search(make(HEAD_OFFICE), factory=None, period=None, status=None, limit=50, offset=0)
    assert ids(every) == ["evt-3", "evt-2", "evt-1"]
    f01_user = Actor("user:f01", frozenset({"F01"}))
    mine = await handlers.search(make(f01_user), factory=None, period="2026-11", status=None, limit=1, offset=1)
    assert ids(mine) == ["evt-1"]
    none = await handlers.search(
        make(HEAD_OFFICE), factory="F01", period=None, status=AssessmentStatus.APPROVED, limit=50, offset=0
    )
    assert none == []
