"""Use cases of intake: each runs in a unit of work (audit rows and public events come from the
domain events the complaint records, at commit)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cqm_shared.contracts.complaint import ComplaintForm, Severity
from cqm_shared.domain import DomainError, NotFound
from cqm_shared.policy import PolicyBook, UnknownFactory
from intake.domain.attachments import accepted_type, checksum, describe
from intake.domain.corrections import repeat_key, repeat_window_start
from intake.domain.model import (
    Attachment,
    Complaint,
    FieldError,
    RejectedSubmission,
    Revision,
    SenderReferenceTaken,
    complaint_number,
    numbering_period,
    registration_day,
)
from intake.domain.policy import IntakePolicy
from intake.service.unit_of_work import AttachmentStore, IntakeUnitOfWork, Position, SearchFilter

log = logging.getLogger(__name__)

SOURCE = "/services/intake"


class FactoryNotServed(ValueError):
    """The complaint names a factory that has no policy file in this deployment."""


class CorruptAttachment(DomainError):
    """The stored bytes no longer match the checksum taken at upload: never hand out altered evidence."""


@dataclass(frozen=True)
class Registration:
    complaint: Complaint
    created: bool  # False: the sender's reference named an existing complaint


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None
    declared_type: str | None


def policy_for(policies: PolicyBook[IntakePolicy], factory: str) -> IntakePolicy:
    try:
        return policies.for_factory(factory)
    except UnknownFactory:
        raise FactoryNotServed(factory) from None


async def _visible(uow: IntakeUnitOfWork, number: str) -> Complaint:
    """The complaint; another factory's complaint is "not found" (never disclosed)."""
    complaint = await uow.complaints.get(number)
    if complaint is None or not uow.actor.can_see(complaint.factory):
        raise NotFound(f"complaint {number} not found")
    return complaint


# -- registration ----------------------------------------------------------------------------------


async def register_complaint(
    uow: IntakeUnitOfWork, policies: PolicyBook[IntakePolicy], form: ComplaintForm, *, source: str
) -> Registration:
    """Number and register a complaint; a sender's reference names one complaint per sender.

    If a concurrent registration with the same reference commits first, the insert fails on
    the unique (source, external_ref): one more transaction finds that complaint and answers
    with it. Each `async with uow` is a new transaction on fresh repositories, and a consumed
    event's inbox entry stays with the unit of work, so the retry still marks it processed
    (no delivery attempt is spent on the race).
    """
    policy = policy_for(policies, form.factory)
    try:
        return await _register(uow, policy, form, source=source)
    except SenderReferenceTaken:
        return await _register(uow, policy, form, source=source)


async def _register(uow: IntakeUnitOfWork, policy: IntakePolicy, form: ComplaintForm, *, source: str) -> Registration:
    async with uow:
        if form.external_ref:
            existing = await uow.complaints.by_sender_reference(source, form.external_ref)
            if existing is not None:
                await uow.commit()  # nothing changes (a consumed event is still marked processed)
                return Registration(existing, created=False)
        registered_at = uow.clock.now()
        period = numbering_period(registered_at, policy)
        serial = await uow.complaints.next_serial(form.factory, period)
        key = repeat_key(form)
        repeat_of = None
        if key is not None:
            repeat_of = await uow.complaints.repeat_original(
                form.factory, key, repeat_window_start(registered_at, policy)
            )
        complaint = Complaint.register(
            form,
            number=complaint_number(form.factory, period, serial, policy),
            period=period,
            serial=serial,
            source=source,
            registered_at=registered_at,
            day=registration_day(registered_at, policy),
            repeat_of=repeat_of,
            actor=uow.actor.id,
        )
        uow.complaints.add(complaint)
        await uow.commit()
    return Registration(complaint, created=True)


async def reject_submission(
    uow: IntakeUnitOfWork, *, event_id: str, source: str, factory: str, data: dict[str, Any], errors: list[FieldError]
) -> None:
    """Keep an invalid complaint.submitted and answer it with complaint.rejected.

    Once per event: a redelivery is refused when its unit of work opens (the inbox entry,
    `AlreadyProcessed`), and `event_id` is the rejection's primary key.
    """
    async with uow:
        uow.rejections.add(
            RejectedSubmission.reject(
                event_id=event_id, source=source, factory=factory, data=data, errors=errors, at=uow.clock.now()
            )
        )
        await uow.commit()


# -- corrections (划改), withdrawal, triage ---------------------------------------------------------


async def amend_complaint(
    uow: IntakeUnitOfWork,
    number: str,
    changes: dict[str, Any],
    *,
    reason: str,
    expected_version: int | None = None,
) -> tuple[Complaint, Revision]:
    async with uow:
        complaint = await _visible(uow, number)
        uow.expect_version(complaint, expected_version)
        revision = complaint.amend(changes, reason=reason, actor=uow.actor.id, at=uow.clock.now())
        await uow.commit()
    return complaint, revision


async def withdraw_complaint(
    uow: IntakeUnitOfWork, number: str, *, reason: str, expected_version: int | None = None
) -> Complaint:
    async with uow:
        complaint = await _visible(uow, number)
        uow.expect_version(complaint, expected_version)
        complaint.withdraw(reason=reason, actor=uow.actor.id, at=uow.clock.now())
        await uow.commit()
    return complaint


