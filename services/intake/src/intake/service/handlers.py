"""Use cases of intake: each runs in one transaction, writes its audit row and stages its events."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared import audit
from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord
from cqm_shared.contracts.envelope import CloudEvent, new_event
from cqm_shared.contracts.events import (
    COMPLAINT_AMENDED,
    COMPLAINT_REGISTERED,
    COMPLAINT_REJECTED,
    COMPLAINT_WITHDRAWN,
    ComplaintAmended,
    ComplaintRejected,
    ComplaintWithdrawn,
    FieldChange,
    FieldError,
    InvestigationTriaged,
    parse_payload,
)
from cqm_shared.db import utcnow
from cqm_shared.messaging.consumer import EventHandler
from cqm_shared.messaging.outbox import stage_event
from cqm_shared.policy import PolicyBook, UnknownFactory
from cqm_shared.problems import field_errors
from cqm_shared.telemetry import current_traceparent
from intake.adapters import repository
from intake.adapters.orm import audit_log, tables
from intake.adapters.storage import AttachmentStore
from intake.domain.attachments import safe_filename, sniff
from intake.domain.corrections import amend, repeat_key, repeat_window_start, withdraw
from intake.domain.model import complaint_number, numbering_period, register
from intake.domain.policy import IntakePolicy

UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]
SOURCE = "/services/intake"


class FactoryNotServed(ValueError):
    """The complaint names a factory that has no policy file in this deployment."""


class NotFound(LookupError):
    pass


class AttachmentRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _publish(session: AsyncSession, type_: str, factory: str, subject: str, data: dict[str, Any]) -> None:
    await stage_event(
        session,
        tables.outbox,
        new_event(
            type=type_, source=SOURCE, factory=factory, subject=subject, data=data, traceparent=current_traceparent()
        ),
    )


@dataclass(frozen=True)
class Registration:
    record: ComplaintRecord
    created: bool  # False: the sender's reference named an existing complaint


async def register_in(
    session: AsyncSession,
    policies: PolicyBook[IntakePolicy],
    form: ComplaintForm,
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
) -> Registration:
    """Register inside the caller's transaction (HTTP request or consumed event)."""
    try:
        policy = policies.for_factory(form.factory)
    except UnknownFactory:
        raise FactoryNotServed(form.factory) from None
    if form.external_ref:
        existing = await repository.by_sender_reference(session, source, form.external_ref)
        if existing is not None:
            return Registration(existing, created=False)
    registered_at = now or utcnow()
    period = numbering_period(registered_at, policy)
    serial = await repository.next_serial(session, form.factory, period)
    number = complaint_number(form.factory, period, serial, policy)
    record = register(form, number=number, registered_at=registered_at)
    key = repeat_key(record)
    if key is not None:
        original = await repository.repeat_original(
            session, record.factory, key, repeat_window_start(registered_at, policy)
        )
        record = record.model_copy(update={"repeat_of": original})
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
        reason=f"received via {source}" + (f"; repeat of {record.repeat_of}" if record.repeat_of else ""),
        at=registered_at,
    )
    await _publish(session, COMPLAINT_REGISTERED, record.factory, record.number, record.model_dump(mode="json"))
    return Registration(record, created=True)


async def register_complaint(
    uow: UnitOfWork,
    policies: PolicyBook[IntakePolicy],
    form: ComplaintForm,
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
) -> ComplaintRecord:
    async with uow() as session:
        return (await register_in(session, policies, form, source=source, actor=actor, now=now)).record


async def _keep_change(
    session: AsyncSession,
    before: ComplaintRecord,
    after: ComplaintRecord,
    *,
    action: str,
    reason: str,
    actor: str,
    changes: list[FieldChange],
    at: datetime,
) -> int:
    """Store the new record, keeping the old one as a revision and in the audit trail (划改)."""
    revision = await repository.add_revision(
        session,
        number=before.number,
        at=at,
        actor=actor,
        action=action,
        reason=reason,
        changes=changes,
        record_before=before,
    )
    await repository.save(session, after)
    await audit.record(
        session,
        audit_log,
        actor=actor,
        action=action,
        entity="complaint",
        entity_id=before.number,
        factory=after.factory,
        before=before.model_dump(mode="json"),
        after=after.model_dump(mode="json"),
        reason=reason,
        at=at,
    )
    return revision


Visible = Callable[[str], bool]  # may the caller see this factory's complaints?


async def _visible_locked(session: AsyncSession, number: str, visible: Visible) -> ComplaintRecord:
    """The complaint, row-locked; another factory's complaint is "not found" (never disclosed)."""
    record = await repository.get(session, number, for_update=True)
    if record is None or not visible(record.factory):
        raise NotFound(number)
    return record


async def amend_complaint(
    uow: UnitOfWork, number: str, changes: dict[str, Any], *, reason: str, actor: str, visible: Visible
) -> ComplaintAmended:
    async with uow() as session:
        before = await _visible_locked(session, number, visible)
        after, changed = amend(before, changes)
        now = utcnow()
        revision = await _keep_change(
            session, before, after, action="amend", reason=reason, actor=actor, changes=changed, at=now
        )
        amended = ComplaintAmended(
            number=number,
            factory=after.factory,
            revision=revision,
            amended_at=now,
            actor=actor,
            reason=reason,
            changes=changed,
            record=after,
        )
        await _publish(session, COMPLAINT_AMENDED, after.factory, number, amended.model_dump(mode="json"))
    return amended


