"""Deliveries beyond the in-app inbox: e-mail, chat robots, webhooks (DOMAIN.md §5 "Every
delivery is logged and retried").

Through the use cases, the in-memory unit of work and the `Deliverer` on a fake clock, with a
factory policy built here: people of the directory with their locale and channels, an SMTP
relay, a chat robot and a webhook. A notice to a person is an in-app notice in their language
and, if they want it, an e-mail that waits in the log until the delivery worker sends it:
delivered (`notification.delivered`), retried with backoff, or given up
(`notification.failed`), never lost. Quiet hours and the daily digest hold non-urgent e-mail;
a robot's posts are batched and kept within its budget per minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.uow import Actor, MemoryStore
from notification.adapters.publishing import to_public
from notification.adapters.templates import JinjaRenderer
from notification.domain.deliveries import Channel, Delivery, DeliveryStatus
from notification.domain.model import CaseOpened, CaseProgress, Cause, ComplaintSummary, Step
from notification.domain.policy import NotificationPolicy
from notification.entrypoints.workers import DueWorker
from notification.service.delivering import Deliverer
from notification.service.handlers import (
    Notifying,
    dispatches_of,
    notify_opened,
    notify_progress,
    notify_registered,
)
from notification.service.ports import SendFailed
from tests.unit.fakes import factory
from tests.unit.notification.fakes import (
    FakeBudget,
    FakeSender,
    FakeSenders,
    MemoryClaims,
    MemoryNotificationUnitOfWork,
)

# 2026-11-21 16:30 in Shanghai (UTC+8): a working afternoon, outside the quiet hours.
T0 = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
SYSTEM = Actor("system:/services/notification")
READER = Actor("user:auditor", None)
MINUTE = timedelta(minutes=1)

POLICY = NotificationPolicy.model_validate(
    {
        "routes": {
            "complaint.registered": [
                {"to": ["quality_engineer", "rd_after_sales"], "channels": ["in_app", "preferred"]}
            ],
            "complaint.batch_return": [{"to": ["quality_manager"], "channels": ["in_app", "preferred"]}],
            # a group's robot only: one post per event to the QA chat group
            "investigation.opened": [{"to": ["quality_engineer"], "channels": ["robot:qa"]}],
            # the ERP's webhook beside the in-app notice
            "investigation.closed": [{"to": ["quality_engineer"], "channels": ["in_app", "webhook:erp"]}],
        },
        "directory": {
            "quality_engineer": ["role:quality_engineer"],
            "rd_after_sales": ["role:rd_after_sales"],
            "quality_manager": ["role:quality_manager"],
        },
        "people": [
            {
                "id": "u-qe",
                "name": "Engineer Lee",
                "roles": ["quality_engineer"],
                "locale": "en",
                "email": "qe@example.com",
                "channels": ["email"],
            },
            {
                "id": "u-rd",
                "name": "售后 刘工",
                "roles": ["rd_after_sales"],
                "locale": "zh",
                "email": "rd@example.com",
                "channels": ["email"],
                "digest": True,
            },
            {
                "id": "u-qm",
                "name": "周经理",
                "roles": ["quality_manager"],
                "locale": "zh",
                "email": "qm@example.com",
                "channels": ["email"],
            },
        ],
        "email": {"host": "smtp.example.com", "sender": "cqm@example.com"},
        "robots": {"qa": {"kind": "wecom", "url": "https://robot.example.com/send?key=k", "rate_per_minute": 20}},
        "webhooks": {"erp": {"url": "https://erp.example.com/hooks"}},
        "delivery": {
            "timezone": "Asia/Shanghai",
            "max_attempts": 4,
            "backoff_first": "30s",
            "backoff_cap": "10m",
            "quiet_hours": {"start": "22:00", "end": "07:30"},
            "digest_at": "08:30",
        },
    }
)


@dataclass(frozen=True)
class OnePolicy:
    """F01's notification policy; no other factory has one."""

    policy: NotificationPolicy

    def for_factory(self, factory: str) -> NotificationPolicy:
        if factory != "F01":
            raise LookupError(factory)
        return self.policy


