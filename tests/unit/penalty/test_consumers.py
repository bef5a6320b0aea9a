"""What penalty consumes: public events translated into its own terms at the edge, then a use case.

`investigation.responsibility_determined` → an assessment; `investigation.dispute_ruled` with
responsibility cleared → the case voided; `sla.breached` → the milestone's process penalties,
once per (case, milestone, round) whatever the escalation level (seed 000 §4.3).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import (
    DISPUTE_RULED,
    RESPONSIBILITY_DETERMINED,
    SLA_BREACHED,
    DisputeRuled,
    ResponsibilityDetermined,
)
from cqm_shared.uow import AlreadyProcessed, MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain.model import AssessmentStatus
from penalty.domain.terms import AccidentClass, Degree, Finding, Party, ProductStage
from penalty.entrypoints.consumers import breach, determination, subscriptions
from tests.unit.penalty.fakes import (
    NOW,
    NUMBER,
    T0,
    breached,
    deliver,
    determine,
    finding,
    message,
    party,
    responsibility,
    rule_book,
    stored,
    uows,
)

D = Decimal


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return rule_book()


# -- translation ------------------------------------------------------------------------------


def test_a_determination_event_becomes_penaltys_determination() -> None:
    """The payload's parties, findings and counts; its time in UTC; its sequence in the case."""
    payload = responsibility(
        party("department", "装配车间", 60),
        party("person", "张三", 40, department="装配车间", role="fitter"),
        findings=[
            finding("5.2.3.7", pieces=3, party="装配车间"),
            finding("5.2.3.1", occurrences=2, product_stage="prototype"),
            finding("4.3.1.3", degree="serious", party="张三"),
        ],
        loss="1200.50",
        accident_class="management_general",
        sequence=3,
        at=datetime(2026, 11, 21, 16, 30, tzinfo=timezone(timedelta(hours=8))),
    )
    d = determination(payload)
    assert (d.number, d.factory, d.determined_at, d.accident_class, d.loss_amount, d.sequence) == (
        NUMBER,
        "F01",
        T0,
        AccidentClass.MANAGEMENT_GENERAL,
        D("1200.50"),
        3,
    )
    assert d.determined_at.tzinfo is UTC
    assert d.parties == (
        Party("department", "装配车间", D(60)),
        Party("person", "张三", D(40), department="装配车间", role="fitter"),
    )
    assert d.findings == (
        Finding("5.2.3.7", pieces=3, party="装配车间"),
        Finding("5.2.3.1", occurrences=2, product_stage=ProductStage.PROTOTYPE),
        Finding("4.3.1.3", party="张三", degree=Degree.SERIOUS),
    )
    assert d.rule_codes == ("5.2.3.7", "5.2.3.1", "4.3.1.3")


def test_an_older_producers_rule_codes_become_one_finding_each() -> None:
    """v1 before `findings`: the rule codes only, once each."""
    d = determination(responsibility(party("department", "装配车间", 100), rule_codes=["5.2.4", "5.2.3.2"]))
    assert d.findings == (Finding("5.2.4"), Finding("5.2.3.2"))


def test_an_unknown_product_stage_counts_as_series_production() -> None:
    """Within v1 a newer producer may send a stage penalty does not know: no exemption is assumed."""
    d = determination(
        responsibility(party("department", "装配车间", 100), findings=[finding("5.2.3.1", product_stage="pilot")])
    )
    assert d.findings[0].product_stage is ProductStage.SERIES


def test_a_breach_event_becomes_penaltys_breach_and_a_factory_milestone_none() -> None:
    b = breach(breached("feedback_slip", round=2, level=3, department="装配车间"))
    assert b is not None
    assert (b.number, b.milestone, b.round, b.department, b.breached_at, b.due_at) == (
        NUMBER,
        "feedback_slip",
        2,
        "装配车间",
        T0,
        T0 - timedelta(hours=1),
    )
    assert breach(breached("monthly_summary", number=None)) is None  # not a case's milestone


def test_penalty_subscribes_to_what_it_assesses(book: RuleBook) -> None:
    subs = {s.purpose: set(s.handlers) for s in subscriptions(book)}
    assert subs == {"responsibility": {RESPONSIBILITY_DETERMINED, DISPUTE_RULED}, "breaches": {SLA_BREACHED}}


# -- the handlers, through the in-memory unit of work -------------------------------------------


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_a_determination_event_is_assessed_once_and_claimed_in_the_inbox(
    store: MemoryStore, book: RuleBook
) -> None:
    """seed 000 §5.2.3.7 主机漏发件: 3 pieces -> team 150, head 30, from the event alone."""
    make = uows(store, FakeClock(NOW))
    payload = responsibility(party("department", "装配车间", 100), findings=[finding("5.2.3.7", pieces=3)])
    await determine(make, book, "evt-1", payload)
    with pytest.raises(AlreadyProcessed):
        await determine(make, book, "evt-1", payload)  # redelivered

    [a] = stored(store).values()
    assert (a.id, a.status, a.total) == ("evt-1", AssessmentStatus.DRAFT, D(180))
    assert store.inbox == {("evt-1", "penalty.responsibility")}


