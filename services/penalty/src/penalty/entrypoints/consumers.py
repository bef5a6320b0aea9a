"""What penalty consumes: public events translated into its own terms, then a use case.

- `investigation.responsibility_determined`: the determination is assessed (a newer one of the
  same case supersedes the older assessment);
- `investigation.dispute_ruled` with responsibility cleared (market cause): the case's
  assessments are voided;
- `sla.breached`: the process penalties of the milestones that carry one (seed 000 §4.3).
"""

from __future__ import annotations

from datetime import UTC

from cqm_shared.contracts.events import (
    DISPUTE_RULED,
    RESPONSIBILITY_DETERMINED,
    SLA_BREACHED,
    DisputeRuled,
    ResponsibilityDetermined,
    SlaEvent,
)
from cqm_shared.messaging.consumer import Handles, Message, Subscription
from penalty.domain.terms import AccidentClass, Breach, Degree, Determination, Finding, Party, ProductStage
from penalty.service.handlers import assess_breach, assess_determination, void_case
from penalty.service.rules import RuleSource
from penalty.service.unit_of_work import PenaltyUnitOfWork


def _stage(value: str) -> ProductStage:
    try:
        return ProductStage(value)
    except ValueError:
        return ProductStage.SERIES


def determination(payload: ResponsibilityDetermined) -> Determination:
    found: tuple[Finding, ...]
    if payload.findings:
        found = tuple(
            Finding(
                code=f.code,
                occurrences=f.occurrences,
                pieces=f.pieces,
                party=f.party,
                product_stage=_stage(f.product_stage),
                degree=Degree.SERIOUS if f.degree == "serious" else Degree.GENERAL,
            )
            for f in payload.findings
        )
    else:  # an older producer: rule codes only, once each
        found = tuple(Finding(code=code) for code in payload.rule_codes)
    return Determination(
        number=payload.number,
        factory=payload.factory,
        determined_at=payload.determined_at.astimezone(UTC),
        accident_class=AccidentClass(payload.accident_class.value),
        loss_amount=payload.loss_amount,
        parties=tuple(
            Party(kind=p.kind.value, name=p.name, share=p.share, department=p.department, role=p.role)
            for p in payload.parties
        ),
        findings=found,
        sequence=payload.determination,
    )


def breach(payload: SlaEvent) -> Breach | None:
    if payload.number is None:
        return None
    return Breach(
        number=payload.number,
        factory=payload.factory,
        milestone=payload.milestone,
        round=payload.round,
        due_at=payload.due_at.astimezone(UTC),
        breached_at=payload.at.astimezone(UTC),
        department=payload.department,
    )


def subscriptions(rules: RuleSource) -> list[Subscription]:
    async def on_determined(uow: PenaltyUnitOfWork, message: Message[ResponsibilityDetermined]) -> None:
        await assess_determination(uow, rules, message.id, determination(message.data), why=message.why)

    async def on_ruled(uow: PenaltyUnitOfWork, message: Message[DisputeRuled]) -> None:
        ruled = message.data
        if ruled.responsibility_cleared:
            await void_case(uow, rules, ruled.number, ruled.factory, why=f"{message.why}: responsibility cleared")

    async def on_breached(uow: PenaltyUnitOfWork, message: Message[SlaEvent]) -> None:
        missed = breach(message.data)
        if missed is not None:
            await assess_breach(uow, rules, missed, why=message.why)

    return [
        Subscription(
            purpose="responsibility",
            handlers={RESPONSIBILITY_DETERMINED: Handles(on_determined), DISPUTE_RULED: Handles(on_ruled)},
            description="Assesses every responsibility determination; a cleared ruling voids the case's assessments.",
        ),
        Subscription(
            purpose="breaches",
            handlers={SLA_BREACHED: Handles(on_breached)},
            description="Process penalties for missed milestones (seed 000 §4.3.1.6, §4.3.2.1, §4.3.2.2).",
        ),
    ]
