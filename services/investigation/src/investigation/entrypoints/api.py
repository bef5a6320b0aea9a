"""HTTP API of investigation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel

from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from cqm_shared.web import version_etag
from investigation.domain.model import Case, ComplaintFacts, Deadline, Transition
from investigation.service.handlers import case_of
from investigation.service.unit_of_work import InvestigationUnitOfWork

router = APIRouter(prefix="/api/v1/investigations", tags=["investigations"])


def _uow(request: Request, principal: Principal) -> InvestigationUnitOfWork:
    uow: InvestigationUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


class DeadlineView(BaseModel):
    milestone: str
    due_at: datetime
    state: str  # pending / met / cancelled
    source: str  # the regulation clause the default comes from
    met_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, d: Deadline) -> DeadlineView:
        return cls(
            milestone=d.milestone,
            due_at=d.due_at,
            state=d.state.value,
            source=d.source,
            met_at=d.met_at,
            cancelled_at=d.cancelled_at,
        )


class CustomerView(BaseModel):
    company: str


class ProductView(BaseModel):
    part_number: str | None
    model: str | None


class CustomerRequestView(BaseModel):
    kind: str


class MarketView(BaseModel):
    region: str
    province: str | None


class ComplaintView(BaseModel):
    """The facts of the complaint investigation keeps (named as in the complaint record)."""

    number: str
    factory: str
    received_at: datetime
    registered_at: datetime
    customer: CustomerView
    product: ProductView
    phenomenon: str
    customer_request: CustomerRequestView | None
    market: MarketView
    batch_return: bool

    @classmethod
    def of(cls, c: ComplaintFacts) -> ComplaintView:
        return cls(
            number=c.number,
            factory=c.factory,
            received_at=c.received_at,
            registered_at=c.registered_at,
            customer=CustomerView(company=c.customer_company),
            product=ProductView(part_number=c.part_number, model=c.product_model),
            phenomenon=c.phenomenon,
            customer_request=CustomerRequestView(kind=c.request_kind) if c.request_kind is not None else None,
            market=MarketView(region=c.region.value, province=c.province.value if c.province else None),
            batch_return=c.batch_return,
        )


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str

    @classmethod
    def of(cls, t: Transition) -> HistoryEntry:
        return cls(
            at=t.at,
            actor=t.actor,
            action=t.action,
            from_state=t.from_state.value if t.from_state else None,
            to_state=t.to_state.value,
            reason=t.reason,
        )


class InvestigationView(BaseModel):
    number: str
    factory: str
    state: str
    version: int
    opened_at: datetime
    updated_at: datetime
    deadlines: list[DeadlineView]
    complaint: ComplaintView
    parties: list[dict[str, object]]
    actions: list[dict[str, object]]
    history: list[HistoryEntry]

    @classmethod
    def of(cls, case: Case) -> InvestigationView:
        return cls(
            number=case.number,
            factory=case.factory,
            state=case.state.value,
            version=case.version,
            opened_at=case.opened_at,
            updated_at=case.updated_at,
            deadlines=[DeadlineView.of(d) for d in case.deadlines],
            complaint=ComplaintView.of(case.complaint),
            parties=[],  # responsibility (责任判定): a later issue
            actions=[],  # corrective / preventive actions: a later issue
            history=[HistoryEntry.of(t) for t in case.history],
        )


@router.get(
    "/{number}",
    response_model=InvestigationView,
    summary="State, deadlines, parties, actions, history",
    responses={
        200: {
            "headers": {
                "ETag": {
                    "description": 'the case version, e.g. "3": send it back as If-Match to change the case',
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
async def read_investigation(
    number: Annotated[str, Path(max_length=32)],
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
) -> InvestigationView:
    case = await case_of(_uow(request, principal), number)
    response.headers["ETag"] = version_etag(case.version)
    return InvestigationView.of(case)
