"""Investigation use cases through the in-memory unit of work (no broker, no database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import COMPLAINT_REGISTERED, InvestigationOpened
from cqm_shared.domain import DomainEvent, NotFound, StaleVersion
from cqm_shared.messaging.consumer import Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, InboxEntry, MemoryStore
from investigation.adapters.publishing import to_public
from investigation.domain.model import CaseState, ComplaintFacts, DeadlineState, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.entrypoints.consumers import complaint_facts, on_complaint_registered
from investigation.service.handlers import FactoryPolicyMissing, case_of, open_case
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.investigation.fakes import MemoryInvestigationUnitOfWork

RECEIVED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
REGISTERED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
INTAKE = Actor("system:/services/intake")
HEAD_OFFICE = Actor("user:qm-ho", None)


def record(
    number: str = "F01-2611-0001",
    factory_code: str = "F01",
    *,
    market: dict[str, str] | None = None,
    request: dict[str, str] | None = None,
) -> ComplaintRecord:
    return ComplaintRecord.model_validate(
        {
            "number": number,
            "status": "registered",
            "factory": factory_code,
            "channel": "wechat",
            "received_at": RECEIVED,
            "registered_at": REGISTERED,
            "customer": {"company": "华东建工集团", "contact_name": "王工", "phone": "+86 138 0000 0000"},
            "product": {"model": "YB-PC", "part_number": "PC-100", "quantity_shipped": 10, "quantity_defective": 1},
            "phenomenon": "叠合板边角破损 chipped edges",
            "customer_request": request,
            "market": market or {"region": "domestic", "province": "in"},
            "batch_return": True,
        }
    )


def facts(number: str = "F01-2611-0001", factory_code: str = "F01", **kwargs: Any) -> ComplaintFacts:
    return complaint_facts(record(number, factory_code, **kwargs))


def message(data: ComplaintRecord, event_id: str = "evt-1") -> Message[ComplaintRecord]:
    return Message(event_id, COMPLAINT_REGISTERED, "/services/intake", data.factory, data.number, REGISTERED, 1, data)


@pytest.fixture(scope="module")
def policies() -> PolicyBook[InvestigationPolicy]:
    return PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


Make = Callable[..., MemoryInvestigationUnitOfWork]


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryInvestigationUnitOfWork, store, clock, translate=to_public, source="/services/investigation")


async def test_a_registered_complaint_opens_a_case_with_deadlines_history_audit_and_a_public_event(
    store: MemoryStore, clock: FakeClock, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """DOMAIN.md §3: a case opens for every registered complaint, with the deadlines known then."""
    complaint = record(market={"region": "domestic", "province": "out"}, request={"kind": "report_8d"})
    inbox = InboxEntry("evt-1", "investigation.complaints", COMPLAINT_REGISTERED)
    await on_complaint_registered(policies).handle(make(INTAKE, inbox), message(complaint))

    case = await case_of(make(HEAD_OFFICE), "F01-2611-0001")
    assert (case.state, case.version, case.factory) == (CaseState.OPENED, 1, "F01")
    assert case.opened_at == case.updated_at == clock.now()  # the clock's time, not the event's
    due = {d.milestone: (d.due_at, d.state) for d in case.deadlines}
    pending = DeadlineState.PENDING
    assert due == {
        "first_response": (REGISTERED + timedelta(hours=24), pending),  # seed 001 §1.2.1
        "handling_proposal": (RECEIVED + timedelta(hours=48), pending),  # seed 004 §3.2
        "customer_reply": (RECEIVED + timedelta(days=1), pending),  # seed 001 管制程序 §5.6.2
        "customer_reply_latest": (RECEIVED + timedelta(hours=48), pending),
        "close": (REGISTERED + timedelta(days=15), pending),  # out of province, seed 000 §4.2.1
        "preliminary_report": (RECEIVED + timedelta(days=3), pending),  # 8D asked, seed 001 §1.4.3
    }
    close = case.deadline("close")
    assert close is not None and close.source.startswith("seed 000 §4.2.1")

    # the history line and the audit row say the same who / when / why
    reason = "complaint.registered evt-1 from /services/intake"
    [opened] = case.history
    assert (opened.action, opened.actor, opened.at, opened.from_state, opened.to_state, opened.reason) == (
        "open",
        "system:/services/intake",
        clock.now(),
        None,
        CaseState.OPENED,
        reason,
    )
    [row] = store.audit
    assert (row.action, row.entity, row.entity_id, row.factory, row.actor, row.at, row.reason) == (
        "open",
        "investigation",
        "F01-2611-0001",
        "F01",
        "system:/services/intake",
        clock.now(),
        reason,
    )
    assert row.before is None and row.after is not None
    assert row.after["state"] == "opened"
    assert {d["milestone"]: d["state"] for d in row.after["deadlines"]} == {m: "pending" for m in due}

    # investigation.opened carries the deadlines, their state and the case version
    [event] = store.published()
    assert (event.type, event.factory, event.subject, event.source, event.dataversion) == (
        "investigation.opened",
        "F01",
        "F01-2611-0001",
        "/services/investigation",
        1,
    )
    data = InvestigationOpened.model_validate(event.data)
    assert (data.number, data.state, data.opened_at, data.version) == ("F01-2611-0001", "opened", clock.now(), 1)
    assert {d.milestone: (d.due_at, d.state) for d in data.deadlines} == {
        m: (at, state.value) for m, (at, state) in due.items()
    }
    assert store.inbox == {("evt-1", "investigation.complaints")}


@pytest.mark.parametrize(
    ("factory_code", "market", "days"),
    [
        ("F01", {"region": "domestic", "province": "in"}, 5),  # seed 000 §4.2.1: 本省5日
        ("F01", {"region": "domestic", "province": "out"}, 15),  # 外省15日
        ("F01", {"region": "foreign"}, 15),  # foreign counts as out of province
        ("F01", {"region": "domestic"}, 5),  # unknown province: the stricter deadline
        ("F02", {"region": "domestic"}, 13),  # seed 002 (十): 國內13天 (F02 chooses the region basis)
        ("F02", {"region": "foreign"}, 17),  # 國外17天
    ],
)
async def test_the_close_deadline_follows_the_factorys_basis(
    make: Make, policies: PolicyBook[InvestigationPolicy], factory_code: str, market: dict[str, str], days: int
) -> None:
    number = f"{factory_code}-2611-0001"
    await open_case(make(INTAKE), facts(number, factory_code, market=market), policies, why="test")
    case = await case_of(make(HEAD_OFFICE), number)
    close = case.deadline("close")
    assert close is not None and close.due_at == REGISTERED + timedelta(days=days)
    assert case.deadline("preliminary_report") is None  # no report asked


async def test_the_same_complaint_twice_opens_one_case(
    store: MemoryStore, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """CONTRACT.md: consumers are idempotent; a second event for an open case changes nothing."""
    handler = on_complaint_registered(policies)
    await handler.handle(
        make(INTAKE, InboxEntry("evt-1", "investigation.complaints", COMPLAINT_REGISTERED)), message(record())
    )
    again = make(INTAKE, InboxEntry("evt-2", "investigation.complaints", COMPLAINT_REGISTERED))
    await handler.handle(again, message(record(), "evt-2"))
    assert not again.committed  # nothing to do: the consumer reports it as ignored
    assert list(store.table("cases")) == ["F01-2611-0001"]
    assert len(store.audit) == 1 and len(store.published("investigation.opened")) == 1
    assert store.inbox == {("evt-1", "investigation.complaints")}


async def test_a_factory_without_policy_is_an_error_and_nothing_is_written(
    store: MemoryStore, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """The consumer retries it, then dead-letters it with the reason (F77 has no policy file)."""
    uow = make(INTAKE, InboxEntry("evt-9", "investigation.complaints", COMPLAINT_REGISTERED))
    with pytest.raises(FactoryPolicyMissing, match="F77"):
        await on_complaint_registered(policies).handle(uow, message(record("F77-2611-0001", "F77")))
    assert store.tables.get("cases", {}) == {} and store.audit == [] and store.outbox == [] and store.inbox == set()


@dataclass(frozen=True, kw_only=True)
class Touched(DomainEvent):
    """A stand-in change (the 8D steps that change a case come in a later issue)."""

    action: ClassVar[str] = "touch"


async def test_a_stale_update_is_refused_and_writes_nothing(
    store: MemoryStore, clock: FakeClock, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """Optimistic concurrency: two editors of version 1; the second to commit gets StaleVersion."""
    await open_case(make(INTAKE), facts(), policies, why="test")
    first, second = make(), make()
    async with first, second:
        mine = await first.cases.get("F01-2611-0001")
        theirs = await second.cases.get("F01-2611-0001")
        assert mine is not None and theirs is not None and mine.version == theirs.version == 1
        for case in (mine, theirs):
            case.record(Touched(at=clock.now(), reason="edit"), before=case.snapshot())
        await first.commit()
        with pytest.raises(StaleVersion) as refused:
            await second.commit()
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert store.table("cases")["F01-2611-0001"].version == 2
    assert [row.action for row in store.audit] == ["open", "touch"]  # the refused change left no row


async def test_a_later_change_records_only_itself(
    store: MemoryStore, clock: FakeClock, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    """A case read back holds its state, not the changes of the commit that stored it: opening
    is audited and published once, however often the case changes afterwards."""
    await open_case(make(INTAKE), facts(), policies, why="test")
    uow = make()
    async with uow:
        case = await uow.cases.get("F01-2611-0001")
        assert case is not None and not case.changed
        case.record(Touched(at=clock.now(), reason="edit"), before=case.snapshot())
        await uow.commit()
    assert [row.action for row in store.audit] == ["open", "touch"]
    assert len(store.published("investigation.opened")) == 1


async def test_if_match_of_an_older_version_is_refused(make: Make, policies: PolicyBook[InvestigationPolicy]) -> None:
    await open_case(make(INTAKE), facts(), policies, why="test")
    uow = make()
    async with uow:
        case = await uow.cases.get("F01-2611-0001")
        assert case is not None
        uow.expect_version(case, 1)
        with pytest.raises(StaleVersion):
            uow.expect_version(case, 0)


async def test_cases_open_at_the_clocks_time(
    clock: FakeClock, make: Make, policies: PolicyBook[InvestigationPolicy]
) -> None:
    await open_case(make(INTAKE), facts("F01-2611-0001"), policies, why="test")
    clock.advance(timedelta(days=40))  # across a month boundary, without waiting
    await open_case(make(INTAKE), facts("F01-2611-0002"), policies, why="test")
    first = await case_of(make(HEAD_OFFICE), "F01-2611-0001")
    second = await case_of(make(HEAD_OFFICE), "F01-2611-0002")
    assert (first.opened_at, second.opened_at) == (T0, T0 + timedelta(days=40))
    # deadlines count from the complaint's times, not from when the case opened
    assert first.deadlines == second.deadlines


async def test_another_factorys_case_is_not_found(make: Make, policies: PolicyBook[InvestigationPolicy]) -> None:
    await open_case(make(INTAKE), facts("F02-2611-0001", "F02"), policies, why="test")
    with pytest.raises(NotFound):
        await case_of(make(Actor("user:f01", frozenset({"F01"}))), "F02-2611-0001")
    with pytest.raises(NotFound):
        await case_of(make(HEAD_OFFICE), "F02-2611-0404")
    assert (await case_of(make(Actor("user:f02", frozenset({"F02"}))), "F02-2611-0001")).factory == "F02"


def test_the_registered_record_is_kept_as_the_facts_investigation_uses() -> None:
    """Translation at the edge: only the fields investigation uses, in its own types, times in UTC."""
    east8 = timezone(timedelta(hours=8))
    data = record(market={"region": "domestic", "province": "out"}, request={"kind": "report_8d"}).model_copy(
        update={"registered_at": REGISTERED.astimezone(east8)}
    )
    kept = complaint_facts(data)
    assert kept == ComplaintFacts(
        number="F01-2611-0001",
        factory="F01",
        registered_at=REGISTERED,
        received_at=RECEIVED,
        region=Region.DOMESTIC,
        province=Province.OUT,
        phenomenon="叠合板边角破损 chipped edges",
        customer_company="华东建工集团",
        part_number="PC-100",
        product_model="YB-PC",
        request_kind="report_8d",
        batch_return=True,
        quantity_defective=1,
    )
    assert kept.registered_at.tzinfo is UTC and kept.report_requested
    plain = complaint_facts(record(market={"region": "foreign"}))
    assert (plain.province, plain.request_kind, plain.report_requested) == (None, None, False)


def test_only_opening_is_published() -> None:
    assert to_public(Touched(at=T0)) == ()
