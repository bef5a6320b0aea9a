"""HTTP API of intake: register, read, search, export, correct, withdraw, attach (statistics: stats_api.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, Request, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic.json_schema import SkipJsonSchema

from cqm_shared.contracts.complaint import (
    Channel,
    ComplaintForm,
    ComplaintRecord,
    ComplaintStatus,
    Customer,
    CustomerRequest,
    DateTimeText,
    DefectType,
    Market,
    Product,
    Severity,
)
from cqm_shared.contracts.events import ComplaintAmended, FieldChange
from cqm_shared.problems import problem
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from cqm_shared.web import expected_version, version_etag
from intake.adapters.publishing import amended_payload
from intake.domain.attachments import ALLOWED_TYPES, AttachmentRefused
from intake.domain.corrections import InvalidAmendment
from intake.domain.model import Complaint
from intake.service.handlers import (
    SOURCE,
    FactoryNotServed,
    Upload,
    amend_complaint,
    attach_file,
    attachment_file,
    attachments_of,
    complaint_of,
    ensure_attachable,
    export_pages,
    history_of,
    register_complaint,
    search_complaints,
    withdraw_complaint,
)
from intake.service.unit_of_work import IntakeUnitOfWork, SearchFilter

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])

Number = Annotated[str, Path(max_length=32, pattern=r"^[A-Z][A-Z0-9]{1,9}-[0-9]{4}-[0-9]{3,8}$")]
IfMatch = Annotated[int | None, Depends(expected_version)]

CREATE = require("complaints:create")
READ = require("complaints:read")
AMEND = require("complaints:amend")
WITHDRAW = require("complaints:withdraw")
ATTACH = require("complaints:attach")


def _uow(request: Request, principal: Principal) -> IntakeUnitOfWork:
    uow: IntakeUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


def _invalid(field: str, message: str, type_: str) -> JSONResponse:
    return problem(
        422,
        "Unprocessable Content",
        "The request has invalid fields.",
        errors=[{"field": field, "message": message, "type": type_}],
    )


class ComplaintView(ComplaintRecord):
    """The registered record and its version (send it back as `If-Match` to correct or withdraw)."""

    version: int = Field(ge=1, description='the version read; also the ETag ("<version>")')

    @classmethod
    def of(cls, complaint: Complaint) -> ComplaintView:
        return cls.model_validate({**complaint.details.model_dump(), "version": complaint.version})


def _tag(response: Response, complaint: Complaint) -> None:
    response.headers["ETag"] = version_etag(complaint.version)


def _tagged(response: Response, complaint: Complaint) -> ComplaintView:
    _tag(response, complaint)
    return ComplaintView.of(complaint)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintView,
    responses={200: {"model": ComplaintView, "description": "already registered under this external_ref"}},
    summary="Register a complaint (受理)",
)
async def create_complaint(
    form: ComplaintForm,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(CREATE)],
) -> ComplaintView | JSONResponse:
    if not principal.can_see(form.factory):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not register complaints for {form.factory}")
    source = SOURCE if principal.kind == "user" else f"{SOURCE}/api-key/{principal.subject}"
    try:
        registration = await register_complaint(
            _uow(request, principal), request.app.state.policies, form, source=source
        )
    except FactoryNotServed as exc:
        return _invalid("factory", f"unknown factory {exc}", "unknown_factory")
    response.headers["Location"] = f"/api/v1/complaints/{registration.complaint.number}"
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return _tagged(response, registration.complaint)


# Keyset cursor "<registered_at in epoch microseconds>~<number>": every value the documented
# pattern admits is a position, so a client can never send a schema-valid cursor we refuse.
CURSOR_PATTERN = r"^[0-9]{1,16}~[A-Za-z0-9-]{1,32}$"
EPOCH = datetime.fromtimestamp(0, UTC)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    micros, number = cursor.split("~", 1)
    return EPOCH + timedelta(microseconds=int(micros)), number


def _encode_cursor(complaint: Complaint) -> str:
    return f"{(complaint.details.registered_at - EPOCH) // timedelta(microseconds=1)}~{complaint.number}"


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


def _filter(request: Request, principal: Principal, params: SearchParams) -> SearchFilter | None:
    """None when the caller asked for a factory it may not see (an empty answer)."""
    if params.factory is not None and params.factory not in request.app.state.policies.factories:
        raise RequestValidationError(
            [{"loc": ("query", "factory"), "msg": f"unknown factory {params.factory}", "type": "unknown_factory"}]
        )
    if params.factory is not None and not principal.can_see(params.factory):
        return None
    return SearchFilter(
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
    items: list[ComplaintView]
    next_cursor: str | None


@router.get("", response_model=ComplaintPage, summary="Search complaints (cursor-paginated)")
async def search(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    params: Annotated[SearchParams, Query()],
    sort: Annotated[Literal["registered_at", "-registered_at"], Query()] = "-registered_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> ComplaintPage:
    found = _filter(request, principal, params)
    if found is None:
        return ComplaintPage(items=[], next_cursor=None)
    items = await search_complaints(
        _uow(request, principal),
        found,
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
        ascending=sort == "registered_at",
    )
    more = len(items) > limit
    items = items[:limit]
    return ComplaintPage(
        items=[ComplaintView.of(c) for c in items], next_cursor=_encode_cursor(items[-1]) if more else None
    )


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
    ("defect_type", "不良类型 defect type"),
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
    responses={200: {"content": {"text/csv": {}}, "description": "CSV (UTF-8 with BOM, for Excel), every match"}},
    summary="Export the search result as CSV (every matching complaint, oldest first)",
)
async def export_complaints(
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
    params: Annotated[SearchParams, Query()],
) -> StreamingResponse:
    found = _filter(request, principal, params)
    uow = _uow(request, principal)
    page_size: int = request.app.state.settings.export_page_size

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([title for _, title in CSV_COLUMNS])
        yield buffer.getvalue()
        if found is None:
            return
        async for page in export_pages(uow, found, page_size=page_size):
            buffer.seek(0)
            buffer.truncate()
            for complaint in page:
                data = complaint.details.model_dump(mode="json")
                writer.writerow([_cell(data, path) for path, _ in CSV_COLUMNS])
            yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="complaints.csv"'},
    )


@router.get(
    "/{number}",
    response_model=ComplaintView,
    responses={200: {"headers": {"ETag": {"description": 'the version, "<n>"', "schema": {"type": "string"}}}}},
    summary="Read one complaint",
)
async def read_complaint(
    number: Number, request: Request, response: Response, principal: Annotated[Principal, Depends(READ)]
) -> ComplaintView:
    return _tagged(response, await complaint_of(_uow(request, principal), number))


class RevisionView(BaseModel):
    revision: int
    at: datetime
    actor: str
    action: str = Field(description="amend, withdraw or severity (set at triage)")
    reason: str
    changes: list[FieldChange]
    record_before: ComplaintRecord


class History(BaseModel):
    current: ComplaintView
    revisions: list[RevisionView]


@router.get("/{number}/history", response_model=History, summary="Corrections with the original values (划改)")
async def complaint_history(
    number: Number, request: Request, principal: Annotated[Principal, Depends(READ)]
) -> History:
    current, revisions = await history_of(_uow(request, principal), number)
    return History(
        current=ComplaintView.of(current),
        revisions=[RevisionView.model_validate(r, from_attributes=True) for r in revisions],
    )


# Fields of the form that may be corrected but not emptied (null is not a value for them).
_NOT_NULL = frozenset({"channel", "received_at", "customer", "product", "phenomenon", "market", "batch_return"})


class AmendableFields(BaseModel):
    """Fields a correction may change (at least one); nested objects are replaced whole."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    channel: Channel | SkipJsonSchema[None] = None
    received_at: DateTimeText | SkipJsonSchema[None] = None
    customer: Customer | SkipJsonSchema[None] = None
    product: Product | SkipJsonSchema[None] = None
    phenomenon: Annotated[str, Field(min_length=1, max_length=4000)] | SkipJsonSchema[None] = None
    customer_request: CustomerRequest | None = None
    market: Market | SkipJsonSchema[None] = None
    batch_return: StrictBool | SkipJsonSchema[None] = None
    first_owner: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    product_line: Annotated[str, Field(max_length=100)] | None = None
    current_state: Annotated[str, Field(max_length=2000)] | None = None
    defect_type: DefectType | None = Field(default=None, description="不良类型; null: not classified")

    @model_validator(mode="after")
    def _something_to_correct(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one field to correct")
        emptied = sorted(n for n in self.model_fields_set & _NOT_NULL if getattr(self, n) is None)
        if emptied:
            raise ValueError(f"{', '.join(emptied)} cannot be null")
        return self


class Amendment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: AmendableFields
    reason: str = Field(min_length=1, max_length=2000, description="why the record is corrected")


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the complaint is withdrawn, or changed since the version in If-Match"}
}


