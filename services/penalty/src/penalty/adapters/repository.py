"""Reading and writing assessments."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.events import ResponsibilityDetermined
from penalty.adapters.orm import assessments
from penalty.domain.model import Assessment, AssessmentStatus, LineItem


async def add(session: AsyncSession, a: Assessment) -> None:
    await session.execute(
        sa.insert(assessments).values(
            id=a.id,
            number=a.number,
            factory=a.factory,
            status=a.status.value,
            accident_class=a.determination.accident_class.value,
            loss_amount=a.determination.loss_amount,
            determination=a.determination.model_dump(mode="json"),
            line_items=[{"party": i.party, "rule_code": i.rule_code, "amount": str(i.amount)} for i in a.line_items],
            received_at=a.received_at,
        )
    )


async def for_complaint(session: AsyncSession, number: str, factories: frozenset[str] | None) -> list[Assessment]:
    stmt = sa.select(assessments).where(assessments.c.number == number).order_by(assessments.c.received_at)
    if factories is not None:
        stmt = stmt.where(assessments.c.factory.in_(sorted(factories)))
    rows = (await session.execute(stmt)).all()
    return [
        Assessment(
            id=r.id,
            number=r.number,
            factory=r.factory,
            status=AssessmentStatus(r.status),
            determination=ResponsibilityDetermined.model_validate(r.determination),
            received_at=r.received_at,
            line_items=[LineItem(i["party"], i["rule_code"], Decimal(i["amount"])) for i in r.line_items],
        )
        for r in rows
    ]
