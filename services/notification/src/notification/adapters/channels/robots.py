"""Chat group robots (群机器人): WeCom, DingTalk, Feishu/Lark.

A robot posts to a group, never to a person, and the platforms allow about 20 messages a
minute per group; so a robot's `send` takes a batch of notices and posts them as ONE message
no larger than `RobotSettings.max_bytes` (the markdown text, UTF-8). `batch()` splits a longer
list into such groups beforehand, one group per rate-limit slot.

How answers map to DeliveryFailed (all platforms):
- timeouts, refused connections, HTTP 5xx, HTTP 408: temporary;
- HTTP 429: temporary, `retry_after` from its Retry-After header;
- the platform's rate-limit code (WeCom errcode 45009; DingTalk errcode 130101 / 410100;
  Feishu code 9499 / 11232): temporary, `retry_after` 60 s (their limits count per minute);
- any other platform code (bad key, bad signature, keyword filter, malformed message):
  permanent, the same request cannot succeed;
- other HTTP 4xx: permanent;
- a 2xx answer that is not the platform's JSON: temporary (a proxy's page; we cannot know).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote_plus

import httpx

from cqm_shared.clock import Clock
from notification.adapters.channels.base import (
    RATE_LIMIT_WAIT,
    DeliveryFailed,
    Outgoing,
    epoch_milliseconds,
    epoch_seconds,
    http_status_failure,
    resolve_secret,
    transport_failure,
)
from notification.domain.policy import RobotSettings

URGENT = "【紧急 Urgent】"
ELLIPSIS = "…"
HARD_BREAK = "  \n"  # a line break in every markdown dialect (DingTalk's ignores a bare newline)
TITLE_LENGTH = 64  # DingTalk's title and Feishu's card header: the preview line, kept short

Render = Callable[[Sequence[Outgoing]], str]


def _entry(message: Outgoing, number: int | None) -> str:
    head = f"{number}. " if number is not None else ""
    mark = URGENT if message.urgent else ""
    text = f"**{head}{mark}{message.subject}**"
    body = message.body.strip()
    return f"{text}\n\n{body.replace(chr(10), HARD_BREAK)}" if body else text


def render_markdown(messages: Sequence[Outgoing]) -> str:
    """One markdown text for a batch: each notice's subject in bold, its body below, numbered
    when there are several, separated by a blank line. The same text for every platform, so
    `batch()` sizes it exactly for each."""
    if len(messages) == 1:
        return _entry(messages[0], None)
    return "\n\n".join(_entry(m, i) for i, m in enumerate(messages, 1))


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of `text` plus "…" that still fits (binary search on characters)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle].rstrip() + ELLIPSIS):
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def truncate(message: Outgoing, max_bytes: int, render: Render = render_markdown) -> Outgoing:
    """The notice cut to fit one message on its own: the body first, the subject if need be."""
    if _size(render([message])) <= max_bytes:
        return message
    bare = replace(message, body="")
    if _size(render([bare])) <= max_bytes:
        body = _cut(message.body, lambda b: _size(render([replace(message, body=b)])) <= max_bytes)
        return replace(message, body=body)
    subject = _cut(message.subject, lambda s: _size(render([replace(bare, subject=s)])) <= max_bytes)
    return replace(bare, subject=subject)


def batch(messages: Sequence[Outgoing], max_bytes: int, render: Render = render_markdown) -> list[list[Outgoing]]:
    """Split notices, in order, into groups each rendering to at most `max_bytes` (UTF-8).

    A notice too long on its own is truncated with "…" (a copy with the same id), never
    dropped. Pure: the caller sends one group per rate-limit slot.
    """
    groups: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    for message in messages:
        message = truncate(message, max_bytes, render)
        if current and _size(render([*current, message])) <= max_bytes:
            current.append(message)
            continue
        if current:
            groups.append(current)
        current = [message]
    if current:
        groups.append(current)
    return groups


def _title(messages: Sequence[Outgoing]) -> str:
    mark = URGENT if any(m.urgent for m in messages) else ""
    title = messages[0].subject if len(messages) == 1 else f"{len(messages)} 条通知 / {len(messages)} notices"
    title = mark + title
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1] + ELLIPSIS


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


class RobotSender:
    """What the three platforms share: batching, posting, reading the answer."""

    kind: ClassVar[str]
    rate_limited: ClassVar[frozenset[int]]
    signed: ClassVar[bool] = True

    def __init__(
        self,
        settings: RobotSettings,
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if settings.kind != self.kind:
            raise ValueError(f"robot {name or settings.kind}: a {settings.kind} robot, not {self.kind}")
        self.settings = settings
        self.name = name or self.kind
        url = resolve_secret(settings.url, settings.url_env, f"robot {self.name} address", environ)
        assert url is not None  # the policy holds `url` or `url_env` (validated on load)
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"robot {self.name}: {settings.url_env} does not hold an http(s) address")
        self.url = url
        self.secret = resolve_secret(settings.secret, settings.secret_env, f"robot {self.name}", environ)
        if self.secret is not None and not self.signed:
            raise ValueError(f"robot {self.name}: {self.kind} robots are not signed; remove the secret")
        self._clock = clock
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None

    @property
    def max_bytes(self) -> int:
        return self.settings.max_bytes

    def render(self, messages: Sequence[Outgoing]) -> str:
        return render_markdown(messages)

    def split(self, messages: Sequence[Outgoing]) -> list[list[Outgoing]]:
        """`batch()` with this robot's size limit and rendering."""
        return batch(messages, self.max_bytes, self.render)

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Post the notices as one message; raises ValueError when they need more than one
        (split them with `split()` / `batch()` first)."""
        if not messages:
            return
        groups = self.split(messages)
        if len(groups) > 1:
            raise ValueError(
                f"{len(messages)} notices need {len(groups)} messages of at most {self.max_bytes} bytes: batch them"
            )
        group = groups[0]  # a lone notice may have been truncated
        now = self._clock.now()
        url, payload = self.request(group, self.render(group), now)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={"content-type": "application/json; charset=utf-8"},
                timeout=self.settings.timeout,
            )
        except httpx.RequestError as error:
            raise transport_failure(error) from error
        failure = self._failure(response, now)
        if failure is not None:
            raise failure

    def request(self, messages: Sequence[Outgoing], text: str, now: datetime) -> tuple[str, dict[str, Any]]:
        """The URL (signed when the platform signs there) and the JSON body."""
        raise NotImplementedError

    def code(self, answer: Mapping[str, Any]) -> Any:
        """The platform's result code in its JSON answer (0 is success)."""
        return answer.get("errcode")

    def _failure(self, response: httpx.Response, now: datetime) -> DeliveryFailed | None:
        status = http_status_failure(response, now)
        if status is not None and (status.retry_after is not None or not status.permanent):
            return status  # 429, 408, 5xx: whatever the body says
        try:
            answer = response.json()
        except ValueError:
            answer = None
        code = self.code(answer) if isinstance(answer, dict) else None
        if not isinstance(code, int):
            return status or DeliveryFailed(f"{self.kind} robot {self.name}: unexpected answer {response.text[:200]!r}")
        if code == 0:
            return status  # a 2xx with code 0 is delivered
        assert isinstance(answer, dict)
        message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage")
        reason = f"{self.kind} robot {self.name}: code {code} {message or ''}".rstrip()
        if code in self.rate_limited:
            return DeliveryFailed(reason, retry_after=RATE_LIMIT_WAIT)
        return DeliveryFailed(reason, permanent=True)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class WeComRobot(RobotSender):
    """企业微信群机器人: the key is in the URL; no signature."""

    kind = "wecom"
    rate_limited = frozenset({45009})  # api freq out of limit
    signed = False

    def request(self, messages: Sequence[Outgoing], text: str, now: datetime) -> tuple[str, dict[str, Any]]:
        return self.url, {"msgtype": "markdown", "markdown": {"content": text}}