@router.post(
    "/{number}/amendments",
    response_model=ComplaintAmended,
    responses=CONFLICT,
    summary="Correct a complaint; the original values are kept (complaint.amended)",
)
async def amend(
    number: Number,
    body: Amendment,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(AMEND)],
    version: IfMatch,
) -> ComplaintAmended | JSONResponse:
    changes = body.changes.model_dump(mode="json", exclude_unset=True)
    try:
        complaint, revision = await amend_complaint(
            _uow(request, principal), number, changes, reason=body.reason, expected_version=version
        )
    except InvalidAmendment as exc:
        return problem(
            422,
            "Unprocessable Content",
            "The correction is invalid.",
            errors=[{**e, "type": "invalid_amendment"} for e in exc.errors],
        )
    _tag(response, complaint)
    return amended_payload(revision, complaint.details)


@router.post(
    "/{number}/withdrawal",
    response_model=ComplaintView,
    responses=CONFLICT,
    summary="Withdraw a complaint with a reason (complaint.withdrawn)",
)
async def withdraw(
    number: Number,
    body: Withdrawal,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(WITHDRAW)],
    version: IfMatch,
) -> ComplaintView:
    complaint = await withdraw_complaint(_uow(request, principal), number, reason=body.reason, expected_version=version)
    return _tagged(response, complaint)


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
FILE_RULES = (
    f"One file, not empty, of type {', '.join(ALLOWED_TYPES)} as its content shows (magic number), "
    "at most ATTACHMENT_MAX_BYTES (default 10 MiB)."
)


