"""What investigation consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from datetime import UTC

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import (
    COMPLAINT_AMENDED,
    COMPLAINT_REGISTERED,
    COMPLAINT_WITHDRAWN,
    ComplaintAmended,
    ComplaintWithdrawn,
)
from cqm_shared.messaging.consumer import Handles, Message, Subscription
from investigation.domain.model import ComplaintFacts, Province, Region
from investigation.service.handlers import Policies, amend_case, open_case, withdraw_case
from investigation.service.unit_of_work import InvestigationUnitOfWork


def complaint_facts(record: ComplaintRecord) -> ComplaintFacts:
    """The fields of the public record investigation keeps, in its own types."""
    market, request = record.market, record.customer_request
    return ComplaintFacts(
        number=record.number,
        factory=record.factory,
        registered_at=record.registered_at.astimezone(UTC),
        received_at=record.received_at.astimezone(UTC),
        region=Region(market.region.value),
        province=Province(market.province.value) if market.province is not None else None,
        phenomenon=record.phenomenon,
        customer_company=record.customer.company,
        part_number=record.product.part_number,
        product_model=record.product.model,
        request_kind=request.kind.value if request is not None else None,
        batch_return=record.batch_return,
        quantity_defective=record.product.quantity_defective,
    )


def on_complaint_registered(policies: Policies) -> Handles:
    async def handle(uow: InvestigationUnitOfWork, message: Message[ComplaintRecord]) -> None:
        await open_case(uow, complaint_facts(message.data), policies, why=message.why)

    return Handles(handle)


def on_complaint_amended(policies: Policies) -> Handles:
    async def handle(uow: InvestigationUnitOfWork, message: Message[ComplaintAmended]) -> None:
        amended = message.data
        why = f"{message.why}: {amended.reason}" if amended.reason else message.why
        await amend_case(uow, complaint_facts(amended.record), policies, why=why)

    return Handles(handle)


async def on_complaint_withdrawn(uow: InvestigationUnitOfWork, message: Message[ComplaintWithdrawn]) -> None:
    withdrawn = message.data
    why = f"{message.why}: {withdrawn.reason}" if withdrawn.reason else message.why
    await withdraw_case(uow, withdrawn.number, why=why)


def subscriptions(policies: Policies) -> list[Subscription]:
    return [
        Subscription(
            purpose="complaints",
            handlers={
                COMPLAINT_REGISTERED: on_complaint_registered(policies),
                COMPLAINT_AMENDED: on_complaint_amended(policies),
                COMPLAINT_WITHDRAWN: Handles(on_complaint_withdrawn),
            },
            description=(
                "Opens a case with its deadlines for every registered complaint; keeps the case's copy of a "
                "corrected complaint (rescheduling the deadlines it moves); ends the case of a withdrawn one."
            ),
        )
    ]
