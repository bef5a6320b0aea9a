"""What notification consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from typing import Any

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import COMPLAINT_REGISTERED, INVESTIGATION_OPENED, InvestigationOpened
from cqm_shared.messaging.consumer import Handles, Message, Subscription
from notification.domain.model import CaseOpened, Cause, ComplaintSummary, Deadline
from notification.service.handlers import Policies, notify_opened, notify_registered
from notification.service.unit_of_work import NotificationUnitOfWork


def complaint_summary(record: ComplaintRecord) -> ComplaintSummary:
    return ComplaintSummary(
        number=record.number,
        factory=record.factory,
        company=record.customer.company,
        product=record.product.part_number or record.product.model or "",
        phenomenon=record.phenomenon,
        batch_return=record.batch_return,
    )


def case_opened(payload: InvestigationOpened) -> CaseOpened:
    return CaseOpened(
        number=payload.number,
        factory=payload.factory,
        deadlines=tuple(Deadline(milestone=d.milestone, due_at=d.due_at) for d in payload.deadlines),
    )


def _cause(message: Message[Any]) -> Cause:
    return Cause(event_id=message.id, event_type=message.type)


def on_complaint_registered(policies: Policies) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[ComplaintRecord]) -> None:
        summary = complaint_summary(message.data)
        await notify_registered(uow, _cause(message), summary, policies, why=message.why)

    return Handles(handle)


def on_investigation_opened(policies: Policies) -> Handles:
    async def handle(uow: NotificationUnitOfWork, message: Message[InvestigationOpened]) -> None:
        await notify_opened(uow, _cause(message), case_opened(message.data), policies, why=message.why)

    return Handles(handle)


def subscriptions(policies: Policies) -> list[Subscription]:
    return [
        Subscription(
            purpose="complaints",
            handlers={COMPLAINT_REGISTERED: on_complaint_registered(policies)},
            description="Tells QE and R&D after-sales of new complaints; the quality head of batch returns.",
        ),
        Subscription(
            purpose="investigations",
            handlers={INVESTIGATION_OPENED: on_investigation_opened(policies)},
            description="Tells QE and customer service the deadlines of a new case.",
        ),
    ]
