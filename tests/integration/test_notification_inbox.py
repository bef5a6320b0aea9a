"""The in-app inbox (站内消息), the deadline timers and the delivery log through the real
notification app on SQLite and PostgreSQL (DOMAIN.md §5 "Every delivery is logged and retried").

The policies are a copy of deploy/policies with people added to F01's directory: two quality
engineers (one of them also in 品管部, wanting e-mail through a relay that is down). Notices are
written through the use cases with the app's own units of work, and one F02 registration is
consumed from the broker as intake would publish it.

A user's inbox holds the notices to them and to their roles' and departments' shared inboxes,
in the factories they may see, newest first, with how many are unread; another user's notices
and another factory's never show. Reading is per person and idempotent.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from cqm_shared.clock import FakeClock
from cqm_shared.uow import system_actor
from notification.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification.domain.model import CaseOpened, Cause, ComplaintSummary, Deadline
from notification.domain.timers import DeadlineFact
from notification.service.handlers import DeadlineUpdate, notify_opened, notify_registered
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, publish, running_service, token, wait_for
from tests.integration.events import registered
from tests.unit.fakes import T0

NUMBER = "F01-2611-0001"
THEIRS = "F02-2611-0001"
HOUR = timedelta(hours=1)
SYSTEM = system_actor("/services/notification")
PROBLEM = "application/problem+json"


def closed_port() -> int:
    """A port nothing listens on (bound, then released): the e-mail relay is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def f01_notification() -> dict[str, Any]:
    return {
        "people": [
            {
                "id": "u-qe-1",
                "name": "品质 李工",
                "roles": ["quality_engineer"],
                "departments": ["品管部"],
                "locale": "zh",
                "email": "qe1@example.com",
                "channels": ["email"],
            },
            {"id": "u-qe-2", "name": "Engineer Ng", "roles": ["quality_engineer"], "locale": "en"},
        ],
        "email": {"host": "127.0.0.1", "port": closed_port(), "sender": "cqm@example.com", "timeout": 2},
    }


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    f01 = yaml.safe_load((target / "F01.yaml").read_text(encoding="utf-8"))
    f01["notification"] = f01_notification()
    (target / "F01.yaml").write_text(yaml.safe_dump(f01, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def app(
    database_url: str, broker_ns: BrokerNamespace, policy_dir: Path, clock: FakeClock
) -> AsyncIterator[FastAPI]:
    # workers off: the delivery worker is drained by the test, on the app's fake clock
    async with running_service(
        "notification", database_url, broker_ns, app_kwargs={"clock": clock}, policy_dir=policy_dir, workers=False
    ) as running:
        yield running


def user(app: FastAPI, subject: str, roles: list[str], factories: str | list[str] = "F01") -> httpx.AsyncClient:
    return asgi_client(app, {"Authorization": f"Bearer {token(roles, factories, subject)}"})


def uow(app: FastAPI) -> SqlNotificationUnitOfWork:
    made = app.state.units_of_work(SYSTEM, None)
    assert isinstance(made, SqlNotificationUnitOfWork)
    return made


@dataclass(frozen=True)
class Inbox:
    unread: int
    items: list[dict[str, Any]]

    def by(self, event_type: str, recipient: str) -> dict[str, Any]:
        [found] = [i for i in self.items if i["event_type"] == event_type and i["recipient"] == recipient]
        return found

    @property
    def seen(self) -> list[tuple[str, str]]:
        return [(i["event_type"], i["recipient"]) for i in self.items]


async def inbox(client: httpx.AsyncClient, **params: Any) -> Inbox:
    answer = await client.get("/api/v1/inbox", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return Inbox(body["unread"], body["items"])


async def fill(app: FastAPI, broker_ns: BrokerNamespace, clock: FakeClock) -> None:
    """A registration at T0, the case opened an hour later (with its first-response deadline),
    and an F02 registration consumed from the broker."""
    complaint = ComplaintSummary(NUMBER, "F01", "华东建工", "PC-100", "露筋 exposed rebar")
    await notify_registered(
        uow(app), Cause("evt-1", "complaint.registered"), complaint, app.state.service.notifying, why="t"
    )
    clock.set(T0 + HOUR)
    due = T0 + 25 * HOUR
    deadlines = DeadlineUpdate(
        key=f"case:{NUMBER}",
        factory="F01",
        number=NUMBER,
        producer="investigation",
        version=1,
        deadlines=(DeadlineFact("first_response", due, "pending", 1, "seed 001 §1.2.1"),),
    )
    opened = CaseOpened(NUMBER, "F01", (Deadline("first_response", due),))
    await notify_opened(
        uow(app),
        Cause("evt-2", "investigation.opened"),
        opened,
        app.state.service.notifying,
        why="t",
        deadlines=deadlines,
    )
    event = registered(number=THEIRS, factory="F02")
    await publish(broker_ns, event.routing_key, event.to_json(), message_id=str(event.id))

    async def consumed() -> int:
        async with user(app, "u-ho", ["quality_engineer"], "*") as c:
            return len([i for i in (await inbox(c)).items if i["factory"] == "F02"])

    await wait_for(consumed, what="the F02 registration in the head office QE's inbox")


async def test_a_users_inbox_shows_theirs_and_their_roles_newest_first_never_anyone_elses(
    app: FastAPI, broker_ns: BrokerNamespace, clock: FakeClock
) -> None:
    await fill(app, broker_ns, clock)

    async with user(app, "u-qe-1", ["quality_engineer", "customer_service"]) as c:
        mine = await inbox(c)
    # to them (a person of the directory) and to customer service's shared inbox (no person
    # holds that role); not u-qe-2's, not R&D after-sales', not F02's role:quality_engineer
    assert sorted(mine.seen[:2]) == [
        ("investigation.opened", "role:customer_service"),
        ("investigation.opened", "u-qe-1"),
    ]
    assert mine.seen[2:] == [("complaint.registered", "u-qe-1")]
    assert [datetime.fromisoformat(i["created_at"]) for i in mine.items] == [T0 + HOUR, T0 + HOUR, T0]
    assert mine.unread == 3 and {(i["read"], i["read_at"]) for i in mine.items} == {(False, None)}
    assert {i["factory"] for i in mine.items} == {"F01"}
    notice = mine.by("complaint.registered", "u-qe-1")
    assert (notice["number"], notice["urgent"]) == (NUMBER, False)
    assert notice["subject"] == f"新客诉 {NUMBER}：华东建工 PC-100"  # u-qe-1 reads Chinese only
    shared = mine.by("investigation.opened", "role:customer_service")
    assert "调查立案" in shared["subject"] and "Investigation opened" in shared["subject"]  # a shared inbox: both

    async with user(app, "u-qe-2", ["quality_engineer"]) as c:
        theirs = await inbox(c)
    assert theirs.seen == [("investigation.opened", "u-qe-2"), ("complaint.registered", "u-qe-2")]
    assert theirs.items[1]["subject"] == f"New complaint {NUMBER}: 华东建工 PC-100"
    assert not {i["id"] for i in theirs.items} & {i["id"] for i in mine.items}

    # F02's quality engineers' shared inbox: seen from F02 and head office, never from F01
    async with user(app, "u-f02", ["quality_engineer"], "F02") as c:
        f02 = await inbox(c)
    assert f02.seen == [("complaint.registered", "role:quality_engineer")] and f02.items[0]["number"] == THEIRS
    async with user(app, "u-f01", ["quality_engineer"]) as c:
        assert (await inbox(c)) == Inbox(0, [])  # F01's QE notices went to its people, by name


async def test_reading_a_notice_marks_it_for_the_reader_alone_and_twice_changes_nothing(
    app: FastAPI, broker_ns: BrokerNamespace, clock: FakeClock
) -> None:
    await fill(app, broker_ns, clock)
    async with user(app, "u-qe-1", ["quality_engineer", "customer_service"]) as c:
        before = await inbox(c)
        shared = before.by("investigation.opened", "role:customer_service")

        clock.set(T0 + 2 * HOUR)
        first = await c.post(f"/api/v1/inbox/{shared['id']}/read")
        clock.set(T0 + 3 * HOUR)
        again = await c.post(f"/api/v1/inbox/{shared['id']}/read")
        after = await inbox(c)
        unread = await inbox(c, unread="true")

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert first.json() == again.json()  # the same read_at twice
    assert first.json()["id"] == shared["id"]
    assert datetime.fromisoformat(first.json()["read_at"]) == T0 + 2 * HOUR
    read = after.by("investigation.opened", "role:customer_service")
    assert (read["read"], datetime.fromisoformat(read["read_at"])) == (True, T0 + 2 * HOUR)
    assert after.unread == 2 and before.unread == 3
    assert [i["id"] for i in unread.items] == [i["id"] for i in after.items if not i["read"]]
    assert unread.unread == 2 and shared["id"] not in {i["id"] for i in unread.items}

    # a shared inbox is read by each person on their own
    async with user(app, "u-cs", ["customer_service"]) as c:
        others = await inbox(c)
    assert others.seen == [("investigation.opened", "role:customer_service")]
    assert (others.unread, others.items[0]["read"]) == (1, False)


async def test_a_notice_not_in_the_callers_inbox_is_not_found(
    app: FastAPI, broker_ns: BrokerNamespace, clock: FakeClock
) -> None:
    await fill(app, broker_ns, clock)
    async with user(app, "u-qe-2", ["quality_engineer"]) as c:
        not_mine = (await inbox(c)).items[0]["id"]
    async with user(app, "u-ho", ["quality_engineer"], "*") as c:
        f02 = next(i["id"] for i in (await inbox(c)).items if i["factory"] == "F02")

    async with user(app, "u-qe-1", ["quality_engineer", "customer_service"]) as c:
        for notice in (not_mine, f02, "no-such-notice"):
            answer = await c.post(f"/api/v1/inbox/{notice}/read")
            assert answer.status_code == 404, (notice, answer.text)
            assert answer.headers["content-type"] == PROBLEM
        assert (await inbox(c)).unread == 3
    async with user(app, "u-qe-2", ["quality_engineer"]) as c:
        assert (await inbox(c)).unread == 2  # u-qe-1's attempt marked nothing of theirs


async def test_a_cases_timers_and_its_delivery_log(app: FastAPI, broker_ns: BrokerNamespace, clock: FakeClock) -> None:
    """The delivery log shows what waits and why: u-qe-1's e-mails failed once (the relay is
    down), are kept pending with the error, and retried 30 s later."""
    await fill(app, broker_ns, clock)
    assert await app.state.service.delivery_worker.drain() == 2  # u-qe-1's two e-mails

    async with user(app, "u-qm", ["quality_manager"]) as c:
        timers = await c.get("/api/v1/timers", params={"complaint": NUMBER})
        log = await c.get("/api/v1/notifications", params={"complaint": NUMBER})
        mine = await c.get("/api/v1/notifications", params={"complaint": NUMBER, "recipient": "u-qe-1"})
    assert timers.status_code == 200, timers.text
    learned, due = T0 + HOUR, T0 + 25 * HOUR
    assert [(t["kind"], t["level"], datetime.fromisoformat(t["fire_at"])) for t in timers.json()] == [
        ("reminder", 0, learned + 12 * HOUR),
        ("reminder", 0, learned + timedelta(hours=19, minutes=12)),
        ("breach", 0, due),
        ("escalation", 1, due + 4 * HOUR),
        ("escalation", 2, due + 24 * HOUR),
        ("escalation", 3, due + 72 * HOUR),
    ]
    assert {(t["milestone"], t["state"], t["number"], t["factory"], t["producer"]) for t in timers.json()} == {
        ("first_response", "pending", NUMBER, "F01", "investigation")
    }

    assert log.status_code == 200, log.text
    rows = log.json()
    assert {(r["event_type"], r["recipient"], r["channel"]) for r in rows} == {
        ("complaint.registered", "u-qe-1", "in_app"),
        ("complaint.registered", "u-qe-1", "email"),
        ("complaint.registered", "u-qe-2", "in_app"),
        ("complaint.registered", "role:rd_after_sales", "in_app"),
        ("investigation.opened", "u-qe-1", "in_app"),
        ("investigation.opened", "u-qe-1", "email"),
        ("investigation.opened", "u-qe-2", "in_app"),
        ("investigation.opened", "role:customer_service", "in_app"),
    }
    in_app = [r for r in rows if r["channel"] == "in_app"]
    assert {(r["status"], r["attempts"], r["last_error"]) for r in in_app} == {("delivered", 1, None)}
    emails = [r for r in rows if r["channel"] == "email"]
    assert {(r["status"], r["attempts"], r["target"]) for r in emails} == {("pending", 1, "qe1@example.com")}
    assert all(r["last_error"] for r in emails)
    assert {datetime.fromisoformat(r["next_attempt_at"]) for r in emails} == {T0 + HOUR + timedelta(seconds=30)}
    assert mine.status_code == 200 and {r["id"] for r in mine.json()} == {
        r["id"] for r in rows if r["recipient"] == "u-qe-1"
    }

    async with user(app, "u-f02", ["quality_manager"], "F02") as c:
        assert (await c.get("/api/v1/timers", params={"complaint": NUMBER})).json() == []
        assert (await c.get("/api/v1/notifications", params={"complaint": NUMBER})).json() == []
