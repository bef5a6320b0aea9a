"""Who hears what of a penalty assessment (DOMAIN.md §5: penalty approved -> HR and finance): the
public `penalty.*` payloads, through the consumers' handlers and the use cases, on the in-memory
unit of work."""

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
from cqm_shared.messaging.consumer import Handles, Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from notification.adapters.publishing import to_public
from notification.domain.messages import for_assessed, milestone_name
from notification.domain.model import Dispatch, PenaltyItem, PenaltyNotice, PenaltyStage
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.consumers import (
    on_penalty_appealed,
    on_penalty_assessed,
    on_penalty_finalized,
    on_period_closed,
    penalty_assessed,
    period_closed,
)
from notification.service.handlers import Policies, dispatches_of
from tests.conftest import POLICY_DIR
from tests.unit.fakes import T0, factory
from tests.unit.notification.fakes import MemoryNotificationUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "notification", NotificationPolicy)
NUMBER = "F01-2611-0003"
LEDGER = "ledger/F01/2026-11"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
PENALTY = Actor("system:/services/penalty")
READER = Actor("user:qm", None)

Make = Callable[..., MemoryNotificationUnitOfWork]
Route = Callable[[Policies], Handles]


def line(position: int, rule: str, role: str, payee: tuple[str, str], amount: str, **extra: Any) -> public.PenaltyLine:
    kind, pid, name = extra.pop("payee_kind", "person"), *payee
    return public.PenaltyLine(
        position=position,
        rule_code=rule,
        kind=extra.pop("kind", "fine"),
        role=role,
        payee=public.PenaltyPayee(kind=kind, id=pid, name=name),
        basis=extra.pop("basis", "1 time(s) × amount"),
        amount=Decimal(amount),
        **extra,
    )


ASSEMBLY = "装配车间"
LINES = [
    line(0, "5.2.6", "department_head", ("u-asm-head", "张主任"), "100", department=ASSEMBLY),
    line(1, "5.2.6", "responsible_person", ("p-wang", "王五"), "500", department=ASSEMBLY, party="王五"),
    line(2, "5.2.6", "director", ("u-prod-vp", "赵副总"), "200", department=ASSEMBLY),
    line(3, "5.2.6", "general_manager", ("u-gm-f01", "王总"), "100"),
]
QC_LINE = line(
    4, "4.3.3.2", "qc_team", ("team-qc", "质检组"), "61.73", department="品管部", illustrative=True, payee_kind="role"
)
POINTS_LINE = line(
    5, "4.3.2.1", "responsible_person", ("p-wang", "王五"), "0", kind="points", points=Decimal(-2), department=ASSEMBLY
)


def deadline(milestone: str, days: int, state: str = "pending") -> public.Deadline:
    due = NOW + timedelta(days=days)
    return public.Deadline(milestone=milestone, due_at=due, source="seed 000 §4.2.2", state=state)


def assessment(**extra: Any) -> public.PenaltyAssessment:
    lines = extra.pop("lines", LINES)
    fields: dict[str, Any] = {
        "assessment_id": "a-1",
        "number": NUMBER,
        "factory": "F01",
        "status": "draft",
        "version": 1,
        "basis": "determination",
        "determination": 1,
        "period": "2026-11",
        "policy_version": "2026.1#abc123",
        "lines": lines,
        "total": sum((x.amount for x in lines if x.kind == "fine"), Decimal(0)),
        "deadlines": [
            deadline("monthly_summary", 24, state="met"),
            deadline("workshop_proposal", 27),
            deadline("production_approval", 29),
        ],
        **extra,
    }
    return public.PenaltyAssessment(**fields)


def appeal(**extra: Any) -> public.PenaltyAppeal:
    fields: dict[str, Any] = {"by": "user:asm-head", "at": NOW, "reason": "已按工艺执行，非本车间责任", "lines": [1]}
    return public.PenaltyAppeal(**{**fields, **extra})


def decided(upheld: bool = True) -> public.PenaltyAppeal:
    return appeal(decided_by="user:gm", decided_at=NOW, upheld=upheld, decision="减半处理" if upheld else "维持")


