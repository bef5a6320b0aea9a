"""Registering a complaint (受理), correcting it (划改), withdrawing it. Pure: no I/O.

Numbering (seed 002 (八), seed 000 第八条): factory + year + month + serial, the serial
restarting every month, e.g. `F01-2611-0007`. Which serial comes next is decided by the
persistence layer under a lock; this module only says how the number reads.

The complaint form and the registered record are intake's own (it owns them in the contract):
`ComplaintForm` / `ComplaintRecord` are the value objects of the `Complaint` aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord, ComplaintStatus, Severity
from cqm_shared.domain import Aggregate, DomainError, DomainEvent, InvalidTransition
from intake.domain.corrections import FieldChange, apply_changes, diff
from intake.domain.policy import IntakePolicy


def numbering_period(registered_at: datetime, policy: IntakePolicy) -> str:
    """`YYMM` of the factory's local calendar month at registration."""
    if registered_at.tzinfo is None:
        raise ValueError("registered_at must be timezone-aware")
    return registered_at.astimezone(policy.zone).strftime("%y%m")


def registration_day(registered_at: datetime, policy: IntakePolicy) -> int:
    """`yyyymmdd` of the factory's local calendar day at registration: the day statistics count
    the complaint on (DOMAIN.md §6), in the same calendar as the number's month."""
    if registered_at.tzinfo is None:
        raise ValueError("registered_at must be timezone-aware")
    local = registered_at.astimezone(policy.zone)
    return local.year * 10000 + local.month * 100 + local.day


def complaint_number(factory: str, period: str, serial: int, policy: IntakePolicy) -> str:
    if serial < 1:
        raise ValueError("serials start at 1")
    return f"{factory}-{period}-{serial:0{policy.serial_digits}d}"


class SenderReferenceTaken(DomainError):
    """Another registration with the same (source, external_ref) committed first."""

    def __init__(self, source: str, external_ref: str) -> None:
        super().__init__(f"{source} already registered a complaint with external_ref {external_ref}")
        self.source = source
        self.external_ref = external_ref


@dataclass(frozen=True)
class Revision:
    """One correction of the record, keeping what it replaced (划改, DOMAIN.md §7)."""

    revision: int
    at: datetime
    actor: str
    action: str  # amend, withdraw, severity
    reason: str
    changes: tuple[FieldChange, ...]
    record_before: ComplaintRecord


@dataclass(frozen=True)
class Attachment:
    """A stored file (不良图片, 报告): the bytes live in the attachment store under `storage_key`."""

    id: str
    number: str
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    uploaded_at: datetime
    uploaded_by: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "storage_key": self.storage_key,
            "uploaded_by": self.uploaded_by,
        }


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    type: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldError:
        return cls(str(data["field"]), str(data["message"]), str(data.get("type", "invalid")))


# -- domain events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Registered(DomainEvent):
    action: ClassVar[str] = "register"
    record: ComplaintRecord
    source: str


@dataclass(frozen=True, kw_only=True)
class Amended(DomainEvent):
    action: ClassVar[str] = "amend"
    revision: Revision
    record: ComplaintRecord


@dataclass(frozen=True, kw_only=True)
class Withdrawn(DomainEvent):
    """Published as complaint.withdrawn (what it carries is what the translator reads)."""

    action: ClassVar[str] = "withdraw"
    number: str
    factory: str
    revision: Revision


# Kept and audited, not published: the audit row's facts come from the Change (before / after),
# so these events carry nothing beyond when, who and why.


@dataclass(frozen=True, kw_only=True)
class SeverityChanged(DomainEvent):
    action: ClassVar[str] = "severity"


@dataclass(frozen=True, kw_only=True)
class AttachmentRecorded(DomainEvent):
    action: ClassVar[str] = "attach"


@dataclass(frozen=True, kw_only=True)
class SubmissionRejected(DomainEvent):
    action: ClassVar[str] = "reject"
    event_id: str
    factory: str
    external_ref: str | None
    errors: tuple[FieldError, ...]


# -- the complaint ---------------------------------------------------------------------------------


