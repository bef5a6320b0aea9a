"""Delivering what waits in the log: e-mail, chat robots and webhooks (the in-app inbox needs no
sending). Runs on claimed deliveries; sends outside any transaction, then records each outcome
through the `Delivery` aggregate in a unit of work.

- A person's daily digest goes as one e-mail of all their waiting digest notices.
- A robot's notices to one group are joined into as few posts as its size limit allows, and
  each post spends one unit of the group's budget (about 20 a minute); what the budget does
  not cover waits for the next minute, never dropped.
- A failed send is retried with backoff (or when the receiver asked), up to the policy's
  attempts; then the delivery is given up and `notification.failed` published.

Sending is at least once: a crash between a send and its record sends again after the claim's
lease; the message id (the delivery id) lets the receiver drop the duplicate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cqm_shared.clock import Clock
from cqm_shared.domain import InvalidTransition, StaleVersion
from notification.domain.deliveries import ROBOTS, Channel, Delivery, DeliveryStatus
from notification.service.handlers import Notifying
from notification.service.ports import Outgoing, SendBudget, Senders, SendFailed
from notification.service.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

_DIGESTS = uuid.UUID("9d2f61c4-7a3b-4c0e-8e5f-1b2a3c4d5e6f")


@dataclass
class Outcome:
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, bool, float | None]] = field(default_factory=dict)  # id -> error, permanent, after
    postponed: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Deliverer:
    units: Callable[[], NotificationUnitOfWork]
    senders: Senders
    notifying: Notifying
    budget: SendBudget
    clock: Clock

    async def deliver(self, ids: Sequence[str]) -> Outcome:
        """Send the claimed deliveries and record what happened to each."""
        async with self.units() as uow:
            waiting = [d for d in await uow.deliveries.get_many(ids) if d.status is DeliveryStatus.PENDING]
        groups: dict[tuple[str, str, str | None, str | None], list[Delivery]] = {}
        for d in waiting:
            if d.channel is Channel.IN_APP:
                continue
            groups.setdefault((d.factory, d.channel.value, d.target, d.recipient if d.digest else None), []).append(d)
        outcome = Outcome()
        for (factory, channel, target, digest_of), group in groups.items():
            await self._send_group(factory, Channel(channel), target, digest_of, group, outcome)
        await self._record(waiting, outcome)
        return outcome

    async def _send_group(
        self,
        factory: str,
        channel: Channel,
        target: str | None,
        digest_of: str | None,
        group: list[Delivery],
        outcome: Outcome,
    ) -> None:
        try:
            sender = self.senders.sender(factory, channel.value, target)
        except LookupError as exc:
            for d in group:
                outcome.failed[d.id] = (f"channel not configured: {exc}", True, None)
            return
        covers: dict[str, list[str]] = {}
        if digest_of is not None:
            message = self._digest(factory, group)
            covers[message.id] = [d.id for d in group]
            messages = [message]
        else:
            messages = [self._outgoing(d) for d in group]
            covers = {d.id: [d.id] for d in group}
        batches = sender.batches(messages)
        for i, batch in enumerate(batches):
            if channel in ROBOTS:
                robot = self.notifying.policy(factory).robots.get(target or "")
                per_minute = robot.rate_per_minute if robot is not None else 20
                later = await self.budget.take(f"{factory}/{target}", self.clock.now(), per_minute)
                if later is not None:
                    for rest in batches[i:]:
                        for m in rest:
                            for d_id in covers[m.id]:
                                outcome.postponed[d_id] = later
                    return
            try:
                await sender.send(batch)
            except SendFailed as exc:
                for m in batch:
                    for d_id in covers[m.id]:
                        if m.id in exc.sent:
                            outcome.delivered.append(d_id)
                        else:
                            outcome.failed[d_id] = (str(exc) or type(exc).__name__, exc.permanent, exc.retry_after)
            except Exception as exc:  # a sender's own fault must not lose the batch: retried like any failure
                log.warning(
                    "%s delivery to %s failed unexpectedly: %s: %s", channel.value, target, type(exc).__name__, exc
                )
                for m in batch:
                    for d_id in covers[m.id]:
                        outcome.failed[d_id] = (f"{type(exc).__name__}: {exc}", False, None)
            else:
                for m in batch:
                    outcome.delivered.extend(covers[m.id])

    def _outgoing(self, d: Delivery) -> Outgoing:
        return Outgoing(
            id=d.id,
            subject=d.subject,
            body=d.body,
            address=d.target if d.channel is Channel.EMAIL else None,
            urgent=d.urgent,
            data={
                "event_type": d.event_type,
                "cause_id": d.event_id,
                "number": d.number,
                "factory": d.factory,
                "recipient": d.recipient,
                "recipient_role": d.recipient_role,
                "created_at": d.created_at.isoformat(),
            },
        )

    def _digest(self, factory: str, group: list[Delivery]) -> Outgoing:
        policy = self.notifying.policy(factory)
        first = group[0]
        local = self.clock.now().astimezone(ZoneInfo(policy.delivery.timezone))
        items = [
            {
                "subject": d.subject,
                "body": d.body,
                "at": d.created_at.astimezone(local.tzinfo).strftime("%Y-%m-%d %H:%M"),
            }
            for d in sorted(group, key=lambda d: d.created_at)
        ]
        text = self.notifying.renderer.render(
            "digest",
            first.locale if first.locale in ("zh", "en") else "both",  # type: ignore[arg-type]
            {"date": local.strftime("%Y-%m-%d"), "count": len(items), "items": items},
        )
        key = str(uuid.uuid5(_DIGESTS, ",".join(sorted(d.id for d in group))))
        return Outgoing(id=key, subject=text.subject, body=text.body, address=first.target, data={"digest": True})

    async def _record(self, waiting: list[Delivery], outcome: Outcome) -> None:
        touched = [
            d.id for d in waiting if d.id in outcome.failed or d.id in outcome.postponed or d.id in outcome.delivered
        ]
        if not touched:
            return
        try:
            async with self.units() as uow:
                at = self.clock.now()
                for d in await uow.deliveries.get_many(touched):
                    try:
                        self._apply(d, outcome, at)
                    except InvalidTransition:
                        continue  # settled meanwhile (another replica after a lease ran out)
                await uow.commit()
        except StaleVersion as exc:
            # Another replica recorded one of them first; each is recorded once, the rest retried.
            log.info("delivery outcome already recorded elsewhere: %s", exc)

    def _apply(self, d: Delivery, outcome: Outcome, at: datetime) -> None:
        if d.id in outcome.delivered:
            d.delivered(at, f"delivered on {d.channel.value}" + (f" to {d.target}" if d.target else ""))
        elif d.id in outcome.failed:
            error, permanent, after = outcome.failed[d.id]
            policy = self.notifying.policy(d.factory).delivery
            wait = timedelta(seconds=after) if after else None
            d.failed(at, error, permanent=permanent, policy=policy, retry_after=wait)
        elif d.id in outcome.postponed:
            d.postpone(at, outcome.postponed[d.id], "the robot's send budget for this minute is spent")