class DingTalkRobot(RobotSender):
    """钉钉自定义机器人: with a secret (加签), `timestamp` (ms) and `sign` go in the query."""

    kind = "dingtalk"
    rate_limited = frozenset({130101, 410100})  # send too fast / exceeded the per-minute limit

    def request(self, messages: Sequence[Outgoing], text: str, now: datetime) -> tuple[str, dict[str, Any]]:
        url = self.url
        if self.secret is not None:
            timestamp = epoch_milliseconds(now)
            sign = _hmac_b64(self.secret.encode(), f"{timestamp}\n{self.secret}".encode())
            url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={quote_plus(sign)}"
        return url, {"msgtype": "markdown", "markdown": {"title": _title(messages), "text": text}}


class FeishuRobot(RobotSender):
    """飞书/Lark 自定义机器人: with a secret, `timestamp` (s) and `sign` go in the body; the
    notices go as a card with a markdown element (plain `text` messages show no bold)."""

    kind = "feishu"
    rate_limited = frozenset({9499, 11232})  # too many requests / frequency limited

    def request(self, messages: Sequence[Outgoing], text: str, now: datetime) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {}
        if self.secret is not None:
            timestamp = epoch_seconds(now)
            # the key is "timestamp\nsecret" and the message empty: Feishu's own scheme
            payload["timestamp"] = str(timestamp)
            payload["sign"] = _hmac_b64(f"{timestamp}\n{self.secret}".encode(), b"")
        payload["msg_type"] = "interactive"
        payload["card"] = {
            "header": {
                "title": {"tag": "plain_text", "content": _title(messages)},
                "template": "red" if any(m.urgent for m in messages) else "blue",
            },
            "elements": [{"tag": "markdown", "content": text}],
        }
        return self.url, payload

    def code(self, answer: Mapping[str, Any]) -> Any:
        return answer.get("code", answer.get("StatusCode"))  # older hooks answer StatusCode


ROBOTS: dict[str, type[RobotSender]] = {"wecom": WeComRobot, "dingtalk": DingTalkRobot, "feishu": FeishuRobot}


def robot_sender(
    settings: RobotSettings,
    *,
    clock: Clock,
    client: httpx.AsyncClient | None = None,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
) -> RobotSender:
    """The robot of the settings' kind."""
    return ROBOTS[settings.kind](settings, clock=clock, client=client, environ=environ, name=name)
