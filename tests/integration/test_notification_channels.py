"""The delivery channels against real local servers: e-mail through an SMTP server (aiosmtpd),
chat robots and webhooks through an HTTP server, each signature checked the way the platform
(or the Standard Webhooks reference library) checks it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cqm_shared.clock import FakeClock, SystemClock
from notification.adapters.channels import (
    ChannelSenders,
    DeliveryFailed,
    DingTalkRobot,
    FeishuRobot,
    Outgoing,
    RobotSender,
    SmtpSender,
    WebhookSender,
    WeComRobot,
    batch,
    message_id,
    render_markdown,
    robot_sender,
)
from notification.domain.policy import NotificationPolicy, RobotSettings, WebhookSettings
from tests.channel_receivers import (
    DINGTALK_OK,
    FEISHU_OK,
    WECOM_OK,
    HttpReceiver,
    Reply,
    SmtpReceiver,
    TlsFiles,
    self_signed,
)

T0 = datetime(2026, 3, 2, 8, 30, 15, 123000, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DINGTALK_SECRET = "SEC3f9a0c1b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b"
FEISHU_SECRET = "qYk7Hn2mZpR4sT6vW8xA0c"

OVERDUE = Outgoing(
    id="dlv-0001",
    subject="客诉 CQ-2026-0001 的 8D 报告已逾期 / 8D report of CQ-2026-0001 is overdue",
    body="责任部门：总装车间\nResponsible: final assembly\n截止 Due: 2026-03-01 18:00",
    address="qe.zhang@factory.example",
    urgent=True,
    data={"event_type": "complaint.deadline_breached", "number": "CQ-2026-0001", "factory": "F01"},
)
REMINDER = Outgoing(
    id="dlv-0002",
    subject="提醒：围堵措施即将到期 / Reminder: containment due soon",
    body="还剩 4 小时 / 4 hours left",
    address="qm.li@factory.example",
)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return self_signed(tmp_path / "tls")


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


async def failure_of(sender: Any, messages: list[Outgoing]) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await sender.send(messages)
    return caught.value


# --- e-mail ----------------------------------------------------------------------------------


async def test_email_arrives_with_chinese_subject_and_stable_headers(smtp: SmtpReceiver, clock: FakeClock) -> None:
    sender = SmtpSender(smtp.email_settings(), clock=clock)

    await sender.send([OVERDUE, REMINDER])

    first, second = smtp.messages
    assert first.rcpt_tos == ("qe.zhang@factory.example",)
    assert first.mail_from == "cqm@factory.example"
    mail = first.message()
    assert mail["Subject"] == OVERDUE.subject
    assert mail["From"].addresses[0].addr_spec == "cqm@factory.example"
    assert mail["From"].addresses[0].display_name == "客诉质量管理 CQM"
    assert mail["To"] == "qe.zhang@factory.example"
    assert parsedate_to_datetime(mail["Date"]) == T0.replace(microsecond=0)
    assert mail["Message-ID"] == "<dlv-0001.cqm@factory.example>" == message_id("dlv-0001", "factory.example")
    assert mail["X-Priority"] == "1"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().rstrip("\n") == OVERDUE.body
    # the subject travelled encoded (RFC 2047), not as raw 8-bit bytes
    assert "客诉".encode() not in first.data.split(b"\r\n\r\n", 1)[0]

    assert second.message()["Subject"] == REMINDER.subject
    assert second.message()["X-Priority"] is None
    assert second.message()["Message-ID"] == "<dlv-0002.cqm@factory.example>"


async def test_greylisting_451_is_temporary_and_the_retry_keeps_the_message_id(
    smtp: SmtpReceiver, clock: FakeClock
) -> None:
    first_try = SmtpSender(smtp.email_settings(), clock=clock)
    smtp.refuse(451, at="data")

    failure = await failure_of(first_try, [OVERDUE])

    assert not failure.permanent
    assert (failure.sent, failure.failed) == ([], OVERDUE.id)
    assert "451" in str(failure)
    assert smtp.messages == []

    clock.advance(timedelta(minutes=5))  # the retry, later and from another worker
    await SmtpSender(smtp.email_settings(), clock=clock).send([OVERDUE])

    (mail,) = smtp.messages
    assert mail.message()["Message-ID"] == first_try.message(OVERDUE)["Message-ID"]
    assert parsedate_to_datetime(mail.message()["Date"]) == (T0 + timedelta(minutes=5)).replace(microsecond=0)


@pytest.mark.parametrize("at", ["rcpt", "data"])
async def test_550_is_permanent(smtp: SmtpReceiver, clock: FakeClock, at: Any) -> None:
    smtp.refuse(550, at=at)

    failure = await failure_of(SmtpSender(smtp.email_settings(), clock=clock), [OVERDUE])

    assert failure.permanent
    assert failure.failed == OVERDUE.id
    assert smtp.messages == []


async def test_a_failure_in_a_list_names_what_got_through(smtp: SmtpReceiver, clock: FakeClock) -> None:
    third = Outgoing("dlv-0003", "第三条 / third", "…", "qa@factory.example")
    smtp.refuse(451, after=1)

    failure = await failure_of(SmtpSender(smtp.email_settings(), clock=clock), [OVERDUE, REMINDER, third])

    assert (failure.sent, failure.failed, failure.permanent) == ([OVERDUE.id], REMINDER.id, False)
    assert [m.message()["Message-ID"] for m in smtp.messages] == ["<dlv-0001.cqm@factory.example>"]


async def test_starttls_with_a_verified_certificate_and_login(tls_files: TlsFiles, clock: FakeClock) -> None:
    with SmtpReceiver(security="starttls", tls=tls_files, users={"cqm-relay": "s3cret"}) as smtp:
        settings = smtp.email_settings(username="cqm-relay", validate_certs=True)
        sender = SmtpSender(settings, "s3cret", clock=clock, cert_bundle=str(tls_files.cert))

        await sender.send([OVERDUE])

        (mail,) = smtp.messages
        assert mail.tls and mail.login == "cqm-relay"
        assert mail.message()["Subject"] == OVERDUE.subject


async def test_an_untrusted_certificate_fails_when_certificates_are_checked(
    tls_files: TlsFiles, clock: FakeClock
) -> None:
    with SmtpReceiver(security="starttls", tls=tls_files) as smtp:
        failure = await failure_of(SmtpSender(smtp.email_settings(validate_certs=True), clock=clock), [OVERDUE])

        assert not failure.permanent and failure.failed is None
        assert "CERTIFICATE_VERIFY_FAILED" in str(failure)
        assert smtp.messages == []


async def test_a_wrong_password_is_permanent(tls_files: TlsFiles, clock: FakeClock) -> None:
    with SmtpReceiver(security="starttls", tls=tls_files, users={"cqm-relay": "s3cret"}) as smtp:
        sender = SmtpSender(smtp.email_settings(username="cqm-relay"), "wrong", clock=clock)

        failure = await failure_of(sender, [OVERDUE])

        assert failure.permanent and "535" in str(failure)
        assert smtp.messages == []


async def test_implicit_tls(tls_files: TlsFiles, clock: FakeClock) -> None:
    with SmtpReceiver(security="tls", tls=tls_files) as smtp:
        await SmtpSender(smtp.email_settings(), clock=clock).send([REMINDER])

        (mail,) = smtp.messages
        assert mail.tls and mail.message()["Subject"] == REMINDER.subject


async def test_starttls_required_but_not_offered_is_permanent(smtp: SmtpReceiver, clock: FakeClock) -> None:
    failure = await failure_of(SmtpSender(smtp.email_settings(security="starttls"), clock=clock), [OVERDUE])

    assert failure.permanent and "STARTTLS" in str(failure)
    assert smtp.messages == []


async def test_an_unreachable_relay_is_temporary(smtp: SmtpReceiver, clock: FakeClock) -> None:
    settings = smtp.email_settings(port=closed_port(), timeout=2.0)

    failure = await failure_of(SmtpSender(settings, clock=clock), [OVERDUE])

    assert not failure.permanent and failure.sent == []


def test_a_login_without_password_is_a_configuration_error(smtp: SmtpReceiver) -> None:
    with pytest.raises(ValueError, match="password"):
        SmtpSender(smtp.email_settings(username="cqm-relay"), None)


# --- chat robots -----------------------------------------------------------------------------


def robot(
    kind: str, http: HttpReceiver, path: str, clock: FakeClock, client: httpx.AsyncClient, **settings: Any
) -> RobotSender:
    return robot_sender(
        RobotSettings(kind=kind, url=http.url_for(path), **settings),
        clock=clock,
        client=client,
    )


def b64_hmac_sha256(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


async def test_wecom_posts_one_markdown_message_to_the_keyed_url(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.default = Reply(json=WECOM_OK)
    wecom = robot("wecom", http, "/cgi-bin/webhook/send?key=693a91f6-7xxx", clock, client)
    assert isinstance(wecom, WeComRobot)

    await wecom.send([OVERDUE, REMINDER])

    (request,) = http.requests
    assert request.method == "POST" and request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": "693a91f6-7xxx"}  # the key is the credential; nothing signed
    assert request.headers["content-type"].startswith("application/json")
    sent = request.json()
    assert sent["msgtype"] == "markdown"
    content = sent["markdown"]["content"]
    assert content == render_markdown([OVERDUE, REMINDER])
    assert f"**1. 【紧急 Urgent】{OVERDUE.subject}**" in content
    assert f"**2. {REMINDER.subject}**" in content
    assert content.index(OVERDUE.body.replace("\n", "  \n")) < content.index(REMINDER.subject)


@pytest.mark.parametrize(
    ("kind", "path", "answer", "permanent", "retry_after"),
    [
        ("wecom", "/send?key=k", {"errcode": 45009, "errmsg": "api freq out of limit"}, False, 60.0),
        ("wecom", "/send?key=k", {"errcode": 93000, "errmsg": "invalid webhook url"}, True, None),
        ("dingtalk", "/robot/send?access_token=t", {"errcode": 130101, "errmsg": "send too fast"}, False, 60.0),
        ("dingtalk", "/robot/send?access_token=t", {"errcode": 310000, "errmsg": "sign not match"}, True, None),
        ("feishu", "/open-apis/bot/v2/hook/h", {"code": 9499, "msg": "too many request"}, False, 60.0),
        ("feishu", "/open-apis/bot/v2/hook/h", {"code": 11232, "msg": "frequency limited"}, False, 60.0),
        ("feishu", "/open-apis/bot/v2/hook/h", {"code": 19021, "msg": "sign match fail"}, True, None),
    ],
)
async def test_platform_codes(
    http: HttpReceiver,
    clock: FakeClock,
    client: httpx.AsyncClient,
    kind: str,
    path: str,
    answer: dict[str, Any],
    permanent: bool,
    retry_after: float | None,
) -> None:
    http.respond(200, json=answer)

    failure = await failure_of(robot(kind, http, path, clock, client), [REMINDER])

    assert (failure.permanent, failure.retry_after) == (permanent, retry_after)
    assert str(answer.get("errcode", answer.get("code"))) in str(failure)


async def test_feishu_rate_limit_on_http_400_is_still_temporary(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.respond(400, json={"code": 11232, "msg": "frequency limited"})

    failure = await failure_of(robot("feishu", http, "/hook/h", clock, client), [REMINDER])

    assert not failure.permanent and failure.retry_after == 60.0


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu"])
async def test_http_answers_and_transport_errors(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient, kind: str
) -> None:
    sender = robot(kind, http, "/hook?key=k", clock, client, timeout=0.3)

    http.respond(429, json={}, headers={"Retry-After": "7"})
    too_many = await failure_of(sender, [REMINDER])
    assert (too_many.permanent, too_many.retry_after) == (False, 7.0)

    http.respond(429, json={}, headers={"Retry-After": "Mon, 02 Mar 2026 08:32:15 GMT"})  # T0 + 2 min
    assert (await failure_of(sender, [REMINDER])).retry_after == pytest.approx(119.877)

    http.respond(503, body=b"upstream busy")
    unavailable = await failure_of(sender, [REMINDER])
    assert (unavailable.permanent, unavailable.retry_after) == (False, None)

    http.respond(404, body=b"no such hook")
    assert (await failure_of(sender, [REMINDER])).permanent

    http.respond(200, body=b"<html>proxy</html>")
    assert not (await failure_of(sender, [REMINDER])).permanent

    http.respond(200, json=FEISHU_OK if kind == "feishu" else WECOM_OK, delay=5.0)
    slow = await failure_of(sender, [REMINDER])
    assert not slow.permanent and "Timeout" in str(slow)

    refused = robot_sender(
        RobotSettings(kind=kind, url=f"http://127.0.0.1:{closed_port()}/hook", timeout=2.0),
        clock=clock,
        client=client,
    )
    assert not (await failure_of(refused, [REMINDER])).permanent
    assert len(http.requests) == 6


async def test_dingtalk_signs_the_url_as_dingtalk_checks_it(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    # choose an instant whose signature has a "+" and a "/": the URL encoding must keep them
    def expected_sign(ms: int) -> str:
        return b64_hmac_sha256(DINGTALK_SECRET.encode(), f"{ms}\n{DINGTALK_SECRET}".encode())

    start = int(T0.timestamp() * 1000)
    ms = next(m for m in range(start, start + 10_000) if "+" in expected_sign(m) and "/" in expected_sign(m))
    clock.set(datetime.fromtimestamp(ms / 1000, UTC))
    http.default = Reply(json=DINGTALK_OK)
    dingtalk = robot("dingtalk", http, "/robot/send?access_token=abc123", clock, client, secret=DINGTALK_SECRET)
    assert isinstance(dingtalk, DingTalkRobot)

    await dingtalk.send([OVERDUE])

    (request,) = http.requests
    assert request.query["access_token"] == "abc123"
    assert request.query["timestamp"] == str(ms)
    assert request.query["sign"] == expected_sign(ms)
    assert f"sign={quote_plus(expected_sign(ms))}" in request.raw_query
    sent = request.json()
    assert sent["msgtype"] == "markdown"
    assert sent["markdown"]["title"].startswith("【紧急 Urgent】客诉 CQ-2026-0001")
    assert OVERDUE.subject in sent["markdown"]["text"]
    assert "总装车间  \nResponsible" in sent["markdown"]["text"]  # DingTalk ignores bare newlines


async def test_dingtalk_without_a_secret_is_unsigned(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.default = Reply(json=DINGTALK_OK)

    await robot("dingtalk", http, "/robot/send?access_token=abc123", clock, client).send([REMINDER])

    assert http.requests[0].query == {"access_token": "abc123"}


async def test_feishu_signs_the_body_as_feishu_checks_it(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.default = Reply(json=FEISHU_OK)
    feishu = robot("feishu", http, "/open-apis/bot/v2/hook/8f2c", clock, client, secret=FEISHU_SECRET)
    assert isinstance(feishu, FeishuRobot)

    await feishu.send([OVERDUE, REMINDER])

    (request,) = http.requests
    sent = request.json()
    seconds = int(T0.timestamp())
    assert sent["timestamp"] == str(seconds)
    # Feishu's check: HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message
    assert sent["sign"] == b64_hmac_sha256(f"{sent['timestamp']}\n{FEISHU_SECRET}".encode(), b"")
    assert sent["msg_type"] == "interactive"
    assert sent["card"]["elements"] == [{"tag": "markdown", "content": render_markdown([OVERDUE, REMINDER])}]
    assert sent["card"]["header"]["title"]["content"] == "【紧急 Urgent】2 条通知 / 2 notices"
    assert sent["card"]["header"]["template"] == "red"


async def test_feishu_older_hooks_answer_status_code(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.respond(200, json={"Extra": None, "StatusCode": 0, "StatusMessage": "success"})
    http.respond(
        200, json={"StatusCode": 19021, "StatusMessage": "sign match fail or timestamp is not within one hour"}
    )
    feishu = robot("feishu", http, "/hook/h", clock, client, secret=FEISHU_SECRET)

    await feishu.send([REMINDER])
    assert (await failure_of(feishu, [REMINDER])).permanent


def chinese_notices(count: int) -> list[Outgoing]:
    return [
        Outgoing(
            id=f"dlv-{i:04d}",
            subject=f"客诉 CQ-2026-{i:04d} 需要处理 / complaint needs action",
            body=f"客户：华东汽车零部件有限公司；缺陷：焊点虚焊，批次 B{i:05d}，数量 {i * 3} 件。"
            + "复检不合格。" * (i % 7),  # lengths vary, so groups come close to the limit
            address=None,
            urgent=i % 5 == 0,
        )
        for i in range(1, count + 1)
    ]


async def test_batching_respects_max_bytes_with_chinese_text(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    notices = chinese_notices(30)
    long_one = Outgoing("dlv-long", "超长通知 / very long notice", "质量问题描述。" * 800, None)
    notices.insert(7, long_one)

    groups = batch(notices, 600)

    assert len(groups) > 1
    assert [m.id for group in groups for m in group] == [m.id for m in notices]  # order kept, none dropped
    assert all(len(render_markdown(group).encode()) <= 600 for group in groups)
    assert any(len(group) > 1 for group in groups)
    (cut,) = [m for group in groups for m in group if m.id == "dlv-long"]
    assert cut.subject == long_one.subject and cut.body.endswith("…") and len(cut.body) < len(long_one.body)
    assert long_one.body.startswith(cut.body[:-1])
    one_more = replace(cut, body=long_one.body[: len(cut.body)] + "…")  # cut as late as possible
    assert len(render_markdown([one_more]).encode()) > 600
    # a group is as full as it can be: the next notice would not have fit
    for group, following in itertools.pairwise(groups):
        assert len(render_markdown([*group, following[0]]).encode()) > 600

    http.default = Reply(json=WECOM_OK)
    wecom = robot("wecom", http, "/send?key=k", clock, client, max_bytes=600)
    for group in wecom.split(notices):
        await wecom.send(group)
    contents = [r.json()["markdown"]["content"] for r in http.requests]
    assert len(contents) == len(groups)
    assert all(len(c.encode()) <= 600 for c in contents)
    assert all(any(m.subject in c for c in contents) for m in notices)


def test_a_group_may_fill_max_bytes_exactly_but_not_one_byte_more() -> None:
    first, second = chinese_notices(2)
    size = len(render_markdown([first, second]).encode())

    assert batch([first, second], size) == [[first, second]]
    assert batch([first, second], size - 1) == [[first], [second]]


def test_a_subject_alone_too_long_is_cut_too() -> None:
    huge = Outgoing("dlv-x", "标题" * 500, "正文", None, urgent=True)

    ((cut,),) = batch([huge], 200)

    assert cut.subject.endswith("…") and cut.body == ""
    assert len(render_markdown([cut]).encode()) <= 200


async def test_a_robot_refuses_a_list_that_needs_several_messages(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    wecom = robot("wecom", http, "/send?key=k", clock, client, max_bytes=300)

    with pytest.raises(ValueError, match="batch"):
        await wecom.send(chinese_notices(10))
    assert http.requests == []


def test_robot_secrets_come_from_the_environment(clock: FakeClock) -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=t"
    signed = DingTalkRobot(
        RobotSettings(kind="dingtalk", url=url, secret_env="QA_GROUP_SECRET"),
        clock=clock,
        environ={"QA_GROUP_SECRET": DINGTALK_SECRET},
    )
    assert signed.secret == DINGTALK_SECRET
    with pytest.raises(ValueError, match="QA_GROUP_SECRET"):
        DingTalkRobot(RobotSettings(kind="dingtalk", url=url, secret_env="QA_GROUP_SECRET"), clock=clock, environ={})
    with pytest.raises(ValueError, match="not both"):
        DingTalkRobot(
            RobotSettings(kind="dingtalk", url=url, secret="x", secret_env="QA_GROUP_SECRET"),
            clock=clock,
            environ={"QA_GROUP_SECRET": "y"},
        )
    with pytest.raises(ValueError, match="not signed"):
        WeComRobot(RobotSettings(kind="wecom", url="https://qyapi.weixin.qq.com/x?key=k", secret="s"), clock=clock)


async def test_a_robot_address_holding_its_key_comes_from_the_environment(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """The WeCom key is part of the address: a policy mounted from a ConfigMap names a variable."""
    http.default = Reply(json=WECOM_OK)
    settings = RobotSettings(kind="wecom", url_env="QA_GROUP_WECOM_URL")
    wecom = WeComRobot(settings, clock=clock, client=client, environ={"QA_GROUP_WECOM_URL": http.url_for("/s?key=k")})
    await wecom.send([OVERDUE])
    assert [(r.path, r.query) for r in http.requests] == [("/s", {"key": "k"})]
    with pytest.raises(ValueError, match="QA_GROUP_WECOM_URL"):
        WeComRobot(settings, clock=clock, environ={})
    with pytest.raises(ValueError, match="does not hold an http"):
        WeComRobot(settings, clock=clock, environ={"QA_GROUP_WECOM_URL": "qyapi.weixin.qq.com/x?key=k"})
    with pytest.raises(ValueError, match="`url` or `url_env`"):
        RobotSettings(kind="wecom", url="https://qyapi.weixin.qq.com/x?key=k", url_env="QA_GROUP_WECOM_URL")
    with pytest.raises(ValueError, match="`url` or `url_env`"):
        RobotSettings(kind="wecom")


# --- webhooks --------------------------------------------------------------------------------


def webhook(http: HttpReceiver, clock: Any, client: httpx.AsyncClient, secret: str = WEBHOOK_SECRET) -> WebhookSender:
    return WebhookSender(WebhookSettings(url=http.url_for("/hooks/cqm"), secret=secret), clock=clock, client=client)


async def test_webhook_verifies_with_the_reference_library(http: HttpReceiver, client: httpx.AsyncClient) -> None:
    await webhook(http, SystemClock(), client).send([OVERDUE, REMINDER])

    first, second = http.requests
    assert first.headers["webhook-id"] == OVERDUE.id and second.headers["webhook-id"] == REMINDER.id
    verified = Webhook(WEBHOOK_SECRET).verify(first.body, first.headers)
    assert verified["type"] == "complaint.deadline_breached"
    assert datetime.fromisoformat(verified["timestamp"]).timestamp() == pytest.approx(
        int(first.headers["webhook-timestamp"]), abs=1
    )
    assert verified["data"] == {
        "subject": OVERDUE.subject,
        "body": OVERDUE.body,
        "urgent": True,
        "event_type": "complaint.deadline_breached",
        "number": "CQ-2026-0001",
        "factory": "F01",
    }
    assert Webhook(WEBHOOK_SECRET).verify(second.body, second.headers)["type"] == "notification"
    assert "客诉".encode() in first.body  # UTF-8, not \\u escapes: what is signed is what is sent


async def test_a_tampered_webhook_fails_verification(http: HttpReceiver, client: httpx.AsyncClient) -> None:
    await webhook(http, SystemClock(), client).send([OVERDUE])

    (request,) = http.requests
    tampered = json.loads(request.body)
    tampered["data"]["urgent"] = False
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(json.dumps(tampered, ensure_ascii=False), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(request.body, {**request.headers, "webhook-id": "dlv-9999"})
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another secret of 24 b.").decode()).verify(request.body, request.headers)


async def test_the_webhook_timestamp_is_the_clocks(http: HttpReceiver, client: httpx.AsyncClient) -> None:
    an_hour_ago = FakeClock(SystemClock().now() - timedelta(hours=1))

    await webhook(http, an_hour_ago, client).send([OVERDUE])

    (request,) = http.requests
    assert request.headers["webhook-timestamp"] == str(int(an_hour_ago.now().timestamp()))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)


async def test_a_retried_webhook_keeps_its_id(http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient) -> None:
    sender = webhook(http, clock, client)
    http.respond(503)

    failure = await failure_of(sender, [OVERDUE])
    clock.advance(timedelta(seconds=30))
    await sender.send([OVERDUE])

    assert not failure.permanent
    first, retry = http.requests
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == OVERDUE.id
    assert int(retry.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 30


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (410, {}, True, None),
        (400, {}, True, None),
        (503, {}, False, None),
        (429, {"Retry-After": "120"}, False, 120.0),
    ],
)
async def test_webhook_answers(
    http: HttpReceiver,
    clock: FakeClock,
    client: httpx.AsyncClient,
    status: int,
    headers: dict[str, str],
    permanent: bool,
    retry_after: float | None,
) -> None:
    http.respond(status, headers=headers)

    failure = await failure_of(webhook(http, clock, client), [OVERDUE])

    assert (failure.permanent, failure.retry_after, failure.failed) == (permanent, retry_after, OVERDUE.id)
    assert str(status) in str(failure)


async def test_a_webhook_failure_in_a_list_names_what_got_through(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.respond(204)
    http.respond(503)
    third = Outgoing("dlv-0003", "第三条 / third", "…", None)

    failure = await failure_of(webhook(http, clock, client), [OVERDUE, REMINDER, third])

    assert (failure.sent, failure.failed) == ([OVERDUE.id], REMINDER.id)
    assert [r.headers["webhook-id"] for r in http.requests] == [OVERDUE.id, REMINDER.id]  # stopped there


async def test_answers_queued_for_one_path_leave_the_others_alone(
    http: HttpReceiver, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    http.default = Reply(json=WECOM_OK)
    http.respond(Reply(503), count=2, path="/hooks/cqm")
    wecom = robot("wecom", http, "/send?key=k", clock, client)

    await wecom.send([REMINDER])  # not the webhook's path: the default answer
    assert (await failure_of(webhook(http, clock, client), [OVERDUE])).failed == OVERDUE.id
    await wecom.send([REMINDER])
    assert (await failure_of(webhook(http, clock, client), [OVERDUE])).failed == OVERDUE.id
    http.default = Reply(204)
    await webhook(http, clock, client).send([OVERDUE])  # the two queued answers are used up

    assert [r.path for r in http.requests] == ["/send", "/hooks/cqm", "/send", "/hooks/cqm", "/hooks/cqm"]


def test_webhook_secrets_are_checked(clock: FakeClock) -> None:
    settings = WebhookSettings(url="https://erp.example/hooks", secret_env="ERP_HOOK_SECRET")
    with pytest.raises(ValueError, match="ERP_HOOK_SECRET"):
        WebhookSender(settings, clock=clock, environ={})
    with pytest.raises(ValueError, match="base64"):
        WebhookSender(settings, clock=clock, environ={"ERP_HOOK_SECRET": "whsec_not base64!"})
    with pytest.raises(ValueError, match="needs a whsec_ secret"):
        WebhookSender(WebhookSettings(url="https://erp.example/hooks"), clock=clock)


# --- the senders of a policy -----------------------------------------------------------------


def policy(smtp: SmtpReceiver, http: HttpReceiver) -> NotificationPolicy:
    return NotificationPolicy(
        routes={},
        directory={"quality_engineer": ["qe.zhang"]},
        email=smtp.email_settings(username="cqm-relay", password_env="SMTP_PASSWORD"),
        robots={
            "qa-wecom": RobotSettings(kind="wecom", url=http.url_for("/wecom?key=k")),
            "qa-ding": RobotSettings(
                kind="dingtalk", url=http.url_for("/ding?access_token=t"), secret_env="DING_SECRET"
            ),
            "qa-feishu": RobotSettings(kind="feishu", url=http.url_for("/feishu"), secret=FEISHU_SECRET),
        },
        webhooks={"erp": WebhookSettings(url=http.url_for("/erp"), secret_env="ERP_SECRET")},
    )


async def test_channel_senders_of_a_policy(smtp: SmtpReceiver, http: HttpReceiver, clock: FakeClock) -> None:
    environ = {"SMTP_PASSWORD": "pw", "DING_SECRET": DINGTALK_SECRET, "ERP_SECRET": WEBHOOK_SECRET}
    async with ChannelSenders(policy(smtp, http), clock, environ=environ) as senders:
        assert isinstance(senders.for_channel("email", None), SmtpSender)
        assert isinstance(senders.for_channel("wecom", "qa-wecom"), WeComRobot)
        assert isinstance(senders.for_channel("robot", "qa-feishu"), FeishuRobot)
        assert isinstance(senders.for_channel("webhook", "erp"), WebhookSender)
        for channel, target in [("dingtalk", "qa-wecom"), ("wecom", "nope"), ("webhook", "nope"), ("sms", None)]:
            with pytest.raises(LookupError):
                senders.for_channel(channel, target)

        http.respond(json=DINGTALK_OK)
        await senders.for_channel("dingtalk", "qa-ding").send([REMINDER])
        http.respond()
        await senders.for_channel("webhook", "erp").send([REMINDER])

        ding, erp = http.requests
        assert ding.path == "/ding" and ding.query["sign"] == b64_hmac_sha256(
            DINGTALK_SECRET.encode(), f"{ding.query['timestamp']}\n{DINGTALK_SECRET}".encode()
        )
        assert erp.path == "/erp" and erp.headers["webhook-id"] == REMINDER.id
        assert ding.headers["user-agent"] == erp.headers["user-agent"] == "cqm-notification"  # one shared client

    with pytest.raises(ValueError, match="SMTP_PASSWORD"):
        ChannelSenders(policy(smtp, http), clock, environ={"DING_SECRET": "x", "ERP_SECRET": WEBHOOK_SECRET})
    with pytest.raises(LookupError, match="e-mail"):
        no_email = NotificationPolicy(routes={}, directory={"quality_engineer": ["qe"]})
        ChannelSenders(no_email, clock).for_channel("email", None)