async def set_severity(uow: IntakeUnitOfWork, number: str, severity: Severity, *, actor: str | None, why: str) -> None:
    """The severity found at triage, kept beside the complaint for search and in its history."""
    async with uow:
        complaint = await uow.complaints.get(number)
        if complaint is None:
            raise NotFound(f"triage for unknown complaint {number}")  # retried: may precede registration
        complaint.set_severity(severity, reason=why, actor=actor or uow.actor.id, at=uow.clock.now())
        await uow.commit()


# -- attachments -----------------------------------------------------------------------------------


async def ensure_attachable(uow: IntakeUnitOfWork, number: str) -> str:
    """404 for a complaint the caller cannot see, 409 for a withdrawn one: before the file is read.

    Returns the complaint's factory, which `attach_file` needs (it names where the bytes go).
    """
    async with uow:
        complaint = await _visible(uow, number)
        complaint.ensure_attachable()
        return complaint.factory


async def attach_file(
    uow: IntakeUnitOfWork, store: AttachmentStore, number: str, factory: str, upload: Upload, *, max_bytes: int
) -> Attachment:
    """Store the bytes outside any transaction, then record them in a short unit of work.

    `factory` is what `ensure_attachable` answered: call it first (before the file is judged).
    If the record fails (complaint gone, withdrawn meanwhile, database error), the stored
    bytes are deleted again; a crash in between leaves a file `sweep_orphan_files` removes.
    """
    media_type = accepted_type(upload.data, upload.declared_type, max_bytes)
    attachment = describe(
        attachment_id=str(uuid.uuid4()),
        number=number,
        factory=factory,
        data=upload.data,
        filename=upload.filename,
        media_type=media_type,
        at=uow.clock.now(),
        by=uow.actor.id,
    )
    await store.put(attachment.storage_key, upload.data, media_type)
    try:
        async with uow:
            complaint = await _visible(uow, number)
            complaint.attach(attachment, at=uow.clock.now())
            await uow.commit()
    except BaseException:
        await _forget(store, attachment.storage_key)
        raise
    return attachment


async def _forget(store: AttachmentStore, key: str) -> None:
    try:
        await store.delete(key)
    except Exception:  # the orphan sweep removes it later
        log.exception("could not delete unrecorded attachment %s", key)


async def attachments_of(uow: IntakeUnitOfWork, number: str) -> list[Attachment]:
    async with uow:
        await _visible(uow, number)
        return await uow.complaints.attachments(number)


async def attachment_file(
    uow: IntakeUnitOfWork, store: AttachmentStore, number: str, attachment_id: str
) -> tuple[Attachment, bytes]:
    async with uow:
        await _visible(uow, number)
        attachment = await uow.complaints.attachment(number, attachment_id)
    if attachment is None:
        raise NotFound(f"attachment {attachment_id} of {number} not found")
    data = await store.get(attachment.storage_key)
    if checksum(data) != attachment.sha256:
        raise CorruptAttachment(f"the stored file of attachment {attachment_id} fails its checksum")
    return attachment, data


async def sweep_orphan_files(
    uow: IntakeUnitOfWork, store: AttachmentStore, *, grace: timedelta, dry_run: bool = False, batch: int = 500
) -> list[str]:
    """Delete stored files no attachment row names that are older than `grace` (a crash between
    storing and recording leaves such files; the grace keeps uploads in flight)."""
    cutoff = uow.clock.now() - grace
    candidates = sorted(f.key for f in await store.list() if f.modified_at < cutoff)
    orphans: list[str] = []
    for start in range(0, len(candidates), batch):
        keys = candidates[start : start + batch]
        async with uow:
            recorded = await uow.complaints.recorded_storage_keys(keys)
        orphans += [k for k in keys if k not in recorded]
    if not dry_run:
        for key in orphans:
            await store.delete(key)
    return orphans


# -- reading ---------------------------------------------------------------------------------------


async def complaint_of(uow: IntakeUnitOfWork, number: str) -> Complaint:
    async with uow:
        return await _visible(uow, number)


async def history_of(uow: IntakeUnitOfWork, number: str) -> tuple[Complaint, list[Revision]]:
    async with uow:
        complaint = await _visible(uow, number)
        return complaint, await uow.complaints.revisions(number)


async def search_complaints(
    uow: IntakeUnitOfWork, f: SearchFilter, *, after: Position | None, limit: int, ascending: bool
) -> list[Complaint]:
    async with uow:
        return await uow.complaints.search(f, after=after, limit=limit, ascending=ascending)


async def export_pages(uow: IntakeUnitOfWork, f: SearchFilter, *, page_size: int) -> AsyncIterator[list[Complaint]]:
    """Every matching complaint, oldest first, one keyset page per short read: nothing is held
    in memory or in a transaction while a page is written out."""
    after: Position | None = None
    while True:
        async with uow:
            page = await uow.complaints.search(f, after=after, limit=page_size, ascending=True)
        if page:
            yield page
        if len(page) < page_size:
            return
        last = page[-1]
        after = (last.details.registered_at, last.number)


async def complaint_counts(uow: IntakeUnitOfWork, f: SearchFilter) -> dict[str, Any]:
    async with uow:
        return await uow.complaints.counts(f)
