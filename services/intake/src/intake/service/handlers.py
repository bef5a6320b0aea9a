"""Use cases of intake: each runs in one transaction and stages its events in the outbox."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared import audit
from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord
from cqm_shared.contracts.envelope import new_event
from cqm_shared.contracts.events import COMPLAINT_REGISTERED
from cqm_shared.db import utcnow
from cqm_shared.messaging.outbox import stage_event
from cqm_shared.policy import PolicyBook, UnknownFactory
from cqm_shared.telemetry import current_traceparent
from intake.adapters import repository
from intake.adapters.orm import audit_log, tables
from intake.domain.model import complaint_number, numbering_period, register
from intake.domain.policy import IntakePolicy

UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]
SOURCE = "/services/intake"


class FactoryNotServed(ValueError):
    """The complaint names a factory that has no policy file in this deployment."""


async def register_complaint(
    uow: UnitOfWork,
    policies: PolicyBook[IntakePolicy],
    form: ComplaintForm,
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
) -> ComplaintRecord:
    try:
        policy = policies.for_factory(form.factory)
    except UnknownFactory:
        raise FactoryNotServed(form.factory) from None
    registered_at = now or utcnow()
    period = numbering_period(registered_at, policy)
    async with uow() as session:
        serial = await repository.next_serial(session, form.factory, period)
        number = complaint_number(form.factory, period, serial, policy)
        record = register(form, number=number, registered_at=registered_at)
        await repository.add(session, record, period=period, serial=serial, source=source)
        await audit.record(
            session,
            audit_log,
            actor=actor,
            action="register",
            entity="complaint",
            entity_id=number,
            factory=record.factory,
            after=record.model_dump(mode="json"),
            reason=f"received via {source}",
            at=registered_at,
        )
        await stage_event(
            session,
            tables.outbox,
            new_event(
                type=COMPLAINT_REGISTERED,
                source=SOURCE,
                factory=record.factory,
                subject=record.number,
                data=record.model_dump(mode="json"),
                traceparent=current_traceparent(),
            ),
        )
    return record
