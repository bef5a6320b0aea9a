"""HTTP API of intake: register, read and search complaints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator

from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord, ComplaintStatus
from cqm_shared.problems import problem
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from intake.adapters import repository
from intake.service.handlers import SOURCE, FactoryNotServed, register_complaint

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])


class ComplaintPage(BaseModel):
    items: list[ComplaintRecord]
    next_cursor: str | None


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintRecord,
    summary="Register a complaint (受理)",
)
async def create_complaint(
    form: ComplaintForm,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("complaints:create"))],
) -> ComplaintRecord | JSONResponse:
    if not principal.can_see(form.factory):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not register complaints for {form.factory}")
    runtime = _runtime(request)
    source = SOURCE if principal.kind == "user" else f"{SOURCE}/api-key/{principal.subject}"
    try:
        record = await register_complaint(
            runtime.transaction, request.app.state.policies, form, source=source, actor=principal.actor
        )
    except FactoryNotServed as exc:
        return problem(
            422,
            "Unprocessable Content",
            "The request has invalid fields.",
            errors=[{"field": "factory", "message": f"unknown factory {exc}", "type": "unknown_factory"}],
        )
    response.headers["Location"] = f"/api/v1/complaints/{record.number}"
    return record


@router.get("/{number}", response_model=ComplaintRecord, summary="Read one complaint")
async def read_complaint(
    number: Annotated[str, Path(max_length=32)],
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:read"))],
) -> ComplaintRecord:
    async with _runtime(request).sessions() as session:
        record = await repository.get(session, number)
    # Another factory's complaint is "not found": its existence is not disclosed either.
    if record is None or not principal.can_see(record.factory):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"complaint {number} not found")
    return record


def _iso_text(value: object) -> object:
    """Query times are RFC 3339 text; pydantic would also take a bare number as epoch seconds."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("expected an RFC 3339 date-time, e.g. 2026-11-01T00:00:00Z")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]

# Keyset cursor "<registered_at in epoch microseconds>~<number>": every value the documented
# pattern admits is a position, so a client can never send a schema-valid cursor we refuse.
CURSOR_PATTERN = r"^[0-9]{1,16}~[A-Za-z0-9-]{1,32}$"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    micros, number = cursor.split("~", 1)
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(micros)), number


def _encode_cursor(record: ComplaintRecord) -> str:
    micros = (record.registered_at - datetime.fromtimestamp(0, UTC)) // timedelta(microseconds=1)
    return f"{micros}~{record.number}"


@router.get("", response_model=ComplaintPage, summary="Search complaints, newest first")
async def search_complaints(
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:read"))],
    factory: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9]{1,9}$")] = None,
    status_: Annotated[ComplaintStatus | None, Query(alias="status")] = None,
    from_: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    to: Annotated[IsoDateTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> ComplaintPage:
    if factory is not None and factory not in request.app.state.policies.factories:
        raise RequestValidationError(
            [{"loc": ("query", "factory"), "msg": f"unknown factory {factory}", "type": "unknown_factory"}]
        )
    after = _decode_cursor(cursor) if cursor else None
    visible = principal.visible_factories()
    if factory is not None and not principal.can_see(factory):
        return ComplaintPage(items=[], next_cursor=None)
    async with _runtime(request).sessions() as session:
        items = await repository.search(
            session,
            factories=visible,
            factory=factory,
            status=status_.value if status_ else None,
            registered_from=from_,
            registered_to=to,
            after=after,
            limit=limit + 1,
        )
    more = len(items) > limit
    items = items[:limit]
    return ComplaintPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)
