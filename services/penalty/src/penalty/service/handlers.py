"""Use cases of penalty, each inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.envelope import CloudEvent
from cqm_shared.contracts.events import ResponsibilityDetermined, parse_payload
from cqm_shared.db import utcnow
from penalty.adapters import repository
from penalty.domain.model import open_assessment


async def on_responsibility_determined(session: AsyncSession, event: CloudEvent) -> None:
    determination = parse_payload(event, ResponsibilityDetermined)
    await repository.add(session, open_assessment(str(event.id), determination, now=utcnow()))
