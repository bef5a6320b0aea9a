"""Use cases of notification, each inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared import audit
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.contracts.events import InvestigationOpened, parse_payload
from cqm_shared.db import utcnow
from cqm_shared.messaging.consumer import EventHandler
from cqm_shared.policy import PolicyBook, UnknownFactory
from notification.adapters import repository
from notification.adapters.orm import audit_log
from notification.domain.messages import Notice, for_opened, for_registered
from notification.domain.policy import NotificationPolicy


class FactoryPolicyMissing(RuntimeError):
    pass


def _policy(policies: PolicyBook[NotificationPolicy], factory: str) -> NotificationPolicy:
    try:
        return policies.for_factory(factory)
    except UnknownFactory:
        raise FactoryPolicyMissing(f"no notification policy for factory {factory}") from None


async def _deliver(session: AsyncSession, event: CloudEvent, notices: list[Notice]) -> None:
    now = utcnow()
    await repository.record_in_app(session, event, notices, now)
    await audit.record(
        session,
        audit_log,
        actor="system:notification",
        action="notify",
        entity="notification",
        entity_id=event.subject or "",
        factory=event.factory,
        after={"channel": repository.IN_APP, "recipients": [n.recipient for n in notices]},
        reason=f"{event.type} {event.id} from {event.source}",
        at=now,
    )


def on_complaint_registered(policies: PolicyBook[NotificationPolicy]) -> EventHandler:
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        complaint = parse_payload(event, ComplaintRecord)
        notices = for_registered(complaint, _policy(policies, complaint.factory))
        await _deliver(session, event, notices)

    return handle


def on_investigation_opened(policies: PolicyBook[NotificationPolicy]) -> EventHandler:
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        opened = parse_payload(event, InvestigationOpened)
        notices = for_opened(opened, _policy(policies, opened.factory))
        await _deliver(session, event, notices)

    return handle
