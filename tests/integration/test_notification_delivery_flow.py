"""Deliveries end to end inside the notification service, to real local receivers: a real SMTP
server (aiosmtpd) and a real HTTP server standing in for a DingTalk robot and a webhook
consumer. DOMAIN.md §5: "Channels: e-mail, webhook (WeCom/DingTalk/Slack style), in-app inbox.
Every delivery is logged and retried." On SQLite and PostgreSQL, on a fake clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from standardwebhooks.webhooks import Webhook

from cqm_shared.clock import FakeClock
from cqm_shared.db import upgrade
from cqm_shared.uow import system_actor
from notification.adapters.orm import notifications
from notification.bootstrap import NotificationService, bootstrap
from notification.config import NotificationSettings
from notification.domain.model import Cause, ComplaintSummary
from notification.service.handlers import notify_registered
from tests.channel_receivers import HttpReceiver, Reply, SmtpReceiver
from tests.conftest import POLICY_DIR
from tests.helpers import migrations_dir

SECRET = "SEC-dingtalk-test-secret"
WHSEC = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes!!!!").decode()
SYSTEM = system_actor("/services/notification")


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver(Reply(200, json={"errcode": 0, "errmsg": "ok"})) as receiver:
        yield receiver


@pytest.fixture
def policy_dir(tmp_path: Path, smtp: SmtpReceiver, http: HttpReceiver) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder)
    f01 = yaml.safe_load((folder / "F01.yaml").read_text(encoding="utf-8"))
    f01["notification"] = {
        "routes": {
            "complaint.registered": [
                {"to": ["quality_engineer"], "channels": ["in_app", "preferred", "robot:qa", "webhook:erp"]}
            ]
        },
        "directory": {"quality_engineer": ["role:quality_engineer"]},
        "people": [
            {
                "id": "li.qe",
                "name": "李工",
                "roles": ["quality_engineer"],
                "locale": "zh",
                "email": "li@factory.example",
                "channels": ["email"],
            },
            {"id": "ann.qe", "name": "Ann", "roles": ["quality_engineer"], "locale": "en"},
        ],
        "email": smtp.email_settings().model_dump(mode="json"),
        "robots": {"qa": {"kind": "dingtalk", "url": http.url_for("/robot/send?access_token=abc"), "secret": SECRET}},
        "webhooks": {"erp": {"url": http.url_for("/hooks/erp"), "secret": WHSEC}},
        "delivery": {"max_attempts": 2, "backoff_first": "30s", "quiet_hours": None},
    }
    (folder / "F01.yaml").write_text(yaml.safe_dump(f01, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture
def service(database_url: str, policy_dir: Path) -> Iterator[NotificationService]:
    upgrade(migrations_dir("notification"), database_url)
    settings = NotificationSettings(
        environment="test", database_url=database_url, policy_dir=policy_dir, workers=False, queue_prefix="t."
    )
    # Now, not a fixed date: the Standard Webhooks verifier refuses a signature timestamp older than 5 minutes.
    yield bootstrap(settings, clock=FakeClock(datetime.now(UTC).replace(microsecond=0)))


def complaint(number: str) -> ComplaintSummary:
    return ComplaintSummary(number, "F01", "华东建工", "PC-100", "贯穿裂缝 through-crack")


async def register(service: NotificationService, number: str, event_id: str) -> None:
    cause = Cause(event_id, "complaint.registered")
    await notify_registered(service.units_of_work(SYSTEM, None), cause, complaint(number), service.notifying, why="t")


async def log(service: NotificationService, number: str) -> dict[tuple[str, str], Any]:
    n = notifications
    async with service.runtime.sessions() as session:
        rows = (await session.execute(sa.select(n).where(n.c.number == number))).all()
    return {(r.recipient, r.channel): r for r in rows}


async def published(service: NotificationService, event_type: str) -> list[dict[str, Any]]:
    async with service.runtime.sessions() as session:
        rows = (await session.execute(sa.text("SELECT body FROM outbox"))).scalars().all()
    return [e["data"] for e in map(json.loads, rows) if e["type"] == event_type]


def clock_of(service: NotificationService) -> FakeClock:
    assert isinstance(service.clock, FakeClock)
    return service.clock


async def test_one_event_reaches_the_inbox_the_mailbox_the_robot_and_the_webhook(
    service: NotificationService, smtp: SmtpReceiver, http: HttpReceiver
) -> None:
    await register(service, "F01-2611-0101", "evt-101")

    assert await service.delivery_worker.drain() == 3  # e-mail, robot and webhook; in-app needs no sending
    [mail] = await smtp.wait_for_messages(1)
    assert mail.message()["To"] == "li@factory.example"
    assert "新客诉" in str(mail.message()["Subject"]) and "F01-2611-0101" in str(mail.message()["Subject"])

    robot = next(r for r in http.requests if r.path == "/robot/send")
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{robot.query['timestamp']}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert robot.query["sign"] == expected  # DingTalk's own computation
    assert "F01-2611-0101" in robot.json()["markdown"]["text"]

    hook = next(r for r in http.requests if r.path == "/hooks/erp")
    payload = Webhook(WHSEC).verify(hook.body, hook.headers)  # the reference verifier
    assert payload["data"]["number"] == "F01-2611-0101"

    rows = await log(service, "F01-2611-0101")
    assert {key: r.status for key, r in rows.items()} == {
        ("li.qe", "in_app"): "delivered",
        ("ann.qe", "in_app"): "delivered",
        ("li.qe", "email"): "delivered",
        ("robot:qa", "dingtalk"): "delivered",
        ("webhook:erp", "webhook"): "delivered",
    }
    assert rows[("ann.qe", "in_app")].locale == "en" and "New complaint" in rows[("ann.qe", "in_app")].subject
    assert rows[("li.qe", "in_app")].locale == "zh" and "New complaint" not in rows[("li.qe", "in_app")].subject
    assert len(await published(service, "notification.delivered")) == 5
    assert hook.headers["webhook-id"] == rows[("webhook:erp", "webhook")].id


async def test_a_refused_mail_is_retried_after_the_backoff_and_then_delivered(
    service: NotificationService, smtp: SmtpReceiver
) -> None:
    smtp.refuse(451)
    start = clock_of(service).now()
    await register(service, "F01-2611-0102", "evt-102")
    await service.delivery_worker.drain()

    mail = (await log(service, "F01-2611-0102"))[("li.qe", "email")]
    assert (mail.status, mail.attempts) == ("pending", 1) and "451" in mail.last_error
    assert mail.next_attempt_at == start + timedelta(seconds=30)
    assert await service.delivery_worker.drain() == 0  # not before the backoff

    clock_of(service).advance(timedelta(seconds=30))
    assert await service.delivery_worker.drain() == 1
    mail = (await log(service, "F01-2611-0102"))[("li.qe", "email")]
    assert (mail.status, mail.attempts, mail.last_error) == ("delivered", 2, None)
    [received] = await smtp.wait_for_messages(1)
    assert "F01-2611-0102" in str(received.message()["Subject"])


async def test_a_webhook_that_keeps_failing_is_given_up_and_reported_never_lost(
    service: NotificationService, http: HttpReceiver
) -> None:
    http.respond(Reply(503), count=2, path="/hooks/erp")
    await register(service, "F01-2611-0103", "evt-103")
    await service.delivery_worker.drain()
    clock_of(service).advance(timedelta(minutes=5))
    await service.delivery_worker.drain()

    hook = (await log(service, "F01-2611-0103"))[("webhook:erp", "webhook")]
    assert (hook.status, hook.attempts) == ("failed", 2) and "503" in hook.last_error
    [failed] = await published(service, "notification.failed")
    assert (failed["recipient"], failed["channel"], failed["attempts"]) == ("webhook:erp", "webhook", 2)
    assert "503" in failed["error"]
