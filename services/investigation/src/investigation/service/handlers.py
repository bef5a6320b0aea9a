"""Use cases of investigation, each inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared import audit
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.envelope import CloudEvent, new_event
from cqm_shared.contracts.events import INVESTIGATION_OPENED, InvestigationOpened, parse_payload
from cqm_shared.db import utcnow
from cqm_shared.messaging.consumer import EventHandler
from cqm_shared.messaging.outbox import stage_event
from cqm_shared.policy import PolicyBook, UnknownFactory
from cqm_shared.telemetry import current_traceparent
from investigation.adapters import repository
from investigation.adapters.orm import audit_log, tables
from investigation.domain.model import open_case
from investigation.domain.policy import InvestigationPolicy

SOURCE = "/services/investigation"
ACTOR = "system:investigation"


class FactoryPolicyMissing(RuntimeError):
    """An event for a factory this deployment has no policy for (retried, then dead-lettered)."""


def on_complaint_registered(policies: PolicyBook[InvestigationPolicy]) -> EventHandler:
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        complaint = parse_payload(event, ComplaintRecord)
        if await repository.exists(session, complaint.number):
            return  # the same complaint under another event id: already open
        try:
            policy = policies.for_factory(complaint.factory)
        except UnknownFactory:
            raise FactoryPolicyMissing(f"no investigation policy for factory {complaint.factory}") from None
        case = open_case(complaint, policy, now=utcnow())
        await repository.add(session, case)
        await audit.record(
            session,
            audit_log,
            actor=ACTOR,
            action="open",
            entity="investigation",
            entity_id=case.number,
            factory=case.factory,
            after={"state": case.state.value, "deadlines": [d.model_dump(mode="json") for d in case.deadlines]},
            reason=f"{event.type} {event.id} from {event.source}",
            at=case.opened_at,
        )
        opened = InvestigationOpened(
            number=case.number,
            factory=case.factory,
            state=case.state.value,
            opened_at=case.opened_at,
            deadlines=case.deadlines,
        )
        await stage_event(
            session,
            tables.outbox,
            new_event(
                type=INVESTIGATION_OPENED,
                source=SOURCE,
                factory=case.factory,
                subject=case.number,
                data=opened.model_dump(mode="json"),
                traceparent=current_traceparent(),
            ),
        )

    return handle
