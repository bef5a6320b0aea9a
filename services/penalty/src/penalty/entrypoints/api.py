"""HTTP API of penalty."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cqm_shared.contracts.events import ResponsibilityDetermined
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from penalty.adapters import repository

router = APIRouter(prefix="/api/v1/assessments", tags=["assessments"])


class LineItemView(BaseModel):
    party: str
    rule_code: str
    amount: Decimal


class AssessmentView(BaseModel):
    id: str
    number: str
    factory: str
    status: str
    received_at: datetime
    determination: ResponsibilityDetermined
    line_items: list[LineItemView]
    total: Decimal


@router.get("", response_model=list[AssessmentView], summary="Assessments of one complaint")
async def list_assessments(
    request: Request,
    principal: Annotated[Principal, Depends(require("assessments:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
) -> list[AssessmentView]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.sessions() as session:
        found = await repository.for_complaint(session, complaint, principal.visible_factories())
    return [
        AssessmentView(
            id=a.id,
            number=a.number,
            factory=a.factory,
            status=a.status.value,
            received_at=a.received_at,
            determination=a.determination,
            line_items=[LineItemView(party=i.party, rule_code=i.rule_code, amount=i.amount) for i in a.line_items],
            total=a.total,
        )
        for a in found
    ]