async def withdraw_complaint(
    uow: UnitOfWork, number: str, *, reason: str, actor: str, visible: Visible
) -> ComplaintRecord:
    async with uow() as session:
        before = await _visible_locked(session, number, visible)
        after = withdraw(before, reason)
        now = utcnow()
        await _keep_change(session, before, after, action="withdraw", reason=reason, actor=actor, changes=[], at=now)
        withdrawn = ComplaintWithdrawn(
            number=number, factory=after.factory, withdrawn_at=now, actor=actor, reason=reason
        )
        await _publish(session, COMPLAINT_WITHDRAWN, after.factory, number, withdrawn.model_dump(mode="json"))
    return after


async def attach(
    uow: UnitOfWork,
    store: AttachmentStore,
    number: str,
    *,
    data: bytes,
    filename: str | None,
    declared_type: str | None,
    max_bytes: int,
    actor: str,
    visible: Visible,
) -> dict[str, Any]:
    if not data:
        raise AttachmentRefused(422, "the file is empty")
    if len(data) > max_bytes:
        raise AttachmentRefused(413, f"the file exceeds {max_bytes} bytes")
    media_type = sniff(data[:16])
    if media_type is None:
        raise AttachmentRefused(415, "only JPEG, PNG, GIF, WebP images and PDF documents are accepted")
    if declared_type and declared_type not in (media_type, "application/octet-stream"):
        raise AttachmentRefused(415, f"the content is {media_type}, not {declared_type}")
    attachment_id = str(uuid.uuid4())
    async with uow() as session:
        record = await _visible_locked(session, number, visible)
        key = f"{record.factory}/{number}/{attachment_id}"
        uploaded_at = utcnow()
        # Bytes first, row second: a crash between leaves an orphan file, never a row without bytes.
        await store.put(key, data, media_type)
        row: dict[str, Any] = {
            "id": attachment_id,
            "number": number,
            "filename": safe_filename(filename, media_type),
            "content_type": media_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "storage_key": key,
            "uploaded_at": uploaded_at,
            "uploaded_by": actor,
        }
        await repository.add_attachment(session, **row)
        await audit.record(
            session,
            audit_log,
            actor=actor,
            action="attach",
            entity="complaint",
            entity_id=number,
            factory=record.factory,
            after={k: v for k, v in row.items() if k != "uploaded_at"},
            reason=f"attachment {row['filename']}",
            at=uploaded_at,
        )
    return row


def on_complaint_submitted(policies: PolicyBook[IntakePolicy]) -> EventHandler:
    """complaint.submitted from another system: register once, or answer complaint.rejected."""

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        errors: list[dict[str, str]] = []
        try:
            form = ComplaintForm.model_validate(event.data)
        except ValidationError as exc:
            errors = field_errors(exc.errors())
        else:
            if form.factory != event.factory:
                errors = [
                    {
                        "field": "factory",
                        "message": f"differs from the event's factory {event.factory}",
                        "type": "factory_mismatch",
                    }
                ]
            else:
                try:
                    await register_in(session, policies, form, source=event.source, actor=f"system:{event.source}")
                    return
                except FactoryNotServed:
                    errors = [
                        {"field": "factory", "message": f"unknown factory {form.factory}", "type": "unknown_factory"}
                    ]
        external_ref = event.data.get("external_ref")
        external_ref = external_ref if isinstance(external_ref, str) else None
        await repository.add_rejected(
            session,
            event_id=str(event.id),
            source=event.source,
            factory=event.factory,
            external_ref=external_ref,
            errors=errors,
            data=event.data,
            received_at=utcnow(),
        )
        rejected = ComplaintRejected(
            original_event_id=str(event.id),
            external_ref=external_ref,
            errors=[FieldError(field=e["field"], message=e["message"]) for e in errors],
        )
        await stage_event(
            session,
            tables.outbox,
            new_event(
                type=COMPLAINT_REJECTED,
                source=SOURCE,
                factory=event.factory,
                data=rejected.model_dump(mode="json"),
                traceparent=current_traceparent(),
            ),
        )

    return handle


async def on_investigation_triaged(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the triage severity beside the complaint, for search."""
    triage = parse_payload(event, InvestigationTriaged)
    before = await repository.get(session, triage.number, for_update=True)
    if before is None:
        raise NotFound(f"triage for unknown complaint {triage.number}")  # retried: may precede registration
    after = before.model_copy(update={"severity": triage.severity})
    await repository.save(session, after)
    await audit.record(
        session,
        audit_log,
        actor=triage.actor or "system:investigation",
        action="severity",
        entity="complaint",
        entity_id=triage.number,
        factory=after.factory,
        before={"severity": before.severity},
        after={"severity": triage.severity.value},
        reason=f"{event.type} {event.id}",
    )
