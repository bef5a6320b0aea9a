"""The senders of a factory's policy: one per configured channel, built once, sharing one
HTTP connection pool. Secrets and passwords are read from the environment here, so a missing
one stops the service at start rather than at the first notice."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType

import httpx

from cqm_shared.clock import Clock
from notification.adapters.channels.base import Sender
from notification.adapters.channels.robots import RobotSender, robot_sender
from notification.adapters.channels.smtp import SmtpSender
from notification.adapters.channels.webhooks import WebhookSender
from notification.domain.policy import EmailSettings, NotificationPolicy

ROBOT_CHANNELS = frozenset({"wecom", "dingtalk", "feishu"})


def _password(settings: EmailSettings, environ: Mapping[str, str]) -> str | None:
    if settings.password_env is None:
        return None
    value = environ.get(settings.password_env)
    if value is None:
        raise ValueError(f"e-mail: environment variable {settings.password_env} (named by `password_env`) is not set")
    return value


class ChannelSenders:
    def __init__(
        self,
        policy: NotificationPolicy,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        cert_bundle: str | None = None,
    ) -> None:
        """`client`: the HTTP client to share (default: one of our own, closed by `aclose`);
        `cert_bundle`: extra CA file for the SMTP relay."""
        env = os.environ if environ is None else environ
        self._client = client or httpx.AsyncClient(headers={"user-agent": "cqm-notification"})
        self._owns_client = client is None
        self.email: SmtpSender | None = None
        if policy.email is not None:
            self.email = SmtpSender(policy.email, _password(policy.email, env), clock=clock, cert_bundle=cert_bundle)
        self.robots: dict[str, RobotSender] = {
            name: robot_sender(settings, clock=clock, client=self._client, environ=env, name=name)
            for name, settings in policy.robots.items()
        }
        self.webhooks: dict[str, WebhookSender] = {
            name: WebhookSender(settings, clock=clock, client=self._client, environ=env, name=name)
            for name, settings in policy.webhooks.items()
        }

    def for_channel(self, channel: str, target: str | None = None) -> Sender:
        """The sender of "email" (target unused); "wecom" / "dingtalk" / "feishu" or "robot" (any kind) with the
        robot's name; "webhook" with the webhook's name. LookupError when not configured."""
        if channel == "email":
            if self.email is None:
                raise LookupError("e-mail is not configured (policy `email`)")
            return self.email
        if channel in ROBOT_CHANNELS or channel == "robot":
            robot = self.robots.get(target or "")
            if robot is None:
                raise LookupError(f"no robot named {target!r} in the policy's `robots`")
            if channel != "robot" and robot.kind != channel:
                raise LookupError(f"robot {target!r} is a {robot.kind} robot, not {channel}")
            return robot
        if channel == "webhook":
            webhook = self.webhooks.get(target or "")
            if webhook is None:
                raise LookupError(f"no webhook named {target!r} in the policy's `webhooks`")
            return webhook
        raise LookupError(f"unknown channel {channel!r}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> ChannelSenders:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