def _ruling(*, cleared: bool) -> DisputeRuled:
    return DisputeRuled.model_validate(
        {
            "number": NUMBER,
            "factory": "F01",
            "ruled_at": NOW,
            "kind": "market_cause",
            "upheld": cleared,
            "department": "装配车间",
            "responsibility_cleared": cleared,
        }
    )


async def test_a_ruling_that_clears_responsibility_voids_the_case(store: MemoryStore, book: RuleBook) -> None:
    """seed 000 §4.3.3.2.3 确因市场原因而非质量问题造成的客诉 … 由生产运营部进行最终裁决."""
    make = uows(store, FakeClock(NOW))
    await determine(
        make,
        book,
        "evt-1",
        responsibility(party("person", "张三", 100, department="装配车间"), findings=[finding("5.2.6")]),
    )

    await deliver(make, book, message("evt-2", DISPUTE_RULED, _ruling(cleared=False)))
    assert stored(store)["evt-1"].status is AssessmentStatus.DRAFT  # a dismissed claim changes nothing

    await deliver(make, book, message("evt-3", DISPUTE_RULED, _ruling(cleared=True)))
    a = stored(store)["evt-1"]
    assert a.status is AssessmentStatus.VOID
    void = store.audit[-1]
    assert (void.action, void.reason) == (
        "void",
        "investigation.dispute_ruled evt-3 from /services/investigation: responsibility cleared",
    )


async def test_a_ruling_that_changes_the_split_arrives_as_the_next_determination(
    store: MemoryStore, book: RuleBook
) -> None:
    """The ruling's new determination (sequence 2) replaces the draft: 60/40 instead of 100 %."""
    clock = FakeClock(NOW)
    make = uows(store, clock)
    first: ResponsibilityDetermined = responsibility(party("department", "装配车间", 100), loss="10000")
    await determine(make, book, "evt-1", first)
    clock.advance(timedelta(hours=2))
    await determine(
        make,
        book,
        "evt-2",
        responsibility(
            party("department", "装配车间", 60), party("department", "机加车间", 40), loss="10000", sequence=2
        ),
    )
    old, new = stored(store)["evt-1"], stored(store)["evt-2"]
    assert (old.status, old.superseded_by) == (AssessmentStatus.SUPERSEDED, "evt-2")
    # seed 000 §4.3.3.2.3, technical general: (0.03 + 0.01 + 0.005) × 10,000, split 60/40
    assert (old.total, new.total) == (D(450), D(450))
    assert {x.department: x.amount for x in new.lines if x.role == "workshop"} == {
        "装配车间": D(180),
        "机加车间": D(120),
    }
    assert [r.action for r in store.audit].count("supersede") == 1


async def test_a_breach_is_penalised_once_whatever_the_escalation_level(store: MemoryStore, book: RuleBook) -> None:
    """seed 000 §4.3.2.1 扣工艺组负责人绩效管理分2分/次: the owner, the head, the director and the GM
    are told of one miss – two points, once; the reopened case's round 2 is another miss."""
    make = uows(store, FakeClock(NOW))
    for i, level in enumerate((0, 1, 2, 3)):
        await deliver(make, book, message(f"evt-{i}", SLA_BREACHED, breached("feedback_slip", level=level)))
    await deliver(make, book, message("evt-r2", SLA_BREACHED, breached("feedback_slip", round=2)))

    assessments = sorted(stored(store).values(), key=lambda a: a.breach.round if a.breach else 0)
    assert [(a.breach and a.breach.round, a.lines[0].points, a.lines[0].payee.id) for a in assessments] == [
        (1, D(2), "u-pg-f01"),
        (2, D(2), "u-pg-f01"),
    ]
    # the escalations changed nothing: the consumer acknowledges them as ignored, unclaimed
    assert store.inbox == {("evt-0", "penalty.breaches"), ("evt-r2", "penalty.breaches")}


async def test_a_breach_without_a_case_or_a_process_penalty_is_consumed_and_ignored(
    store: MemoryStore, book: RuleBook
) -> None:
    make = uows(store, FakeClock(NOW))
    await deliver(make, book, message("evt-1", SLA_BREACHED, breached("workshop_training", number=None)))
    await deliver(make, book, message("evt-2", SLA_BREACHED, breached("first_response")))
    assert stored(store) == {} and store.audit == []