NOTIFYING = Notifying(OnePolicy(POLICY), JinjaRenderer())

Make = Callable[..., MemoryNotificationUnitOfWork]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")


@pytest.fixture
def email() -> FakeSender:
    return FakeSender()


@pytest.fixture
def robot() -> FakeSender:
    return FakeSender()


@pytest.fixture
def budget() -> FakeBudget:
    return FakeBudget()


@pytest.fixture
def worker(
    store: MemoryStore, clock: FakeClock, make: Make, email: FakeSender, robot: FakeSender, budget: FakeBudget
) -> DueWorker:
    """The delivery worker as bootstrap wires it, on memory claims and fake senders (no webhook
    sender: `webhook:erp` is not configured where the worker runs)."""
    deliverer = Deliverer(
        units=lambda: make(SYSTEM),
        senders=FakeSenders({"email": email, "wecom/qa": robot}),
        notifying=NOTIFYING,
        budget=budget,
        clock=clock,
    )

    async def deliver(ids: list[str]) -> None:
        await deliverer.deliver(ids)

    return DueWorker("deliveries", claims=MemoryClaims(store, "deliveries"), handle=deliver, clock=clock)


def complaint(n: int = 1, *, batch_return: bool = False) -> ComplaintSummary:
    return ComplaintSummary(
        number=number(n),
        factory="F01",
        company="华东建工",
        product="PC-100",
        phenomenon="贯穿裂缝 through-crack",
        batch_return=batch_return,
    )


def number(n: int) -> str:
    return f"F01-2611-{n:04d}"


async def register(make: Make, n: int = 1, *, batch_return: bool = False) -> None:
    cause = Cause(f"evt-{n}", "complaint.registered")
    await notify_registered(make(SYSTEM), cause, complaint(n, batch_return=batch_return), NOTIFYING, why="t")


def deliveries(store: MemoryStore, channel: Channel | None = None, recipient: str | None = None) -> list[Delivery]:
    rows: list[Delivery] = list(store.table("deliveries").values())
    return sorted(
        (
            d
            for d in rows
            if (channel is None or d.channel is channel) and (recipient is None or d.recipient == recipient)
        ),
        key=lambda d: (d.created_at, d.number, d.recipient),
    )


def the(store: MemoryStore, channel: Channel, recipient: str) -> Delivery:
    [found] = deliveries(store, channel, recipient)
    return found


def published(store: MemoryStore, event_type: str, channel: str | None = None) -> list[dict[str, Any]]:
    events: list[CloudEvent] = [e for e in store.outbox if e.type == event_type]
    return [e.data for e in events if channel is None or e.data["channel"] == channel]


def sent_ids(sender: FakeSender) -> list[str]:
    return [m.id for batch in sender.sent for m in batch]


# -- a person's channels ----------------------------------------------------------------------


async def test_a_person_gets_an_in_app_notice_in_their_language_and_a_pending_email(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    """DOMAIN.md §5 "Every delivery is logged": the e-mail is a row of the log from the start,
    pending until the worker sends it; the in-app notice is delivered as it is written."""
    await register(make)

    notice = the(store, Channel.IN_APP, "u-qe")
    assert (notice.recipient_role, notice.locale, notice.status, notice.delivered_at) == (
        "quality_engineer",
        "en",
        DeliveryStatus.DELIVERED,
        T0,
    )
    assert notice.subject == "New complaint F01-2611-0001: 华东建工 PC-100"  # English only, no Chinese
    zh_notice = the(store, Channel.IN_APP, "u-rd")
    assert (
        zh_notice.locale == "zh" and zh_notice.subject.startswith("新客诉") and "New complaint" not in zh_notice.subject
    )

    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.target, mail.locale, mail.attempts, mail.next_attempt_at, mail.digest) == (
        DeliveryStatus.PENDING,
        "qe@example.com",
        "en",
        0,
        T0,
        False,
    )
    assert (mail.subject, mail.body) == (notice.subject, notice.body)
    # only the in-app notices are delivered yet
    assert {d["recipient"] for d in published(store, "notification.delivered")} == {"u-qe", "u-rd"}
    assert {d["channel"] for d in published(store, "notification.delivered")} == {"in_app"}