def closed(**extra: Any) -> public.PenaltyPeriodClosed:
    fields: dict[str, Any] = {
        "factory": "F01",
        "period": "2026-11",
        "closed_at": NOW,
        "closed_by": "user:ops",
        "compensation": Decimal("12345.60"),
        "fines": Decimal("961.73"),
        "charge_backs": Decimal("3000"),
        "cost_of_poor_quality": Decimal("16307.33"),
        "performance_points": Decimal("-2"),
        "management_points": Decimal("0"),
        "unresolved_lines": 1,
        "departments": {
            ASSEMBLY: public.PeriodDepartmentTotals(
                fines=Decimal("800"), performance_points=Decimal("-2"), management_points=Decimal(0), lines=4
            ),
            "品管部": public.PeriodDepartmentTotals(
                fines=Decimal("61.73"), performance_points=Decimal(0), management_points=Decimal(0), lines=1
            ),
        },
        **extra,
    }
    return public.PenaltyPeriodClosed(**fields)


def message(event_type: str, data: BaseModel, event_id: str = "evt-1") -> Message[Any]:
    return Message(event_id, event_type, "/services/penalty", "F01", NUMBER, NOW, 1, data)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def make(store: MemoryStore) -> Make:
    clock = FakeClock(T0)
    return factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")


async def consume(make: Make, route: Route, event_type: str, data: BaseModel, event_id: str = "evt-1") -> None:
    await route(POLICIES).handle(make(PENALTY), message(event_type, data, event_id))


async def sent(make: Make, number: str = NUMBER) -> Dispatch:
    [dispatch] = await dispatches_of(make(READER), number)
    return dispatch


def recipients(dispatch: Dispatch) -> list[tuple[str, str]]:
    return [(n.recipient_role, n.recipient) for n in dispatch.notifications]


# -- the draft ------------------------------------------------------------------------------


async def test_a_draft_tells_the_heads_of_its_departments_the_total_and_that_they_may_appeal(make: Make) -> None:
    """seed 000 §5.2.6 lines (head 100, person 500, director 200, GM 100) and an illustrative
    4.3.3.2 line of the QC team: the heads of 装配车间 and 品管部 are told, each once."""
    data = assessment(lines=[*LINES, QC_LINE], illustrative=True)
    await consume(make, on_penalty_assessed, public.PENALTY_ASSESSED, data)

    dispatch = await sent(make)
    assert (dispatch.event_type, dispatch.number, dispatch.factory) == ("penalty.assessed", NUMBER, "F01")
    assert recipients(dispatch) == [
        ("department_head", f"department_head:{ASSEMBLY}"),
        ("department_head", "department_head:品管部"),
    ]
    notice = dispatch.notifications[0]
    assert "考核草案" in notice.subject and "Penalty draft" in notice.subject and NUMBER in notice.subject
    body = notice.body
    assert "- 5.2.6 部门主管 department_head 张主任 (装配车间): 100.00 元 CNY" in body
    assert "- 5.2.6 责任人 responsible_person 王五 (装配车间): 500.00 元 CNY" in body
    assert "- 5.2.6 分管副总 director 赵副总 (装配车间): 200.00 元 CNY" in body
    assert "- 5.2.6 总经理 general_manager 王总: 100.00 元 CNY" in body
    assert "合计罚款 Total fines: 961.73 元 CNY" in body
    assert "向总经理申诉" in body and "may appeal to the general manager once" in body
    assert "illustrative coefficients" in body and "示意系数" in body
    assert "2026-11 ledger" in body
    # the monthly cycle's pending deadlines, by name
    assert f"{milestone_name('production_approval')}: 2026-12-20T08:00+00:00" in body
    assert "生产运营部签准 production operations approval" in body
    assert "monthly summary" not in body  # met


async def test_a_draft_naming_no_department_tells_the_directorys_department_head(make: Make) -> None:
    data = assessment(lines=[LINES[3]])
    await consume(make, on_penalty_assessed, public.PENALTY_ASSESSED, data)
    assert recipients(await sent(make)) == [("department_head", "role:department_head")]


