"""Penalty use cases through the in-memory unit of work (no broker, no database)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from penalty.adapters.publishing import to_public
from penalty.domain.model import AssessmentStatus, Determination, Party
from penalty.service.handlers import assessments_of, open_assessment
from tests.unit.fakes import T0, factory
from tests.unit.penalty.fakes import MemoryPenaltyUnitOfWork


def determination(number: str = "F01-2611-0001", factory_code: str = "F01") -> Determination:
    return Determination(
        number=number,
        factory=factory_code,
        determined_at=T0,
        accident_class="technical_general",
        loss_amount=Decimal("1200.50"),
        parties=(
            Party(kind="department", name="一车间 workshop 1", share=Decimal("60")),
            Party(kind="person", name="张三", share=Decimal("40"), department="一车间 workshop 1"),
        ),
        rule_codes=("5.2.3.2",),
    )


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(minutes=5))


def uows(store: MemoryStore, clock: FakeClock):  # type: ignore[no-untyped-def]
    return factory(MemoryPenaltyUnitOfWork, store, clock, translate=to_public, source="/services/penalty")


async def test_a_determination_opens_one_assessment_awaiting_rules_with_its_audit_row(
    store: MemoryStore, clock: FakeClock
) -> None:
    """DOMAIN.md §4 "Input: a responsibility determination": nothing received is lost."""
    make = uows(store, clock)
    await open_assessment(make(Actor("system:/services/investigation")), "evt-1", determination(), why="test")

    found = await assessments_of(make(Actor("user:hr", None)), "F01-2611-0001")
    assert [(a.id, a.status, a.version) for a in found] == [("evt-1", AssessmentStatus.AWAITING_RULES, 1)]
    assert found[0].received_at == clock.now()
    assert [p.share for p in found[0].determination.parties] == [Decimal("60"), Decimal("40")]
    [row] = store.audit
    assert (row.action, row.entity, row.entity_id, row.actor, row.at) == (
        "open_assessment",
        "assessment",
        "F01-2611-0001",
        "system:/services/investigation",
        clock.now(),
    )
    assert row.before is None and row.after is not None and row.after["loss_amount"] == "1200.50"
    assert store.outbox == []  # penalty.assessed waits for the rule engine's line items


async def test_the_same_determination_twice_opens_one_assessment(store: MemoryStore, clock: FakeClock) -> None:
    make = uows(store, clock)
    await open_assessment(make(), "evt-1", determination(), why="first")
    await open_assessment(make(), "evt-1", determination(), why="again")
    assert len(store.table("assessments")) == 1
    assert len(store.audit) == 1


async def test_the_inbox_refuses_a_second_claim_of_one_event_and_nothing_is_written(
    store: MemoryStore, clock: FakeClock
) -> None:
    make = uows(store, clock)
    entry = InboxEntry("evt-1", "penalty.responsibility", "investigation.responsibility_determined")
    await open_assessment(make(inbox=entry), "evt-1", determination(), why="first")
    with pytest.raises(AlreadyProcessed):
        await open_assessment(make(inbox=entry), "evt-2", determination(), why="same message, other id")
    assert list(store.table("assessments")) == ["evt-1"]


async def test_another_factorys_assessments_are_invisible(store: MemoryStore, clock: FakeClock) -> None:
    make = uows(store, clock)
    await open_assessment(make(), "evt-2", determination("F02-2611-0001", "F02"), why="test")
    assert await assessments_of(make(Actor("user:f01", frozenset({"F01"}))), "F02-2611-0001") == []
    assert len(await assessments_of(make(Actor("user:ho", None)), "F02-2611-0001")) == 1


def test_shares_must_sum_to_100() -> None:
    """DOMAIN.md §3.5: percentage shares that sum to 100 %."""
    with pytest.raises(ValueError, match="sum to 100"):
        Determination(
            number="F01-2611-0001",
            factory="F01",
            determined_at=T0,
            accident_class="technical_general",
            loss_amount=Decimal("0"),
            parties=(Party(kind="department", name="QC", share=Decimal("90")),),
        )
