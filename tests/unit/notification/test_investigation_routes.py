"""Who hears what of an investigation (DOMAIN.md §5): the public `investigation.*` payloads,
through the consumers' handlers and the use cases, on the in-memory unit of work."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from cqm_shared.clock import FakeClock
from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import Severity
from cqm_shared.messaging.consumer import Handles, Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from notification.adapters.publishing import to_public
from notification.domain.messages import for_ruled, for_triaged, milestone_name
from notification.domain.model import CaseTriaged, Dispatch, DisputeRuling
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.consumers import (
    on_customer_replied,
    on_dispute_ruled,
    on_investigation_closed,
    on_investigation_reopened,
    on_investigation_triaged,
    on_responsibility_determined,
    on_responsibility_disputed,
)
from notification.service.handlers import Policies, dispatches_of
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NUMBER = "F01-2611-0003"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
INVESTIGATION = Actor("system:/services/investigation")
READER = Actor("user:qm", None)

Make = Callable[..., MemoryNotificationUnitOfWork]
Route = Callable[[Policies], Handles]


def deadline(milestone: str, hours: int, state: str = "pending", round: int = 1) -> public.Deadline:
    return public.Deadline(
        milestone=milestone, due_at=NOW + timedelta(hours=hours), source="seed", state=state, round=round
    )


def status(**extra: Any) -> dict[str, Any]:
    return {"number": NUMBER, "factory": "F01", "version": 3, "state": "x", "actor": "user:qe-1", **extra}


def triaged(**extra: Any) -> public.InvestigationTriaged:
    fields: dict[str, Any] = {
        "triaged_at": NOW,
        "valid": True,
        "category": public.ComplaintCategory.QUALITY,
        "severity": Severity.MAJOR,
        "responsible_department": "一车间",
        "dispatch": ["workshop_head"],
        "deadlines": [deadline("first_response", 24, state="met"), deadline("feedback_slip", 48)],
    }
    return public.InvestigationTriaged(**status(**{**fields, **extra}))


def party(name: str, share: str, **extra: Any) -> public.ResponsibleParty:
    return public.ResponsibleParty(
        kind=extra.pop("kind", public.PartyKind.PERSON), name=name, share=Decimal(share), **extra
    )


def determined(**extra: Any) -> public.ResponsibilityDetermined:
    fields: dict[str, Any] = {
        "determined_at": NOW,
        "accident_class": public.AccidentClass.MANAGEMENT_GENERAL,
        "loss_amount": Decimal("12345.60"),
        "loss_class": "serious",
        "parties": [
            party("王五", "70", department="品管部", role="shipping_qc"),
            party("赵六", "30", department="一车间", role="line_qc"),
        ],
        "dispute_window_ends_at": NOW + timedelta(hours=2),
    }
    return public.ResponsibilityDetermined(**status(**{**fields, **extra}))


def disputed() -> public.ResponsibilityDisputed:
    return public.ResponsibilityDisputed(
        **status(disputed_at=NOW, kind="objection", department="一车间", against=1, reason="线检已记录")
    )


def ruled(**extra: Any) -> public.DisputeRuled:
    return public.DisputeRuled(**status(**{"ruled_at": NOW, "kind": "objection", "upheld": True, **extra}))


def replied(kind: str = "final") -> public.CustomerReplied:
    return public.CustomerReplied(**status(replied_at=NOW, kind=kind, deadlines=[deadline("close", 120)]))


def closed() -> public.InvestigationClosed:
    return public.InvestigationClosed(**status(closed_at=NOW, outcome="resolved", reason="客户接受"))


def reopened() -> public.InvestigationReopened:
    deadlines = [
        deadline("close", 100, state="cancelled"),
        deadline("customer_reply", 24, round=2),
        deadline("close", 360, round=2),
        deadline("action:A1", 200),
    ]
    return public.InvestigationReopened(**status(reopened_at=NOW, round=2, reason="客户不接受", deadlines=deadlines))


def message(event_type: str, data: BaseModel, event_id: str = "evt-1") -> Message[Any]:
    return Message(event_id, event_type, "/services/investigation", "F01", NUMBER, NOW, 1, data)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def make(store: MemoryStore) -> Make:
    clock = FakeClock(T0)
    return factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")


async def consume(make: Make, route: Route, event_type: str, data: BaseModel, event_id: str = "evt-1") -> None:
    await route(POLICIES).handle(make(INVESTIGATION), message(event_type, data, event_id))


async def sent(make: Make) -> Dispatch:
    [dispatch] = await dispatches_of(make(READER), NUMBER)
    return dispatch


def recipients(dispatch: Dispatch) -> list[tuple[str, str]]:
    return [(n.recipient_role, n.recipient) for n in dispatch.notifications]


# -- triage -------------------------------------------------------------------------------


async def test_a_triage_tells_the_named_department_and_the_on_site_team(make: Make) -> None:
    """DOMAIN.md §5: triage -> responsible department; seed 000 §4.1.1: severity decides who goes on site."""
    data = triaged(severity=Severity.URGENT, dispatch=["production_vp", "process_group"])
    await consume(make, on_investigation_triaged, public.INVESTIGATION_TRIAGED, data)

    dispatch = await sent(make)
    assert (dispatch.event_id, dispatch.event_type) == ("evt-1", "investigation.triaged")
    assert recipients(dispatch) == [
        ("responsible_department", "department:一车间"),
        ("production_vp", "role:production_vp"),
        ("process_group", "role:process_group"),
    ]
    notice = dispatch.notifications[0]
    assert "客诉分类" in notice.subject and "Complaint triaged" in notice.subject
    assert "紧急" in notice.subject and "urgent" in notice.subject and "质量问题" in notice.subject
    assert "严重度 Severity: 紧急 urgent" in notice.body
    assert "类别 Category: 质量问题 quality" in notice.body
    assert "外派现场 Dispatched on site: production_vp, process_group" in notice.body
    # pending deadlines only, by their Chinese and English names
    assert "信息事务处理单回复 feedback slip answered: 2026-11-23T08:00+00:00" in notice.body
    assert "first response" not in notice.body


async def test_a_triage_naming_no_department_tells_the_directorys_and_an_unknown_role_as_role(make: Make) -> None:
    data = triaged(responsible_department=None, dispatch=["workshop_head", "外协组", "workshop_head"])
    await consume(make, on_investigation_triaged, public.INVESTIGATION_TRIAGED, data)

    assert recipients(await sent(make)) == [
        ("responsible_department", "role:responsible_department"),
        ("workshop_head", "role:workshop_head"),
        ("外协组", "role:外协组"),  # not in the directory: addressed, not dropped
    ]


async def test_a_triage_that_ends_the_investigation_tells_customer_service_to_reply_and_close(make: Make) -> None:
    """seed 000 客诉处罚管理规定 §5, seed 004 §4.2.1 A: not our fault -> reply to the customer and close."""
    data = triaged(
        category=public.ComplaintCategory.PRICE,
        severity=Severity.MINOR,
        ends_investigation=True,
        deadlines=[deadline("customer_reply", 24)],
    )
    await consume(make, on_investigation_triaged, public.INVESTIGATION_TRIAGED, data)

    dispatch = await sent(make)
    assert recipients(dispatch) == [("customer_service", "role:customer_service")]
    notice = dispatch.notifications[0]
    assert "请回复客户并结案" in notice.subject and "Reply to the customer and close" in notice.subject
    assert "（非质量问题）" in notice.body and "(not a quality matter)" in notice.body and "价格 price" in notice.body
    assert "客户回复 customer reply: 2026-11-22T08:00+00:00" in notice.body


def test_why_triage_ended_is_said() -> None:
    policy = POLICIES.for_factory("F01")

    def body(**facts: Any) -> str:
        case = CaseTriaged(NUMBER, "F01", "minor", facts.pop("category", "quality"), ends_investigation=True, **facts)
        return for_triaged(case, policy)[0].body

    assert "投诉不成立" in body(valid=False) and "the complaint is not valid" in body(valid=False)
    assert "非我司责任" in body(our_fault=False) and "not our fault" in body(our_fault=False)


# -- responsibility and disputes ----------------------------------------------------------


async def test_a_determination_tells_the_department_head_the_shares_and_the_dispute_window(make: Make) -> None:
    """DOMAIN.md §5: responsibility -> department head (the 2 h dispute window starts, seed 000 §4.3.3.2.3)."""
    await consume(make, on_responsibility_determined, public.RESPONSIBILITY_DETERMINED, determined())

    dispatch = await sent(make)
    assert recipients(dispatch) == [("department_head", "role:department_head")]
    notice = dispatch.notifications[0]
    assert "责任判定" in notice.subject and "Responsibility determined" in notice.subject
    assert "- 王五 (品管部, shipping_qc): 70%" in notice.body
    assert "- 赵六 (一车间, line_qc): 30%" in notice.body
    assert "异议期至 2026-11-21T10:00+00:00" in notice.body
    assert "Disputes may be filed until 2026-11-21T10:00+00:00" in notice.body
    assert "管理性一般事故 management_general" in notice.body and "12345.60 元 CNY (严重 serious)" in notice.body


async def test_a_charge_back_tells_purchasing_too(make: Make) -> None:
    """seed 001 §5.3.2: losses from purchased material are charged back to the supplier."""
    parties = [party("宏达建材", "60", kind=public.PartyKind.SUPPLIER), party("来料检验", "40", kind="role")]
    data = determined(parties=parties, charge_back=True, determination=2, supersedes=1)
    await consume(make, on_responsibility_determined, public.RESPONSIBILITY_DETERMINED, data)

    dispatch = await sent(make)
    assert recipients(dispatch) == [("department_head", "role:department_head"), ("purchasing", "role:purchasing")]
    head, purchasing = dispatch.notifications
    assert "第 2 次" in head.body and "supersedes determination 1" in head.body
    assert "供应商索赔" in purchasing.subject and "Supplier charge-back" in purchasing.subject
    assert "- 宏达建材: 60%" in purchasing.body and "来料检验" not in purchasing.body


async def test_a_dispute_tells_production_operations_to_rule(make: Make) -> None:
    """seed 000 §4.3.3.2.4: production operations rules finally."""
    await consume(make, on_responsibility_disputed, public.RESPONSIBILITY_DISPUTED, disputed())

    dispatch = await sent(make)
    assert recipients(dispatch) == [("production_operations", "role:production_operations")]
    notice = dispatch.notifications[0]
    assert "责任异议待裁决" in notice.subject and "Dispute to rule" in notice.subject
    assert "一车间 对客诉" in notice.body and "production operations to rule" in notice.body
    assert "理由 Reason: 线检已记录" in notice.body


async def test_a_ruling_tells_the_quality_engineer_and_the_responsible_department(make: Make) -> None:
    await consume(make, on_dispute_ruled, public.DISPUTE_RULED, ruled(determination=2))

    dispatch = await sent(make)
    # the event does not name the disputing department: the directory's responsible department
    assert recipients(dispatch) == [
        ("quality_engineer", "role:quality_engineer"),
        ("responsible_department", "role:responsible_department"),
    ]
    notice = dispatch.notifications[0]
    assert "异议裁决" in notice.subject and "Dispute ruled" in notice.subject
    assert "成立" in notice.body and "upheld" in notice.body and "New determination 2" in notice.body


def test_a_ruling_naming_the_disputing_department_tells_it() -> None:
    ruling = DisputeRuling(NUMBER, "F01", "market_cause", upheld=True, responsibility_cleared=True, department="一车间")
    notices = for_ruled(ruling, POLICIES.for_factory("F01"))
    assert [(n.recipient_role, n.recipient) for n in notices] == [
        ("quality_engineer", "role:quality_engineer"),
        ("responsible_department", "department:一车间"),
    ]
    assert "市场原因成立" in notices[0].body and "nobody is responsible" in notices[0].body
    dismissed = for_ruled(DisputeRuling(NUMBER, "F01", "objection", upheld=False), POLICIES.for_factory("F01"))
    assert "不成立" in dismissed[0].body and "dismissed" in dismissed[0].body


# -- reply, close, reopen -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "event_type", "data", "chinese", "english"),
    [
        (on_customer_replied, public.CUSTOMER_REPLIED, replied(), "最终回复", "Final reply sent"),
        (on_investigation_closed, public.INVESTIGATION_CLOSED, closed(), "客诉结案", "Complaint closed"),
        (on_investigation_reopened, public.INVESTIGATION_REOPENED, reopened(), "客诉重开", "Complaint reopened"),
    ],
)
async def test_the_final_reply_closing_and_reopening_tell_customer_service_and_qe(
    make: Make, route: Route, event_type: str, data: BaseModel, chinese: str, english: str
) -> None:
    await consume(make, route, event_type, data)

    dispatch = await sent(make)
    assert dispatch.event_type == event_type
    assert recipients(dispatch) == [
        ("customer_service", "role:customer_service"),
        ("quality_engineer", "role:quality_engineer"),
    ]
    assert all(chinese in n.subject and english in n.subject for n in dispatch.notifications)


async def test_a_closing_says_its_outcome_and_a_reopening_its_round_and_deadlines(make: Make) -> None:
    await consume(make, on_investigation_closed, public.INVESTIGATION_CLOSED, closed(), "evt-c")
    await consume(make, on_investigation_reopened, public.INVESTIGATION_REOPENED, reopened(), "evt-r")

    closing, reopening = await dispatches_of(make(READER), NUMBER)
    assert "结果 Outcome: 已解决 resolved" in closing.notifications[0].body
    body = reopening.notifications[0].body
    assert "第 2 轮" in body and "round 2" in body and "原因 Reason: 客户不接受" in body
    assert body.index("客户回复 customer reply: 2026-11-22T08:00+00:00") < body.index(
        "纠正措施 A1 corrective action A1"
    )
    assert "结案 close: 2026-12-06T08:00+00:00" in body
    assert "2026-11-25T12:00" not in body  # the cancelled close of round 1


async def test_a_preliminary_reply_tells_nobody_and_writes_nothing(make: Make, store: MemoryStore) -> None:
    entry = InboxEntry("evt-p", "notification.investigations", public.CUSTOMER_REPLIED)
    uow = make(INVESTIGATION, entry)
    await on_customer_replied(POLICIES).handle(uow, message(public.CUSTOMER_REPLIED, replied("preliminary"), "evt-p"))

    assert not uow.committed  # the consumer acknowledges it as ignored
    assert store.table("dispatches") == {} and store.audit == []


# -- idempotency --------------------------------------------------------------------------

EVERY_ROUTE: list[tuple[Route, str, BaseModel]] = [
    (on_investigation_triaged, public.INVESTIGATION_TRIAGED, triaged()),
    (on_investigation_triaged, public.INVESTIGATION_TRIAGED, triaged(ends_investigation=True)),
    (on_responsibility_determined, public.RESPONSIBILITY_DETERMINED, determined(charge_back=True)),
    (on_responsibility_disputed, public.RESPONSIBILITY_DISPUTED, disputed()),
    (on_dispute_ruled, public.DISPUTE_RULED, ruled()),
    (on_customer_replied, public.CUSTOMER_REPLIED, replied()),
    (on_investigation_closed, public.INVESTIGATION_CLOSED, closed()),
    (on_investigation_reopened, public.INVESTIGATION_REOPENED, reopened()),
]


@pytest.mark.parametrize(("route", "event_type", "data"), EVERY_ROUTE)
async def test_the_same_event_twice_is_one_dispatch(
    make: Make, store: MemoryStore, route: Route, event_type: str, data: BaseModel
) -> None:
    entry = InboxEntry("evt-1", "notification.investigations", event_type)
    await route(POLICIES).handle(make(INVESTIGATION, entry), message(event_type, data, "evt-1"))
    with pytest.raises(AlreadyProcessed):  # redelivered: the inbox refuses it
        await route(POLICIES).handle(make(INVESTIGATION, entry), message(event_type, data, "evt-1"))
    await consume(make, route, event_type, data, "evt-1")  # even without the inbox: one dispatch per event

    assert list(store.table("dispatches")) == ["evt-1"]
    assert len(store.audit) == 1 and store.audit[0].reason == f"{event_type} evt-1 from /services/investigation"
    [dispatch] = store.table("dispatches").values()
    assert dispatch.notifications and len({n.recipient for n in dispatch.notifications}) == len(dispatch.notifications)


@pytest.mark.parametrize(("route", "event_type", "data"), EVERY_ROUTE)
async def test_every_notice_is_in_chinese_and_english(
    make: Make, route: Route, event_type: str, data: BaseModel
) -> None:
    await consume(make, route, event_type, data)
    for notice in (await sent(make)).notifications:
        for text in (notice.subject, notice.body):
            assert re.search(r"[\u4e00-\u9fff]{2,}", text), text  # Chinese
            assert len(re.findall(r"[A-Za-z]{3,}", text)) >= 2, text  # and English words
        assert NUMBER in notice.subject


# -- routes are policy data ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["F01", "F02"])
def test_every_factory_routes_the_investigation_triggers(code: str) -> None:
    policy = POLICIES.for_factory(code)
    for trigger in (
        "investigation.triaged",
        "investigation.ended_at_triage",
        "investigation.responsibility_determined",
        "investigation.charge_back",
        "investigation.responsibility_disputed",
        "investigation.dispute_ruled",
        "investigation.customer_replied",
        "investigation.closed",
        "investigation.reopened",
    ):
        assert policy.recipients(trigger), trigger


def test_a_factorys_directory_decides_the_addresses() -> None:
    policy = NotificationPolicy.model_validate(
        {
            "routes": {"investigation.triaged": ["responsible_department", "quality_manager"]},
            "directory": {
                "responsible_department": ["user:dept-inbox"],
                "quality_manager": ["user:qm", "user:qm-deputy"],
                "workshop_head": ["user:ws-head"],
            },
        }
    )
    case = CaseTriaged(NUMBER, "F01", "major", "quality", dispatch=("workshop_head", "x" * 300))
    assert [(n.recipient_role, n.recipient) for n in for_triaged(case, policy)] == [
        ("responsible_department", "user:dept-inbox"),
        ("quality_manager", "user:qm"),
        ("quality_manager", "user:qm-deputy"),
        ("workshop_head", "user:ws-head"),
        ("x" * 50, "role:" + "x" * 195),  # cut to what the delivery log holds
    ]


def test_milestones_have_chinese_and_english_names() -> None:
    assert milestone_name("onsite_sheet_return") == "现场调查表回传 on-site sheet returned"
    assert milestone_name("action:A3") == "纠正措施 A3 corrective action A3"
    for milestone in (
        "onsite_arrival",
        "onsite_work_report",
        "feedback_slip",
        "process_abnormality_reply",
        "hazardous_substance_reply",
        "workshop_training",
    ):
        chinese, english = milestone_name(milestone).split(" ", 1)
        assert all("\u4e00" <= c <= "\u9fff" for c in chinese) and english.isascii(), milestone
    assert milestone_name("site_visit") == "site_visit"