async def test_a_superseding_draft_says_what_it_replaces_and_lists_points_and_role_lines(make: Make) -> None:
    unresolved = line(6, "5.2.3.7", "team", ("team", "班组"), "150", department=ASSEMBLY, unresolved=True)
    data = assessment(lines=[*LINES, POINTS_LINE, unresolved], supersedes=["a-0"], adjustment=True, period="2026-12")
    await consume(make, on_penalty_assessed, public.PENALTY_ASSESSED, data)

    body = (await sent(make)).notifications[0].body
    assert "取代 Supersedes: a-0" in body
    assert "- 4.3.2.1 责任人 responsible_person 王五 (装配车间): -2 分 points" in body
    assert "150.00 元 CNY（待人事确定责任人 HR resolves the person）" in body
    assert "作为调整计入 2026-12" in body and "an adjustment in 2026-12" in body


async def test_a_draft_after_the_appeal_decision_tells_the_heads_the_decision(make: Make) -> None:
    changed = line(1, "5.2.6", "responsible_person", ("p-wang", "王五"), "250", department=ASSEMBLY)
    changed = changed.model_copy(update={"original_amount": Decimal("500")})
    data = assessment(lines=[LINES[0], changed, *LINES[2:]], appeal=decided(), version=3)
    await consume(make, on_penalty_assessed, public.PENALTY_ASSESSED, data)

    dispatch = await sent(make)
    assert recipients(dispatch) == [("department_head", f"department_head:{ASSEMBLY}")]
    notice = dispatch.notifications[0]
    assert "考核申诉已裁决" in notice.subject and "Penalty appeal decided" in notice.subject
    assert "申诉成立" in notice.body and "upheld the appeal" in notice.body
    assert "裁决理由 Decision: 减半处理" in notice.body
    assert "王五 (装配车间): 250.00 元 CNY（原 was 500.00）" in notice.body
    assert "合计罚款 Total fines: 650.00 元 CNY" in notice.body
    assert "may appeal" not in notice.body and "production operations approves next" in notice.body


def test_a_dismissed_appeal_says_the_lines_stand() -> None:
    penalty = penalty_assessed(assessment(appeal=decided(upheld=False)))
    [notice] = for_assessed(penalty, POLICIES.for_factory("F01"))
    assert "申诉驳回" in notice.body and "dismissed the appeal" in notice.body


@pytest.mark.parametrize(
    "data",
    [
        assessment(status="appealed", appeal=appeal()),  # not a draft
        assessment(appeal=appeal()),  # a draft whose appeal is not decided
        assessment(status="approved"),
    ],
)
async def test_other_assessed_events_tell_nobody_and_write_nothing(
    make: Make, store: MemoryStore, data: public.PenaltyAssessment
) -> None:
    uow = make(PENALTY, InboxEntry("evt-x", "notification.penalties", public.PENALTY_ASSESSED))
    await on_penalty_assessed(POLICIES).handle(uow, message(public.PENALTY_ASSESSED, data, "evt-x"))

    assert not uow.committed  # the consumer acknowledges it as ignored
    assert store.table("dispatches") == {} and store.audit == []


# -- the appeal -----------------------------------------------------------------------------


async def test_an_appeal_tells_the_general_manager_to_decide(make: Make) -> None:
    """seed 002 篇二 §四.9: the penalised may appeal to the general manager."""
    await consume(make, on_penalty_appealed, public.PENALTY_APPEALED, assessment(status="appealed", appeal=appeal()))

    dispatch = await sent(make)
    assert recipients(dispatch) == [("general_manager", "role:general_manager")]
    notice = dispatch.notifications[0]
    assert "考核申诉待裁决" in notice.subject and "Penalty appeal to decide" in notice.subject
    assert "the general manager decides" in notice.body and "申诉人 Appealed by: user:asm-head" in notice.body
    assert "理由 Reason: 已按工艺执行，非本车间责任" in notice.body
    contested = notice.body.split("申诉明细 Contested lines:")[1].split("全部明细 All lines:")[0]
    assert "王五" in contested and "张主任" not in contested


async def test_an_appeal_of_the_whole_assessment_says_so(make: Make) -> None:
    data = assessment(status="appealed", appeal=appeal(lines=[]))
    await consume(make, on_penalty_appealed, public.PENALTY_APPEALED, data)
    assert "The whole assessment is contested" in (await sent(make)).notifications[0].body


# -- approval and the closed month ----------------------------------------------------------


