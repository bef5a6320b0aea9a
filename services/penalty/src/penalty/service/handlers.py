"""Use cases of penalty, each inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared import audit
from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.contracts.events import ResponsibilityDetermined, parse_payload
from cqm_shared.db import utcnow
from penalty.adapters import repository
from penalty.adapters.orm import audit_log
from penalty.domain.model import open_assessment


async def on_responsibility_determined(session: AsyncSession, event: CloudEvent) -> None:
    determination = parse_payload(event, ResponsibilityDetermined)
    assessment = open_assessment(str(event.id), determination, now=utcnow())
    await repository.add(session, assessment)
    await audit.record(
        session,
        audit_log,
        actor="system:penalty",
        action="open_assessment",
        entity="assessment",
        entity_id=assessment.number,
        factory=assessment.factory,
        after={
            "id": assessment.id,
            "status": assessment.status.value,
            "determination": determination.model_dump(mode="json"),
        },
        reason=f"{event.type} {event.id} from {event.source}",
        at=assessment.received_at,
    )
