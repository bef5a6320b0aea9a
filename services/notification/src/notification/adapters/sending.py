"""The delivery port (service/ports.py) on the channel adapters: each factory's senders, built
once from its policy, behind the service's `Senders` and `Sender`."""

from __future__ import annotations

from collections.abc import Sequence

from cqm_shared.clock import Clock
from notification.adapters.channels import base
from notification.adapters.channels.robots import RobotSender
from notification.adapters.channels.senders import ChannelSenders
from notification.service.handlers import Policies
from notification.service.ports import Outgoing, SendFailed


class _Sender:
    def __init__(self, channel: base.Sender) -> None:
        self._channel = channel

    def batches(self, messages: Sequence[Outgoing]) -> list[list[Outgoing]]:
        if isinstance(self._channel, RobotSender):
            # A notice too long for one post is cut (with "…") by the robot when sent.
            return self._channel.split(messages)
        return [[m] for m in messages]

    async def send(self, messages: Sequence[Outgoing]) -> None:
        try:
            await self._channel.send(messages)
        except base.DeliveryFailed as exc:
            raise SendFailed(str(exc), permanent=exc.permanent, retry_after=exc.retry_after, sent=exc.sent) from exc


class PolicySenders:
    def __init__(self, policies: Policies, clock: Clock) -> None:
        self._policies = policies
        self._clock = clock
        self._by_factory: dict[str, ChannelSenders] = {}

    def sender(self, factory: str, channel: str, target: str | None) -> _Sender:
        senders = self._by_factory.get(factory)
        if senders is None:
            senders = self._by_factory[factory] = ChannelSenders(self._policies.for_factory(factory), self._clock)
        return _Sender(senders.for_channel(channel, target))

    async def aclose(self) -> None:
        for senders in self._by_factory.values():
            await senders.aclose()
        self._by_factory.clear()