async def test_an_approval_tells_hr_and_finance_the_lines_total_period_and_payees(make: Make) -> None:
    """DOMAIN.md §5: penalty approved -> HR and finance."""
    data = assessment(status="approved", approved_by="user:ops", approved_at=NOW, lines=[*LINES, POINTS_LINE])
    await consume(make, on_penalty_finalized, public.PENALTY_FINALIZED, data)

    dispatch = await sent(make)
    assert recipients(dispatch) == [("hr", "role:hr"), ("finance", "role:finance")]
    notice = dispatch.notifications[0]
    assert notice.subject == f"考核已签准 {NUMBER}：900.00 元 / Penalty approved {NUMBER}: 900.00 CNY"
    body = notice.body
    assert "计入 2026-11 月度台账" in body and "in the 2026-11 ledger" in body
    assert "签准人 Approved by: user:ops" in body
    assert "处罚对象 Payees: 4" in body  # 王五's fine and points are one payee
    assert "合计罚款 Total fines: 900.00 元 CNY" in body
    assert "illustrative" not in body


async def test_an_illustrative_approval_is_flagged_and_names_lines_for_hr(make: Make) -> None:
    data = assessment(status="approved", lines=[*LINES, QC_LINE.model_copy(update={"unresolved": True})])
    await consume(make, on_penalty_finalized, public.PENALTY_FINALIZED, data)

    notice = (await sent(make)).notifications[0]
    assert "[示意系数 illustrative]" in notice.subject
    assert "[NOTE] Some amounts use illustrative coefficients" in notice.body
    assert "1 条明细待人事确定责任人" in notice.body and "1 line(s) for HR to name the person" in notice.body


async def test_a_closed_month_tells_hr_and_finance_the_totals_and_cost_of_poor_quality(make: Make) -> None:
    await consume(make, on_period_closed, public.PENALTY_PERIOD_CLOSED, closed())

    dispatch = await sent(make, LEDGER)  # no complaint: filed under the ledger
    assert (dispatch.number, dispatch.factory) == (LEDGER, "F01")
    assert recipients(dispatch) == [("hr", "role:hr"), ("finance", "role:finance")]
    notice = dispatch.notifications[0]
    assert "月度考核台账关账 F01 2026-11" in notice.subject and "Penalty ledger closed F01 2026-11" in notice.subject
    body = notice.body
    for expected in (
        "赔偿 Compensation: 12345.60 元 CNY",
        "罚款 Fines: 961.73 元 CNY",
        "供应商索赔 Charge-backs: 3000.00 元 CNY",
        "质量成本 Cost of poor quality: 16307.33 元 CNY",
        "绩效分 Performance points: -2",
        "- 品管部: 61.73 元 CNY",
        "- 装配车间: 800.00 元 CNY, 绩效分 performance -2, 管理分 management 0, 4 条 lines",
        "1 line(s) for HR to name the person",
    ):
        assert expected in body, expected


def test_the_payloads_become_notifications_terms() -> None:
    data = assessment(lines=[QC_LINE, *reversed(LINES)], illustrative=False, appeal=decided())
    penalty = penalty_assessed(data)
    assert [x.rule_code for x in penalty.lines] == ["5.2.6"] * 4 + ["4.3.3.2"]  # by position
    assert penalty.illustrative  # a line is, though the flag was not set
    assert penalty.departments == (ASSEMBLY, "品管部")
    assert penalty.appeal is not None and penalty.appeal.decided and penalty.appeal.upheld
    assert penalty.lines[0] == PenaltyItem(
        rule_code="5.2.6",
        kind="fine",
        role="department_head",
        payee_id="u-asm-head",
        payee="张主任",
        amount=Decimal(100),
        department=ASSEMBLY,
    )
    month = period_closed(closed())
    assert month.number == LEDGER and [name for name, _ in month.departments] == sorted([ASSEMBLY, "品管部"])


def test_only_fined_or_docked_payees_count() -> None:
    items = (
        PenaltyItem("5.2.6", "fine", "department_head", "u-1", "A", Decimal(100)),
        PenaltyItem("4.3.2.1", "points", "responsible_person", "u-1", "A", points=Decimal(-2)),
        PenaltyItem("charge_back", "charge_back", "supplier", "s-1", "S", Decimal(3000)),
        PenaltyItem("5.2.3.1", "exempt", "department_head", "u-2", "B"),
    )
    notice = PenaltyNotice(NUMBER, "F01", PenaltyStage.FINALIZED, "approved", "a", "2026-11", items, Decimal(100))
    assert notice.payees == 1


