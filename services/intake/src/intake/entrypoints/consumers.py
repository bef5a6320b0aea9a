"""What intake consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from cqm_shared.contracts.complaint import ComplaintForm
from cqm_shared.contracts.events import (
    COMPLAINT_SUBMITTED,
    INVESTIGATION_TRIAGED,
    InvestigationTriaged,
)
from cqm_shared.messaging.consumer import EventHandler, Handles, InvalidPayload, Message, Subscription
from cqm_shared.policy import PolicyBook
from intake.domain.model import FieldError
from intake.domain.policy import IntakePolicy
from intake.service.handlers import FactoryNotServed, register_complaint, reject_submission, set_severity
from intake.service.unit_of_work import IntakeUnitOfWork


def on_submitted(policies: PolicyBook[IntakePolicy]) -> EventHandler:
    """complaint.submitted from another system: register once, or answer complaint.rejected."""

    async def handle(uow: IntakeUnitOfWork, message: Message[ComplaintForm]) -> None:
        form = message.data
        if form.factory != message.factory:
            error = FieldError("factory", f"differs from the event's factory {message.factory}", "factory_mismatch")
        else:
            try:
                await register_complaint(uow, policies, form, source=message.source)
                return
            except FactoryNotServed:
                error = FieldError("factory", f"unknown factory {form.factory}", "unknown_factory")
        await reject_submission(
            uow,
            event_id=message.id,
            source=message.source,
            factory=message.factory,
            data=form.model_dump(mode="json", exclude_unset=True),
            errors=[error],
        )

    return handle


async def on_invalid_submission(uow: IntakeUnitOfWork, invalid: InvalidPayload) -> None:
    """A complaint.submitted whose form does not validate: kept and answered, nothing is lost."""
    await reject_submission(
        uow,
        event_id=invalid.id,
        source=invalid.source,
        factory=invalid.factory,
        data=invalid.data,
        errors=[FieldError.from_dict(e) for e in invalid.errors],
    )


async def on_triaged(uow: IntakeUnitOfWork, message: Message[InvestigationTriaged]) -> None:
    triage = message.data
    await set_severity(uow, triage.number, triage.severity, actor=triage.actor, why=f"{message.type} {message.id}")


def subscriptions(policies: PolicyBook[IntakePolicy]) -> list[Subscription]:
    return [
        Subscription(
            purpose="submissions",
            handlers={COMPLAINT_SUBMITTED: Handles(on_submitted(policies), on_invalid=on_invalid_submission)},
            description=(
                "complaint.submitted from other systems (CRM, ERP, portal): registered exactly once per event id "
                "and per (source, external_ref); invalid ones are answered with complaint.rejected."
            ),
        ),
        Subscription(
            purpose="investigations",
            handlers={INVESTIGATION_TRIAGED: Handles(on_triaged)},
            description="Keeps the triage severity beside the complaint for search, as a revision of its history.",
        ),
    ]