@dataclass
class Complaint(Aggregate):
    """A registered complaint. Every change keeps a revision and is audited and published."""

    entity: ClassVar[str] = "complaint"

    number: str
    factory: str
    details: ComplaintRecord  # the registered record as it reads now
    period: str
    serial: int
    source: str
    day: int  # yyyymmdd of registration in the factory's calendar (see `registration_day`)
    last_revision: int = 0
    version: int = 0
    # Written by the repository with the complaint at commit, then forgotten.
    new_revisions: list[Revision] = field(default_factory=list)
    new_attachments: list[Attachment] = field(default_factory=list)

    @property
    def identity(self) -> str:
        return self.number

    @property
    def status(self) -> ComplaintStatus:
        return self.details.status

    def snapshot(self) -> dict[str, Any]:
        """The record (an attachment's audit row adds the file recorded, see `attach`)."""
        return self.details.model_dump(mode="json")

    @classmethod
    def register(
        cls,
        form: ComplaintForm,
        *,
        number: str,
        period: str,
        serial: int,
        source: str,
        registered_at: datetime,
        day: int,
        repeat_of: str | None,
        actor: str,
    ) -> Complaint:
        """The registered record: the form as given, plus number, status and derived values."""
        data = form.model_dump()
        data.update(
            number=number,
            status=ComplaintStatus.REGISTERED,
            received_at=form.received_at or registered_at,
            registered_at=registered_at,
            defect_rate=form.product.defect_rate,
            repeat_of=repeat_of,
        )
        record = ComplaintRecord.model_validate(data)
        complaint = cls(
            number=number, factory=form.factory, details=record, period=period, serial=serial, source=source, day=day
        )
        reason = f"received via {source}" + (f"; repeat of {repeat_of}" if repeat_of else "")
        complaint.record(
            Registered(at=registered_at, reason=reason, actor=actor, record=record, source=source), before=None
        )
        return complaint

    def _refuse_if_withdrawn(self, action: str) -> None:
        if self.status is ComplaintStatus.WITHDRAWN:
            raise InvalidTransition(
                self.entity, self.number, self.status.value, action, "a withdrawn complaint is closed"
            )

    def _revise(
        self, after: ComplaintRecord, *, action: str, reason: str, actor: str, at: datetime, changes: list[FieldChange]
    ) -> tuple[Revision, dict[str, Any]]:
        before = self.snapshot()
        revision = Revision(
            revision=self.last_revision + 1,
            at=at,
            actor=actor,
            action=action,
            reason=reason,
            changes=tuple(changes),
            record_before=self.details,
        )
        self.details = after
        self.last_revision = revision.revision
        self.new_revisions.append(revision)
        return revision, before

    def amend(self, changes: dict[str, Any], *, reason: str, actor: str, at: datetime) -> Revision:
        """Correct fields of the record; the original values are kept (complaint.amended)."""
        self._refuse_if_withdrawn("amend")
        after, changed = apply_changes(self.details, changes)
        revision, before = self._revise(after, action="amend", reason=reason, actor=actor, at=at, changes=changed)
        self.record(Amended(at=at, reason=reason, actor=actor, revision=revision, record=after), before=before)
        return revision

    def withdraw(self, *, reason: str, actor: str, at: datetime) -> Revision:
        """Withdraw with a reason (complaint.withdrawn); nothing changes a withdrawn complaint."""
        self._refuse_if_withdrawn("withdraw")
        after = self.details.model_copy(update={"status": ComplaintStatus.WITHDRAWN, "withdrawn_reason": reason})
        changed = diff(self.details.model_dump(mode="json"), after.model_dump(mode="json"))
        revision, before = self._revise(after, action="withdraw", reason=reason, actor=actor, at=at, changes=changed)
        self.record(
            Withdrawn(at=at, reason=reason, actor=actor, number=self.number, factory=self.factory, revision=revision),
            before=before,
        )
        return revision

    def set_severity(self, severity: Severity, *, reason: str, actor: str, at: datetime) -> Revision | None:
        """The severity found at triage (investigation.triaged), kept as a revision; None if unchanged."""
        if self.details.severity == severity:
            return None
        after = self.details.model_copy(update={"severity": severity})
        changed = [
            FieldChange("severity", self.details.severity.value if self.details.severity else None, severity.value)
        ]
        revision, before = self._revise(after, action="severity", reason=reason, actor=actor, at=at, changes=changed)
        self.record(SeverityChanged(at=at, reason=reason, actor=actor), before=before)
        return revision

    def ensure_attachable(self) -> None:
        self._refuse_if_withdrawn("attach")

    def attach(self, attachment: Attachment, *, at: datetime) -> Attachment:
        """Record a stored file as evidence of this complaint (audited, not published)."""
        self.ensure_attachable()
        if attachment.number != self.number:
            raise ValueError(f"attachment {attachment.id} is for {attachment.number}, not {self.number}")
        record = self.snapshot()
        self.new_attachments.append(attachment)
        self.record(
            AttachmentRecorded(at=at, reason=f"attachment {attachment.filename}", actor=attachment.uploaded_by),
            before=record,
            after={**record, "attached": [attachment.summary()]},  # the file recorded, with its SHA-256
        )
        return attachment


# -- a submission that could not be registered -----------------------------------------------------


@dataclass
class RejectedSubmission(Aggregate):
    """A complaint.submitted that was invalid: kept (nothing is lost) and answered with complaint.rejected."""

    entity: ClassVar[str] = "submission"

    event_id: str
    source: str
    factory: str
    external_ref: str | None
    errors: tuple[FieldError, ...]
    data: dict[str, Any]
    received_at: datetime
    version: int = 0

    @property
    def identity(self) -> str:
        return self.event_id

    def snapshot(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "source": self.source,
            "external_ref": self.external_ref,
            "errors": [e.as_dict() for e in self.errors],
        }

    @classmethod
    def reject(
        cls,
        *,
        event_id: str,
        source: str,
        factory: str,
        data: dict[str, Any],
        errors: list[FieldError],
        at: datetime,
    ) -> RejectedSubmission:
        if not errors:
            raise ValueError("a rejection names what is wrong")
        external_ref = data.get("external_ref")
        rejected = cls(
            event_id=event_id,
            source=source,
            factory=factory,
            external_ref=external_ref if isinstance(external_ref, str) else None,
            errors=tuple(errors),
            data=data,
            received_at=at,
        )
        rejected.record(
            SubmissionRejected(
                at=at,
                reason=f"complaint.submitted {event_id} from {source}: "
                + "; ".join(f"{e.field}: {e.message}" for e in errors),
                event_id=event_id,
                factory=factory,
                external_ref=rejected.external_ref,
                errors=rejected.errors,
            ),
            before=None,
        )
        return rejected
