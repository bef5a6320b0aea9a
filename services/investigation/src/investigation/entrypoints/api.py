"""HTTP API of investigation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import Deadline
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from investigation.adapters import repository

router = APIRouter(prefix="/api/v1/investigations", tags=["investigations"])


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str


class InvestigationView(BaseModel):
    number: str
    factory: str
    state: str
    opened_at: datetime
    deadlines: list[Deadline]
    complaint: ComplaintRecord
    parties: list[dict[str, object]]
    actions: list[dict[str, object]]
    history: list[HistoryEntry]


@router.get("/{number}", response_model=InvestigationView, summary="State, deadlines, parties, actions, history")
async def read_investigation(
    number: Annotated[str, Path(max_length=32)],
    request: Request,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
) -> InvestigationView:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.sessions() as session:
        case = await repository.get(session, number)
    if case is None or not principal.can_see(case.factory):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"investigation {number} not found")
    return InvestigationView(
        number=case.number,
        factory=case.factory,
        state=case.state.value,
        opened_at=case.opened_at,
        deadlines=case.deadlines,
        complaint=case.complaint,
        parties=[],
        actions=[],
        history=[
            HistoryEntry(
                at=t.at,
                actor=t.actor,
                action=t.action,
                from_state=t.from_state.value if t.from_state else None,
                to_state=t.to_state.value,
                reason=t.reason,
            )
            for t in case.history
        ],
    )
