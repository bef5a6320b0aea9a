"""The case list (案件列表, the console's "My work" 我的待办) through the use case and the in-memory
unit of work: which cases a filter keeps, in which order, page by page, and what a line shows.

A case's next deadline is its earliest pending one and it is overdue when that is past due by
the service's clock, never the wall clock (DOMAIN.md §3 "Deadlines"); a user sees only the
factories of their token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import get_args

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.uow import Actor, MemoryStore
from investigation.adapters.publishing import to_public
from investigation.domain.listing import OPEN, CaseFilter, CaseLine, CaseSort, Position, position_of, states_named
from investigation.domain.model import Case, CaseState
from investigation.domain.records import Party, PartyKind, Severity
from investigation.entrypoints.api import StateParam
from investigation.service.handlers import case_list
from tests.unit.fakes import T0, factory
from tests.unit.investigation import case_builders as cb
from tests.unit.investigation.fakes import MemoryInvestigationUnitOfWork

F01_QE = Actor("user:qe-1", frozenset({"F01"}))
HEAD_OFFICE = Actor("user:qm-ho", None)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RND = Party(PartyKind.DEPARTMENT, "R&D", Decimal(100))

Make = Callable[..., MemoryInvestigationUnitOfWork]


def case(number: str, registered: datetime) -> Case:
    """A case opened a minute after registration; received four hours before it (in-province)."""
    facts = replace(
        cb.complaint(number[:3], received_at=registered - 4 * HOUR, registered_at=registered), number=number
    )
    opened = Case.open(facts, cb.policy(facts.factory), at=registered + timedelta(minutes=1), by=cb.INTAKE, reason="r")
    opened.pull_changes()
    return opened


def world() -> dict[str, Case]:
    """Three open F01 cases registered a day apart, two withdrawn ones, and F02's oldest of all."""
    first = case("F01-2611-0001", cb.REGISTERED - 2 * DAY)
    second = case("F01-2611-0002", cb.REGISTERED)
    triage = cb.triage_record(at=cb.REGISTERED + 2 * HOUR, severity=Severity.CRITICAL)
    second.triage(replace(triage, responsible_department="PC workshop 1"), cb.policy())
    third = case("F01-2611-0003", cb.REGISTERED + DAY)
    at = cb.REGISTERED + DAY + HOUR
    third.triage(replace(cb.triage_record(at=at), responsible_department="QC"), cb.policy())
    third.contain(cb.containment_record(at + HOUR))
    third.analyse(cb.root_cause_record(at + 2 * HOUR))
    third.determine(cb.determination(at=at + 3 * HOUR, parties=(RND,), override_reason="agreed"), cb.policy())
    gone = [case("F01-2611-0004", cb.REGISTERED - DAY), case("F01-2611-0005", cb.REGISTERED - 12 * HOUR)]
    for g in gone:
        g.withdraw(at=cb.WITHDRAWN_AT - 4 * DAY, by=cb.INTAKE, reason="complaint.withdrawn")
    theirs = case("F02-2611-0001", cb.REGISTERED - 3 * DAY)
    return {c.number: c for c in (first, second, third, *gone, theirs)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def make(clock: FakeClock) -> Make:
    store = MemoryStore()
    make = factory(MemoryInvestigationUnitOfWork, store, clock, translate=to_public, source="/services/investigation")
    async with make(HEAD_OFFICE) as uow:
        for c in world().values():
            uow.cases.add(c)
        await uow.commit()
    return make


async def listed(
    make: Make,
    f: CaseFilter | None = None,
    *,
    actor: Actor = F01_QE,
    sort: CaseSort = CaseSort.DUE,
    limit: int = 100,
    after: Position | None = None,
) -> list[CaseLine]:
    return await case_list(make(actor), f or CaseFilter(), sort=sort, after=after, limit=limit)


def numbers(lines: list[CaseLine]) -> list[str]:
    return [line.number for line in lines]


async def test_by_next_deadline_first_then_the_cases_without_one_newest_first(make: Make) -> None:
    """Sort `due`: the earliest pending deadline first (DOMAIN.md §3 "Deadlines"); withdrawn cases
    have none left (every pending deadline cancelled) and come last, newest first."""
    lines = await listed(make)
    assert numbers(lines) == ["F01-2611-0001", "F01-2611-0002", "F01-2611-0003", "F01-2611-0005", "F01-2611-0004"]
    first = lines[0]
    assert first.next_deadline is not None
    # the customer reply: one day after receipt (seed 001 管制程序 §5.6.2), the earliest of all
    assert (first.next_deadline.milestone, first.next_deadline.due_at) == ("customer_reply", cb.RECEIVED - DAY)
    assert [(x.next_deadline, x.pending_deadlines, x.overdue_deadlines) for x in lines[3:]] == [(None, 0, 0)] * 2

    opened = await listed(make, sort=CaseSort.OPENED)
    assert numbers(opened) == ["F01-2611-0003", "F01-2611-0002", "F01-2611-0005", "F01-2611-0004", "F01-2611-0001"]


async def test_a_line_shows_severity_departments_and_what_is_pending_and_overdue_by_the_clock(
    make: Make, clock: FakeClock
) -> None:
    cases = world()
    lines = {x.number: x for x in await listed(make)}
    second, third = lines["F01-2611-0002"], lines["F01-2611-0003"]
    assert (second.state, second.severity, second.responsible_department, second.departments) == (
        "triaged",
        "critical",
        "PC workshop 1",
        (),
    )
    assert (third.responsible_department, third.departments) == ("QC", ("R&D",))  # triage's; the determination's
    for number, line in lines.items():
        pending = [d for d in cases[number].deadlines if d.pending]
        assert line.pending_deadlines == len(pending)
        assert line.overdue_deadlines == sum(d.due_at < T0 for d in pending), number
    assert lines["F01-2611-0001"].overdue and lines["F01-2611-0001"].overdue_deadlines == 4
    assert not lines["F01-2611-0003"].overdue and lines["F01-2611-0003"].overdue_deadlines == 0

    clock.advance(3 * DAY)  # the injected clock decides what is overdue
    later = {x.number: x for x in await listed(make)}
    assert later["F01-2611-0003"].overdue and later["F01-2611-0003"].overdue_deadlines > 0


def test_the_api_offers_every_case_state_and_open() -> None:
    assert set(get_args(StateParam)) == {s.value for s in CaseState} | {OPEN}


async def test_filters_state_open_department_overdue_due_before_and_number_prefix(make: Make, clock: FakeClock) -> None:
    assert states_named([OPEN]) == frozenset(s.value for s in CaseState) - {"closed", "withdrawn"}
    open_ = await listed(make, CaseFilter(states=states_named([OPEN])))
    assert numbers(open_) == ["F01-2611-0001", "F01-2611-0002", "F01-2611-0003"]
    gone = await listed(make, CaseFilter(states=states_named(["withdrawn", "closed"])))
    assert numbers(gone) == ["F01-2611-0005", "F01-2611-0004"]

    # the responsible department: triage's, or one the current determination names (DOMAIN.md §3.5)
    assert numbers(await listed(make, CaseFilter(department="PC workshop 1"))) == ["F01-2611-0002"]
    assert numbers(await listed(make, CaseFilter(department="R&D"))) == ["F01-2611-0003"]
    assert numbers(await listed(make, CaseFilter(department="QC"))) == ["F01-2611-0003"]
    assert await listed(make, CaseFilter(department="purchasing")) == []

    overdue = await listed(make, CaseFilter(overdue=True))
    assert numbers(overdue) == ["F01-2611-0001", "F01-2611-0002"]
    assert all(x.overdue for x in overdue)
    not_overdue = await listed(make, CaseFilter(overdue=False))
    assert numbers(not_overdue) == ["F01-2611-0003", "F01-2611-0005", "F01-2611-0004"]

    # due soon: not overdue yet, the next deadline due within two days
    soon = await listed(make, CaseFilter(overdue=False, due_before=T0 + 2 * DAY))
    assert numbers(soon) == ["F01-2611-0003"]
    assert await listed(make, CaseFilter(due_before=cb.RECEIVED - DAY)) == []  # due before it, not at it
    assert numbers(await listed(make, CaseFilter(due_before=cb.RECEIVED - DAY + HOUR))) == ["F01-2611-0001"]

    assert numbers(await listed(make, CaseFilter(number_prefix="F01-2611-000"))) == numbers(await listed(make))
    assert numbers(await listed(make, CaseFilter(number_prefix="F01-2611-0002"))) == ["F01-2611-0002"]

    clock.advance(30 * DAY)
    assert numbers(await listed(make, CaseFilter(overdue=True))) == ["F01-2611-0001", "F01-2611-0002", "F01-2611-0003"]


async def test_pages_follow_each_other_without_gaps_or_repeats_in_both_orders(make: Make) -> None:
    for sort in CaseSort:
        whole = await listed(make, actor=HEAD_OFFICE, sort=sort)
        assert len(whole) == 6
        walked: list[CaseLine] = []
        after: Position | None = None
        while True:
            page = await listed(make, actor=HEAD_OFFICE, sort=sort, limit=2, after=after)
            walked += page
            if len(page) < 2:
                break
            after = position_of(page[-1], sort)
        assert numbers(walked) == numbers(whole), sort


async def test_a_factory_user_never_sees_another_factorys_cases(make: Make) -> None:
    """Only the caller's factories, whatever the filter asks (DOMAIN.md §5: each factory's own)."""
    mine = await listed(make)
    assert {x.factory for x in mine} == {"F01"} and "F02-2611-0001" not in numbers(mine)
    assert await listed(make, CaseFilter(factories=frozenset({"F02"}))) == []
    assert await listed(make, CaseFilter(factories=frozenset({"F01", "F02"}), overdue=True)) == await listed(
        make, CaseFilter(overdue=True)
    )
    everyone = await listed(make, actor=HEAD_OFFICE)
    assert numbers(everyone)[0] == "F02-2611-0001"  # the head office sees every factory: F02's is the oldest
    f02 = await listed(make, CaseFilter(factories=frozenset({"F02"})), actor=Actor("user:qe-2", frozenset({"F02"})))
    assert numbers(f02) == ["F02-2611-0001"]
