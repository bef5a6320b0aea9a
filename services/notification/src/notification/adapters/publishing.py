"""Domain events of notification -> the public events it publishes (CONTRACT.md event table):
`sla.warning` / `sla.breached` when a deadline timer fires, `notification.delivered` for every
notice delivered (in-app ones as they are written) and `notification.failed` for one given up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent
from notification.domain.deliveries import Delivered, DeliveryFacts, GaveUp
from notification.domain.model import Notified
from notification.domain.timers import SlaRaised

PUBLISHES: dict[str, type[BaseModel]] = {
    public.SLA_WARNING: public.SlaEvent,
    public.SLA_BREACHED: public.SlaEvent,
    public.NOTIFICATION_DELIVERED: public.NotificationDelivery,
    public.NOTIFICATION_FAILED: public.NotificationDelivery,
}


def _delivery(facts: DeliveryFacts, event_type: str, at: datetime, error: str | None = None) -> PublicEvent:
    data = public.NotificationDelivery(
        id=facts.id,
        number=facts.number,
        factory=facts.factory,
        cause_id=facts.event_id,
        cause_type=facts.event_type,
        recipient_role=facts.recipient_role,
        recipient=facts.recipient,
        channel=facts.channel.value,
        status=facts.status.value,
        attempts=facts.attempts,
        urgent=facts.urgent,
        at=at,
        error=error,
    )
    subject = None if facts.number.startswith("ledger/") else facts.number
    return PublicEvent(event_type, facts.factory, subject, data)


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    match event:
        case SlaRaised():
            data = public.SlaEvent(
                number=event.number,
                factory=event.factory,
                milestone=event.milestone,
                round=event.round,
                due_at=event.due_at,
                at=event.at,
                level=event.level,
                source=event.source,
                department=event.department,
                producer=event.producer,
            )
            kind = public.SLA_BREACHED if event.breached else public.SLA_WARNING
            return [PublicEvent(kind, event.factory, event.number, data)]
        case Notified():
            return [_delivery(f, public.NOTIFICATION_DELIVERED, event.at) for f in event.delivered]
        case Delivered():
            return [_delivery(event.delivery, public.NOTIFICATION_DELIVERED, event.at)]
        case GaveUp():
            return [_delivery(event.delivery, public.NOTIFICATION_FAILED, event.at, event.error)]
    return ()