async def attachable(number: Number, request: Request, principal: Annotated[Principal, Depends(ATTACH)]) -> str:
    """The complaint must exist for the caller (404) and accept attachments (409) before the file
    is judged; its factory (where the bytes are stored) is what the upload needs of it."""
    return await ensure_attachable(_uow(request, principal), number)


@router.post(
    "/{number}/attachments",
    max_body_size=ATTACHMENT_BODY_CAP,
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentView,
    responses={
        404: {"description": "no such complaint, or one in a factory the caller may not see"},
        409: {"description": "the complaint is withdrawn"},
        413: {"description": "the file exceeds ATTACHMENT_MAX_BYTES"},
        415: {"description": f"the content is not one of {', '.join(ALLOWED_TYPES)}"},
        422: {"description": "the file is empty or missing"},
    },
    openapi_extra={
        "requestBody": {
            "content": {"multipart/form-data": {"encoding": {"file": {"contentType": ", ".join(ALLOWED_TYPES)}}}}
        }
    },
    summary="Attach a photo or PDF (不良图片/报告)",
    description=FILE_RULES,
)
async def upload_attachment(
    number: Number,
    factory: Annotated[str, Depends(attachable)],
    request: Request,
    principal: Annotated[Principal, Depends(ATTACH)],
    file: Annotated[UploadFile, File(description=FILE_RULES, json_schema_extra={"minLength": 1})],
) -> AttachmentView | JSONResponse:
    limit: int = request.app.state.settings.attachment_max_bytes
    upload = Upload(await file.read(limit + 1), file.filename, file.content_type)
    try:
        attachment = await attach_file(
            _uow(request, principal), request.app.state.attachments, number, factory, upload, max_bytes=limit
        )
    except AttachmentRefused as exc:
        return problem(
            exc.status,
            {413: "Content Too Large", 415: "Unsupported Media Type"}.get(exc.status, "Unprocessable Content"),
            str(exc),
        )
    return AttachmentView.model_validate(attachment, from_attributes=True)


@router.get("/{number}/attachments", response_model=list[AttachmentView], summary="List attachments")
async def list_attachments(
    number: Number, request: Request, principal: Annotated[Principal, Depends(READ)]
) -> list[AttachmentView]:
    found = await attachments_of(_uow(request, principal), number)
    return [AttachmentView.model_validate(a, from_attributes=True) for a in found]


@router.get(
    "/{number}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the file"},
        409: {"description": "the stored file fails its checksum"},
    },
    summary="Download an attachment (checksum verified)",
)
async def download_attachment(
    number: Number,
    attachment_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
    request: Request,
    principal: Annotated[Principal, Depends(READ)],
) -> Response:
    attachment, data = await attachment_file(
        _uow(request, principal), request.app.state.attachments, number, attachment_id
    )
    return Response(
        data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": _disposition(attachment.filename),
            "ETag": f'"{attachment.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (Chinese file names are common)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
