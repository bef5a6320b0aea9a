"""Domain events of intake -> the public events it publishes (CONTRACT.md event table).

Severity from triage and attachments are kept and audited, not published.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent
from intake.domain.model import Amended, Registered, Revision, SubmissionRejected, Withdrawn

# What intake publishes, for the AsyncAPI document.
PUBLISHES: dict[str, type[BaseModel]] = {
    public.COMPLAINT_REGISTERED: ComplaintRecord,
    public.COMPLAINT_REJECTED: public.ComplaintRejected,
    public.COMPLAINT_AMENDED: public.ComplaintAmended,
    public.COMPLAINT_WITHDRAWN: public.ComplaintWithdrawn,
}


def public_changes(revision: Revision) -> list[public.FieldChange]:
    return [public.FieldChange(field=c.field, before=c.before, after=c.after) for c in revision.changes]


def amended_payload(revision: Revision, record: ComplaintRecord) -> public.ComplaintAmended:
    """complaint.amended: the correction and the record after it (also the API's answer to one)."""
    return public.ComplaintAmended(
        number=record.number,
        factory=record.factory,
        revision=revision.revision,
        amended_at=revision.at,
        actor=revision.actor,
        reason=revision.reason,
        changes=public_changes(revision),
        record=record,
    )


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    if isinstance(event, Registered):
        record = event.record
        return [PublicEvent(public.COMPLAINT_REGISTERED, record.factory, record.number, record)]
    if isinstance(event, Amended):
        amended = amended_payload(event.revision, event.record)
        return [PublicEvent(public.COMPLAINT_AMENDED, event.record.factory, event.record.number, amended)]
    if isinstance(event, Withdrawn):
        data = public.ComplaintWithdrawn(
            number=event.number,
            factory=event.factory,
            withdrawn_at=event.at,
            actor=event.revision.actor,
            reason=event.reason,
        )
        return [PublicEvent(public.COMPLAINT_WITHDRAWN, event.factory, event.number, data)]
    if isinstance(event, SubmissionRejected):
        rejected = public.ComplaintRejected(
            original_event_id=event.event_id,
            external_ref=event.external_ref,
            errors=[public.FieldError(field=e.field, message=e.message) for e in event.errors],
        )
        return [PublicEvent(public.COMPLAINT_REJECTED, event.factory, None, rejected)]
    return ()