# -- every route ----------------------------------------------------------------------------

EVERY_ROUTE: list[tuple[Route, str, BaseModel, str]] = [
    (on_penalty_assessed, public.PENALTY_ASSESSED, assessment(lines=[*LINES, QC_LINE]), NUMBER),
    (on_penalty_assessed, public.PENALTY_ASSESSED, assessment(appeal=decided()), NUMBER),
    (on_penalty_appealed, public.PENALTY_APPEALED, assessment(status="appealed", appeal=appeal()), NUMBER),
    (on_penalty_finalized, public.PENALTY_FINALIZED, assessment(status="approved", illustrative=True), NUMBER),
    (on_period_closed, public.PENALTY_PERIOD_CLOSED, closed(), LEDGER),
]


@pytest.mark.parametrize(("route", "event_type", "data", "number"), EVERY_ROUTE)
async def test_the_same_penalty_event_twice_is_one_dispatch(
    make: Make, store: MemoryStore, route: Route, event_type: str, data: BaseModel, number: str
) -> None:
    entry = InboxEntry("evt-1", "notification.penalties", event_type)
    await route(POLICIES).handle(make(PENALTY, entry), message(event_type, data, "evt-1"))
    with pytest.raises(AlreadyProcessed):  # redelivered: the inbox refuses it
        await route(POLICIES).handle(make(PENALTY, entry), message(event_type, data, "evt-1"))
    await consume(make, route, event_type, data, "evt-1")  # even without the inbox: one dispatch per event

    assert list(store.table("dispatches")) == ["evt-1"]
    assert len(store.audit) == 1 and store.audit[0].reason == f"{event_type} evt-1 from /services/penalty"
    [dispatch] = store.table("dispatches").values()
    assert dispatch.number == number
    assert dispatch.notifications and len({n.recipient for n in dispatch.notifications}) == len(dispatch.notifications)


@pytest.mark.parametrize(("route", "event_type", "data", "number"), EVERY_ROUTE)
async def test_every_penalty_notice_is_in_chinese_and_english_and_fits_the_log(
    make: Make, route: Route, event_type: str, data: BaseModel, number: str
) -> None:
    await consume(make, route, event_type, data)
    for notice in (await sent(make, number)).notifications:
        for text in (notice.subject, notice.body):
            assert re.search(r"[\u4e00-\u9fff]{2,}", text), text  # Chinese
            assert len(re.findall(r"[A-Za-z]{3,}", text)) >= 2, text  # and English words
        assert number.removeprefix("ledger/").replace("/", " ") in notice.subject
        assert len(notice.subject) <= 300 and len(notice.recipient) <= 200 and len(notice.recipient_role) <= 50
    assert len(number) <= 32


# -- routes are policy data -----------------------------------------------------------------


@pytest.mark.parametrize("code", ["F01", "F02"])
def test_every_factory_routes_the_penalty_triggers(code: str) -> None:
    policy = POLICIES.for_factory(code)
    assert policy.recipients("penalty.assessed") == [("department_head", "role:department_head")]
    assert policy.recipients("penalty.appealed") == [("general_manager", "role:general_manager")]
    for trigger in ("penalty.finalized", "penalty.period_closed"):
        assert policy.recipients(trigger) == [("hr", "role:hr"), ("finance", "role:finance")], trigger


def test_an_event_may_name_several_recipients_of_a_role() -> None:
    policy = NotificationPolicy.model_validate(
        {"routes": {"t": ["department_head", "hr"]}, "directory": {"department_head": ["u-x"], "hr": ["u-hr"]}}
    )
    named = {"department_head": ("department_head:A", "department_head:B", "department_head:A")}
    assert policy.recipients("t", named=named) == [
        ("department_head", "department_head:A"),
        ("department_head", "department_head:B"),
        ("hr", "u-hr"),
    ]
    assert policy.recipients("t", named={"department_head": ()})[0] == ("department_head", "u-x")  # none named
    assert policy.recipients("t", named={"department_head": "department:A"})[0] == ("department_head", "department:A")
