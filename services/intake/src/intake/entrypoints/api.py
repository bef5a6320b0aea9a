"""HTTP API of intake: register, read, search, export, correct, withdraw, attach."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, Request, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError

from cqm_shared.contracts.complaint import (
    Channel,
    ComplaintForm,
    ComplaintRecord,
    ComplaintStatus,
    Customer,
    CustomerRequest,
    DateTimeText,
    Market,
    Product,
    Severity,
)
from cqm_shared.contracts.events import ComplaintAmended, FieldChange
from cqm_shared.problems import problem
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from intake.adapters import repository
from intake.domain.corrections import CorrectionRefused, InvalidAmendment
from intake.service.handlers import (
    SOURCE,
    AttachmentRefused,
    FactoryNotServed,
    NotFound,
    amend_complaint,
    attach,
    register_in,
    withdraw_complaint,
)

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])
stats_router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

Number = Annotated[str, Path(max_length=32, pattern=r"^[A-Z][A-Z0-9]{1,9}-[0-9]{4}-[0-9]{3,8}$")]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _invalid(field: str, message: str, type_: str) -> JSONResponse:
    return problem(
        422,
        "Unprocessable Content",
        "The request has invalid fields.",
        errors=[{"field": field, "message": message, "type": type_}],
    )


async def _visible(request: Request, principal: Principal, number: str) -> ComplaintRecord:
    """The complaint if the caller may see it; another factory's complaint is 'not found'."""
    async with _runtime(request).sessions() as session:
        record = await repository.get(session, number)
    if record is None or not principal.can_see(record.factory):
        raise _not_found(number)
    return record


def _not_found(number: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"complaint {number} not found")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintRecord,
    responses={200: {"model": ComplaintRecord, "description": "already registered under this external_ref"}},
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
        for attempt in range(2):
            try:
                async with runtime.transaction() as session:
                    registration = await register_in(
                        session,
                        request.app.state.policies,
                        form,
                        source=source,
                        actor=principal.actor,
                        now=request.app.state.clock(),
                    )
                break
            except IntegrityError:
                # A concurrent request with the same external_ref won: answer with its complaint.
                if attempt == 1 or not form.external_ref:
                    raise
    except FactoryNotServed as exc:
        return _invalid("factory", f"unknown factory {exc}", "unknown_factory")
    response.headers["Location"] = f"/api/v1/complaints/{registration.record.number}"
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return registration.record


# Keyset cursor "<registered_at in epoch microseconds>~<number>": every value the documented
# pattern admits is a position, so a client can never send a schema-valid cursor we refuse.
CURSOR_PATTERN = r"^[0-9]{1,16}~[A-Za-z0-9-]{1,32}$"
EPOCH = datetime.fromtimestamp(0, UTC)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    micros, number = cursor.split("~", 1)
    return EPOCH + timedelta(microseconds=int(micros)), number


def _encode_cursor(record: ComplaintRecord) -> str:
    return f"{(record.registered_at - EPOCH) // timedelta(microseconds=1)}~{record.number}"


class SearchParams(BaseModel):
    """Filters shared by search, export and statistics."""

    factory: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    status: ComplaintStatus | None = None
    customer: str | None = Field(default=None, min_length=1, max_length=200, description="part of the company name")
    part: str | None = Field(default=None, min_length=1, max_length=200, description="part number (料号)")
    severity: Severity | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description="free text")
    from_: DateTimeText | None = Field(default=None, alias="from")
    to: DateTimeText | None = None
    include_repeats: bool = True


def _filter(request: Request, principal: Principal, params: SearchParams) -> repository.SearchFilter | None:
    """None when the caller asked for a factory it may not see (an empty answer)."""
    if params.factory is not None and params.factory not in request.app.state.policies.factories:
        raise RequestValidationError(
            [{"loc": ("query", "factory"), "msg": f"unknown factory {params.factory}", "type": "unknown_factory"}]
        )
    if params.factory is not None and not principal.can_see(params.factory):
        return None
    return repository.SearchFilter(
        factories=principal.visible_factories(),
        factory=params.factory,
        status=params.status.value if params.status else None,
        customer=params.customer,
        part=params.part,
        severity=params.severity.value if params.severity else None,
        text=params.q,
        registered_from=params.from_,
        registered_to=params.to,
        include_repeats=params.include_repeats,
    )


