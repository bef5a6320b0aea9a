"""What penalty consumes: public events translated into its own terms, then a use case."""

from __future__ import annotations

from cqm_shared.contracts.events import RESPONSIBILITY_DETERMINED, ResponsibilityDetermined
from cqm_shared.messaging.consumer import Handles, Message, Subscription
from penalty.domain.model import Determination, Party
from penalty.service.handlers import open_assessment
from penalty.service.unit_of_work import PenaltyUnitOfWork


def determination(payload: ResponsibilityDetermined) -> Determination:
    return Determination(
        number=payload.number,
        factory=payload.factory,
        determined_at=payload.determined_at,
        accident_class=payload.accident_class.value,
        loss_amount=payload.loss_amount,
        parties=tuple(
            Party(kind=p.kind.value, name=p.name, share=p.share, department=p.department, role=p.role)
            for p in payload.parties
        ),
        rule_codes=tuple(payload.rule_codes),
    )


async def on_responsibility_determined(uow: PenaltyUnitOfWork, message: Message[ResponsibilityDetermined]) -> None:
    await open_assessment(uow, message.id, determination(message.data), why=message.why)


def subscriptions() -> list[Subscription]:
    return [
        Subscription(
            purpose="responsibility",
            handlers={RESPONSIBILITY_DETERMINED: Handles(on_responsibility_determined)},
            description="Opens a penalty assessment for every responsibility determination.",
        )
    ]
