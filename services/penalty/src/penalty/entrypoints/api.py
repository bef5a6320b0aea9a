"""HTTP API of penalty."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from penalty.domain.model import Assessment
from penalty.service.handlers import assessments_of
from penalty.service.unit_of_work import PenaltyUnitOfWork

router = APIRouter(prefix="/api/v1/assessments", tags=["assessments"])


def _uow(request: Request, principal: Principal) -> PenaltyUnitOfWork:
    uow: PenaltyUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


class PartyView(BaseModel):
    kind: str
    name: str
    department: str | None
    role: str | None
    share: Decimal


class DeterminationView(BaseModel):
    determined_at: datetime
    accident_class: str
    loss_amount: Decimal
    parties: list[PartyView]
    rule_codes: list[str]


class LineItemView(BaseModel):
    party: str
    rule_code: str
    amount: Decimal


class AssessmentView(BaseModel):
    id: str
    number: str
    factory: str
    status: str
    version: int
    received_at: datetime
    determination: DeterminationView
    line_items: list[LineItemView]
    total: Decimal

    @classmethod
    def of(cls, a: Assessment) -> AssessmentView:
        d = a.determination
        return cls(
            id=a.id,
            number=a.number,
            factory=a.factory,
            status=a.status.value,
            version=a.version,
            received_at=a.received_at,
            determination=DeterminationView(
                determined_at=d.determined_at,
                accident_class=d.accident_class,
                loss_amount=d.loss_amount,
                parties=[
                    PartyView(kind=p.kind, name=p.name, department=p.department, role=p.role, share=p.share)
                    for p in d.parties
                ],
                rule_codes=list(d.rule_codes),
            ),
            line_items=[],  # computed by the rule engine (penalty's own issue)
            total=Decimal("0"),
        )


@router.get("", response_model=list[AssessmentView], summary="Assessments of one complaint")
async def list_assessments(
    request: Request,
    principal: Annotated[Principal, Depends(require("assessments:read"))],
    complaint: Annotated[str, Query(min_length=1, max_length=32)],
) -> list[AssessmentView]:
    return [AssessmentView.of(a) for a in await assessments_of(_uow(request, principal), complaint)]