async def test_the_worker_sends_a_due_email_and_logs_it_delivered(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    await register(make)
    clock.advance(timedelta(seconds=5))

    assert await worker.drain() == 1  # u-qe's e-mail; u-rd's waits for the digest

    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.attempts, mail.delivered_at, mail.last_error, mail.next_attempt_at) == (
        DeliveryStatus.DELIVERED,
        1,
        clock.now(),
        None,
        None,
    )
    [[message]] = email.sent
    assert (message.id, message.address, message.subject, message.urgent) == (
        mail.id,
        "qe@example.com",
        mail.subject,
        False,
    )
    assert message.data["number"] == number(1) and message.data["event_type"] == "complaint.registered"
    [event] = published(store, "notification.delivered", "email")
    assert (event["id"], event["recipient"], event["status"], event["attempts"], event["cause_id"]) == (
        mail.id,
        "u-qe",
        "delivered",
        1,
        "evt-1",
    )
    assert await worker.drain() == 0  # sent once
    assert len(email.sent) == 1


# -- retries --------------------------------------------------------------------------------


async def test_a_temporary_failure_is_retried_after_the_policys_backoff(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    """DOMAIN.md §5 "Every delivery is logged and retried": 30 s after the first failure, 60 s
    after the second (doubling from `backoff_first`), each attempt counted, its error kept."""
    email.failures = [SendFailed("421 4.7.0 try again later"), SendFailed("451 4.3.0 mail server busy")]
    await register(make)

    assert await worker.drain() == 1
    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.attempts, mail.last_error, mail.next_attempt_at) == (
        DeliveryStatus.PENDING,
        1,
        "421 4.7.0 try again later",
        T0 + timedelta(seconds=30),
    )
    assert published(store, "notification.delivered", "email") == []

    clock.set(T0 + timedelta(seconds=29))
    assert await worker.drain() == 0  # not before its time
    clock.set(T0 + timedelta(seconds=30))
    assert await worker.drain() == 1
    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.attempts, mail.last_error, mail.next_attempt_at) == (
        2,
        "451 4.3.0 mail server busy",
        T0 + timedelta(seconds=90),
    )

    clock.set(T0 + timedelta(seconds=90))
    assert await worker.drain() == 1
    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.attempts, mail.last_error, mail.delivered_at) == (
        DeliveryStatus.DELIVERED,
        3,
        None,
        T0 + timedelta(seconds=90),
    )
    assert sent_ids(email) == [mail.id]
    [event] = published(store, "notification.delivered", "email")
    assert (event["id"], event["attempts"]) == (mail.id, 3)
    assert published(store, "notification.failed") == []