class ComplaintPage(BaseModel):
    items: list[ComplaintRecord]
    next_cursor: str | None


@router.get("", response_model=ComplaintPage, summary="Search complaints (cursor-paginated)")
async def search_complaints(
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:read"))],
    params: Annotated[SearchParams, Query()],
    sort: Annotated[Literal["registered_at", "-registered_at"], Query()] = "-registered_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> ComplaintPage:
    search = _filter(request, principal, params)
    if search is None:
        return ComplaintPage(items=[], next_cursor=None)
    async with _runtime(request).sessions() as session:
        items = await repository.search(
            session,
            search,
            after=_decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
            ascending=sort == "registered_at",
        )
    more = len(items) > limit
    items = items[:limit]
    return ComplaintPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


EXPORT_LIMIT = 50_000
CSV_COLUMNS = [
    ("number", "编号 number"),
    ("factory", "工厂 factory"),
    ("status", "状态 status"),
    ("registered_at", "受理时间 registered at"),
    ("received_at", "接收时间 received at"),
    ("channel", "渠道 channel"),
    ("customer.company", "客户 customer"),
    ("product.model", "型号 model"),
    ("product.part_number", "料号 part number"),
    ("product.order_number", "订单编号 order"),
    ("product.quantity_shipped", "交货数量 shipped"),
    ("product.quantity_defective", "不良数量 defective"),
    ("defect_rate", "不良率% defect rate"),
    ("phenomenon", "问题现象 phenomenon"),
    ("severity", "严重度 severity"),
    ("batch_return", "批量退货 batch return"),
    ("repeat_of", "重复于 repeat of"),
]


def _cell(record: dict[str, Any], path: str) -> str:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV (UTF-8 with BOM, for Excel)"}},
    summary="Export the search result as CSV",
)
async def export_complaints(
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:read"))],
    params: Annotated[SearchParams, Query()],
) -> StreamingResponse:
    search = _filter(request, principal, params)
    records: list[ComplaintRecord] = []
    if search is not None:
        async with _runtime(request).sessions() as session:
            records = await repository.search(session, search, after=None, limit=EXPORT_LIMIT, ascending=True)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([title for _, title in CSV_COLUMNS])
        for record in records:
            data = record.model_dump(mode="json")
            writer.writerow([_cell(data, path) for path, _ in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="complaints.csv"'},
    )


@router.get("/{number}", response_model=ComplaintRecord, summary="Read one complaint")
async def read_complaint(
    number: Number, request: Request, principal: Annotated[Principal, Depends(require("complaints:read"))]
) -> ComplaintRecord:
    return await _visible(request, principal, number)


class Revision(BaseModel):
    revision: int
    at: datetime
    actor: str
    action: str
    reason: str
    changes: list[FieldChange]
    record_before: ComplaintRecord


class History(BaseModel):
    current: ComplaintRecord
    revisions: list[Revision]


@router.get("/{number}/history", response_model=History, summary="Corrections with the original values (划改)")
async def complaint_history(
    number: Number, request: Request, principal: Annotated[Principal, Depends(require("complaints:read"))]
) -> History:
    current = await _visible(request, principal, number)
    async with _runtime(request).sessions() as session:
        rows = await repository.revisions(session, number)
    return History(current=current, revisions=[Revision.model_validate(r, from_attributes=True) for r in rows])


class AmendableFields(BaseModel):
    """Fields a correction may change; nested objects are replaced whole."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    received_at: DateTimeText | None = None
    customer: Customer | None = None
    product: Product | None = None
    phenomenon: str | None = Field(default=None, min_length=1, max_length=4000)
    customer_request: CustomerRequest | None = None
    market: Market | None = None
    batch_return: StrictBool | None = None
    first_owner: str | None = Field(default=None, min_length=1, max_length=100)
    product_line: str | None = Field(default=None, max_length=100)
    current_state: str | None = Field(default=None, max_length=2000)


class Amendment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: AmendableFields
    reason: str = Field(min_length=1, max_length=2000, description="why the record is corrected")


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/{number}/amendments",
    response_model=ComplaintAmended,
    responses={409: {"description": "the complaint is withdrawn"}},
    summary="Correct a complaint; the original values are kept (complaint.amended)",
)
async def amend(
    number: Number,
    body: Amendment,
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:amend"))],
) -> ComplaintAmended | JSONResponse:
    changes = body.changes.model_dump(mode="json", exclude_unset=True)
    try:
        return await amend_complaint(
            _runtime(request).transaction,
            number,
            changes,
            reason=body.reason,
            actor=principal.actor,
            visible=principal.can_see,
        )
    except NotFound:
        raise _not_found(number) from None
    except InvalidAmendment as exc:
        return problem(
            422,
            "Unprocessable Content",
            "The correction is invalid.",
            errors=[{**e, "type": "invalid_amendment"} for e in exc.errors],
        )
    except CorrectionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post(
    "/{number}/withdrawal",
    response_model=ComplaintRecord,
    responses={409: {"description": "already withdrawn"}},
    summary="Withdraw a complaint with a reason (complaint.withdrawn)",
)
async def withdraw(
    number: Number,
    body: Withdrawal,
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:withdraw"))],
) -> ComplaintRecord:
    try:
        return await withdraw_complaint(
            _runtime(request).transaction, number, reason=body.reason, actor=principal.actor, visible=principal.can_see
        )
    except NotFound:
        raise _not_found(number) from None
    except CorrectionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


class AttachmentView(BaseModel):
    id: str
    number: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


# Hard cap of an upload request; ATTACHMENT_MAX_BYTES (at most this, less form overhead) is the file limit.
ATTACHMENT_BODY_CAP = 64 * 1024 * 1024


@router.post(
    "/{number}/attachments",
    max_body_size=ATTACHMENT_BODY_CAP,
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentView,
    summary="Attach a photo or PDF (不良图片/报告)",
)
async def upload_attachment(
    number: Number,
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:attach"))],
    file: Annotated[UploadFile, File(description="JPEG, PNG, GIF, WebP or PDF")],
) -> AttachmentView | JSONResponse:
    limit = request.app.state.settings.attachment_max_bytes
    data = await file.read(limit + 1)
    try:
        row = await attach(
            _runtime(request).transaction,
            request.app.state.attachments,
            number,
            data=data,
            filename=file.filename,
            declared_type=file.content_type,
            max_bytes=limit,
            actor=principal.actor,
            visible=principal.can_see,
        )
    except AttachmentRefused as exc:
        return problem(
            exc.status,
            {413: "Content Too Large", 415: "Unsupported Media Type"}.get(exc.status, "Unprocessable Content"),
            str(exc),
        )
    except NotFound:
        raise _not_found(number) from None
    return AttachmentView.model_validate(row)


@router.get("/{number}/attachments", response_model=list[AttachmentView], summary="List attachments")
async def list_attachments(
    number: Number, request: Request, principal: Annotated[Principal, Depends(require("complaints:read"))]
) -> list[AttachmentView]:
    await _visible(request, principal, number)
    async with _runtime(request).sessions() as session:
        rows = await repository.attachment_list(session, number)
    return [AttachmentView.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/{number}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
    summary="Download an attachment (checksum verified)",
)
async def download_attachment(
    number: Number,
    attachment_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
    request: Request,
    principal: Annotated[Principal, Depends(require("complaints:read"))],
) -> Response:
    await _visible(request, principal, number)
    async with _runtime(request).sessions() as session:
        row = await repository.attachment(session, number, attachment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "attachment not found")
    data = await request.app.state.attachments.get(row.storage_key)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        # Stored bytes no longer match what was uploaded: never hand out altered evidence.
        raise HTTPException(status.HTTP_409_CONFLICT, "the stored file fails its checksum")
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": _disposition(row.filename),
            "ETag": f'"{row.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (Chinese file names are common)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class ComplaintCounts(BaseModel):
    complaints: int = Field(description="counted complaints: no repeats, no withdrawn")
    repeats: int
    withdrawn: int
    by_month: dict[str, int]
    by_channel: dict[str, int]


@stats_router.get("/complaints", response_model=ComplaintCounts, summary="Counts by month and channel")
async def complaint_counts(
    request: Request,
    principal: Annotated[Principal, Depends(require("stats:read"))],
    params: Annotated[SearchParams, Query()],
) -> ComplaintCounts:
    search = _filter(request, principal, params.model_copy(update={"include_repeats": True}))
    if search is None:
        return ComplaintCounts(complaints=0, repeats=0, withdrawn=0, by_month={}, by_channel={})
    async with _runtime(request).sessions() as session:
        return ComplaintCounts.model_validate(await repository.counts(session, search))