async def test_a_receiver_that_names_when_to_come_back_is_waited_for(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    email.failures = [SendFailed("slow down", retry_after=300)]
    await register(make)
    await worker.drain()
    assert the(store, Channel.EMAIL, "u-qe").next_attempt_at == T0 + timedelta(minutes=5)  # not the 30 s backoff


async def test_a_permanent_failure_is_given_up_at_once_and_stays_in_the_log(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    email.failures = [SendFailed("550 5.1.1 no such user", permanent=True)]
    await register(make)

    assert await worker.drain() == 1
    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.attempts, mail.failed_at, mail.next_attempt_at, mail.last_error) == (
        DeliveryStatus.FAILED,
        1,
        T0,
        None,
        "550 5.1.1 no such user",
    )
    [failed] = published(store, "notification.failed")
    assert (failed["id"], failed["recipient"], failed["channel"], failed["status"], failed["error"]) == (
        mail.id,
        "u-qe",
        "email",
        "failed",
        "550 5.1.1 no such user",
    )
    clock.advance(timedelta(hours=12))  # (before u-rd's digest is due)
    assert await worker.drain() == 0  # never tried again
    assert the(store, Channel.EMAIL, "u-qe").attempts == 1
    # never lost: the log shows it, failed, with its error
    [dispatch] = await dispatches_of(make(READER), number(1), "u-qe")
    assert {(d.channel, d.status, d.last_error) for d in dispatch.deliveries} == {
        (Channel.IN_APP, DeliveryStatus.DELIVERED, None),
        (Channel.EMAIL, DeliveryStatus.FAILED, "550 5.1.1 no such user"),
    }


async def test_running_out_of_attempts_gives_the_delivery_up(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    """`max_attempts: 4`: the fourth failure is the last; `notification.failed` tells of it."""
    email.failures = [SendFailed(f"421 busy ({i})") for i in range(1, 6)]
    await register(make)

    for _ in range(4):
        mail = the(store, Channel.EMAIL, "u-qe")
        assert mail.status is DeliveryStatus.PENDING and mail.next_attempt_at is not None
        clock.set(mail.next_attempt_at)
        assert await worker.drain() == 1

    mail = the(store, Channel.EMAIL, "u-qe")
    assert (mail.status, mail.attempts, mail.last_error, mail.next_attempt_at) == (
        DeliveryStatus.FAILED,
        4,
        "421 busy (4)",
        None,
    )
    assert len(email.failures) == 1  # tried exactly four times
    [failed] = published(store, "notification.failed")
    assert (failed["id"], failed["attempts"], failed["error"]) == (mail.id, 4, "421 busy (4)")
    clock.advance(timedelta(hours=12))  # (before u-rd's digest is due)
    assert await worker.drain() == 0
    assert the(store, Channel.EMAIL, "u-qe").status is DeliveryStatus.FAILED  # kept in the log


async def test_a_channel_not_configured_fails_permanently_with_a_clear_error(
    make: Make, store: MemoryStore, worker: DueWorker, clock: FakeClock
) -> None:
    """The closing's route names `webhook:erp`; where the worker runs no sender has it."""
    closed = CaseProgress(number(1), "F01", Step.CLOSED, outcome="resolved", reason="客户接受")
    await notify_progress(make(SYSTEM), Cause("evt-c", "investigation.closed"), closed, NOTIFYING, why="t")
    hook = the(store, Channel.WEBHOOK, "webhook:erp")
    assert (hook.status, hook.target, hook.locale) == (DeliveryStatus.PENDING, "erp", "both")

    assert await worker.drain() == 1
    hook = the(store, Channel.WEBHOOK, "webhook:erp")
    assert hook.status is DeliveryStatus.FAILED and hook.attempts == 1
    assert hook.last_error is not None and hook.last_error.startswith("channel not configured")
    assert "webhook/erp" in hook.last_error
    [failed] = published(store, "notification.failed")
    assert (failed["channel"], failed["error"]) == ("webhook", hook.last_error)
    # the in-app notice beside it is unaffected
    assert the(store, Channel.IN_APP, "u-qe").status is DeliveryStatus.DELIVERED


# -- quiet hours and the digest -------------------------------------------------------------


async def test_quiet_hours_hold_a_non_urgent_email_until_they_end_while_an_urgent_one_goes_at_once(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    """Quiet hours 22:00-07:30 Asia/Shanghai: a batch return registered at 22:30 local time."""
    night = datetime(2026, 11, 21, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    clock.set(night)
    await register(make, batch_return=True)

    urgent = the(store, Channel.EMAIL, "u-qm")
    held = the(store, Channel.EMAIL, "u-qe")
    assert urgent.urgent and urgent.next_attempt_at == night
    assert not held.urgent
    assert held.next_attempt_at == datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # 07:30 the next morning in Shanghai
    assert the(store, Channel.IN_APP, "u-qe").status is DeliveryStatus.DELIVERED  # in-app never waits

    assert await worker.drain() == 1
    assert sent_ids(email) == [urgent.id]
    assert [m.urgent for b in email.sent for m in b] == [True]

    clock.set(datetime(2026, 11, 21, 23, 29, 59, tzinfo=UTC))
    assert await worker.drain() == 0
    clock.set(datetime(2026, 11, 21, 23, 30, tzinfo=UTC))
    assert await worker.drain() == 1
    assert sent_ids(email) == [urgent.id, held.id]
    assert the(store, Channel.EMAIL, "u-qe").status is DeliveryStatus.DELIVERED


async def test_a_person_on_the_digest_gets_one_email_for_several_notices_at_digest_time(
    make: Make, store: MemoryStore, worker: DueWorker, email: FakeSender, clock: FakeClock
) -> None:
    for n in (1, 2, 3):
        clock.set(T0 + n * timedelta(minutes=10))
        await register(make, n)
    waiting = deliveries(store, Channel.EMAIL, "u-rd")
    digest_at = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # 08:30 the next morning in Shanghai
    assert [(d.digest, d.status, d.next_attempt_at) for d in waiting] == [(True, DeliveryStatus.PENDING, digest_at)] * 3

    clock.set(digest_at - timedelta(seconds=1))
    assert await worker.drain() == 3  # u-qe's three e-mails, one by one; nothing of u-rd's yet
    assert sorted(sent_ids(email)) == sorted(d.id for d in deliveries(store, Channel.EMAIL, "u-qe"))
    assert all(d.status is DeliveryStatus.PENDING for d in deliveries(store, Channel.EMAIL, "u-rd"))
    email.sent.clear()

    clock.set(digest_at)
    assert await worker.drain() == 3
    [[digest]] = email.sent  # one e-mail
    assert digest.address == "rd@example.com"
    assert digest.subject == "客诉管理每日汇总 2026-11-22（3 条）"
    assert [number(n) in digest.body for n in (1, 2, 3)] == [True] * 3
    assert digest.body.index(number(1)) < digest.body.index(number(2)) < digest.body.index(number(3))
    assert "16:40" in digest.body  # each notice at its local time
    done = deliveries(store, Channel.EMAIL, "u-rd")
    assert {(d.status, d.delivered_at) for d in done} == {(DeliveryStatus.DELIVERED, digest_at)}
    assert {e["id"] for e in published(store, "notification.delivered", "email") if e["recipient"] == "u-rd"} == {
        d.id for d in done
    }


# -- a chat group's robot -------------------------------------------------------------------


async def open_cases(make: Make, count: int) -> None:
    for n in range(1, count + 1):
        case = CaseOpened(number(n), "F01", ())
        await notify_opened(make(SYSTEM), Cause(f"opened-{n}", "investigation.opened"), case, NOTIFYING, why="t")


async def test_a_robot_sends_within_its_budget_and_postpones_the_rest_to_the_next_minute(
    make: Make, store: MemoryStore, worker: DueWorker, robot: FakeSender, budget: FakeBudget, clock: FakeClock
) -> None:
    """25 notices to the QA group, one post each, 20 posts a minute: 20 now, 5 in the next
    minute, none dropped, none counted as a failed attempt."""
    await open_cases(make, 25)
    posts = deliveries(store, Channel.WECOM)
    assert len(posts) == 25 and {(d.recipient, d.target, d.locale) for d in posts} == {("robot:qa", "qa", "both")}
    assert deliveries(store, Channel.IN_APP) == []  # the route names the robot alone

    assert await worker.drain() == 25
    assert len(robot.sent) == 20
    postponed = [d for d in deliveries(store, Channel.WECOM) if d.status is DeliveryStatus.PENDING]
    assert len(postponed) == 5
    assert {(d.next_attempt_at, d.attempts, d.last_error) for d in postponed} == {(T0 + MINUTE, 0, None)}
    assert budget.spent == {("F01/qa", T0): 20}

    clock.set(T0 + MINUTE)
    assert await worker.drain() == 5
    assert len(robot.sent) == 25
    assert sorted(sent_ids(robot)) == sorted(d.id for d in posts)  # each exactly once
    assert {d.status for d in deliveries(store, Channel.WECOM)} == {DeliveryStatus.DELIVERED}
    assert len(published(store, "notification.delivered", "wecom")) == 25
    assert published(store, "notification.failed") == []


async def test_a_robot_joins_notices_into_posts_and_each_post_spends_one_unit_of_budget(
    make: Make, store: MemoryStore, worker: DueWorker, robot: FakeSender, budget: FakeBudget, clock: FakeClock
) -> None:
    """Ten notices to a post; 18 of the minute's 20 posts already spent (e.g. by another replica):
    two posts (20 notices) go now, the third (5 notices) waits for the next minute."""
    robot.per_batch = 10
    budget.spent[("F01/qa", T0)] = 18
    await open_cases(make, 25)

    assert await worker.drain() == 25
    assert [len(batch) for batch in robot.sent] == [10, 10]
    assert budget.spent[("F01/qa", T0)] == 20
    waiting = [d for d in deliveries(store, Channel.WECOM) if d.status is DeliveryStatus.PENDING]
    assert len(waiting) == 5 and {d.next_attempt_at for d in waiting} == {T0 + MINUTE}

    clock.set(T0 + MINUTE)
    assert await worker.drain() == 5
    assert [len(batch) for batch in robot.sent] == [10, 10, 5]
    assert budget.spent[("F01/qa", T0 + MINUTE)] == 1
    assert len(set(sent_ids(robot))) == 25
    assert {d.status for d in deliveries(store, Channel.WECOM)} == {DeliveryStatus.DELIVERED}


async def test_a_failed_robot_post_is_retried_for_every_notice_it_carried(
    make: Make, store: MemoryStore, worker: DueWorker, robot: FakeSender, clock: FakeClock
) -> None:
    robot.per_batch = 10
    robot.failures = [SendFailed("platform busy (45009)")]
    await open_cases(make, 3)

    assert await worker.drain() == 3
    assert {(d.status, d.attempts, d.last_error) for d in deliveries(store, Channel.WECOM)} == {
        (DeliveryStatus.PENDING, 1, "platform busy (45009)")
    }
    clock.set(T0 + timedelta(seconds=30))
    assert await worker.drain() == 3
    assert [len(batch) for batch in robot.sent] == [3]
    assert {d.status for d in deliveries(store, Channel.WECOM)} == {DeliveryStatus.DELIVERED}


# -- one delivery per recipient and channel -------------------------------------------------


async def test_a_person_on_both_routes_of_a_batch_return_hears_the_urgent_notice(
    store: MemoryStore, clock: FakeClock
) -> None:
    """seed 001 §5.1.2.4: the quality head is told of a batch return at once, even when they are
    also a quality engineer (whom the registration's ordinary notice is for)."""
    both = POLICY.model_copy(
        update={
            "people": [
                POLICY.people[2].model_copy(update={"roles": ["quality_engineer", "quality_manager"]}),
            ]
        }
    )
    make = factory(MemoryNotificationUnitOfWork, store, clock, translate=to_public, source="/services/notification")
    notifying = Notifying(OnePolicy(both), JinjaRenderer())
    await notify_registered(
        make(SYSTEM), Cause("evt-1", "complaint.registered"), complaint(batch_return=True), notifying, why="t"
    )

    mine = deliveries(store, recipient="u-qm")
    assert sorted((d.channel.value, d.urgent, d.recipient_role) for d in mine) == [
        ("email", True, "quality_manager"),
        ("in_app", True, "quality_manager"),
    ]
    assert all("批量退货" in d.subject for d in mine)
    assert the(store, Channel.EMAIL, "u-qm").next_attempt_at == T0
