"""The complaints pages (客诉): search with intake's filters and cursor pages, CSV export, the
new-complaint form, and one record with its photos, corrections (划改) and withdrawal.

Everything comes from intake's API with the user's own token: a complaint of a factory the user
cannot see is intake's 404, shown as the console's not-found page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from console.domain import complaint_forms as forms
from console.entrypoints.deps import Api, Csrf, CurrentUser, PageRenderer
from console.entrypoints.session import User, language
from console.service.backends import Refused, ServiceApi

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
WRITERS = frozenset({"customer_service", "quality_engineer", "quality_manager", "admin"})  # intake's matrix


def _values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _choices() -> dict[str, Any]:
    return {
        "channels": forms.CHANNELS,
        "request_kinds": forms.REQUEST_KINDS,
        "regions": forms.REGIONS,
        "provinces": forms.PROVINCES,
        "statuses": forms.STATUSES,
        "severities": forms.SEVERITIES,
    }


def _may_write(user: User) -> bool:
    return user.has(*WRITERS)


# -- search -------------------------------------------------------------------------------------


@router.get("/complaints", response_class=HTMLResponse)
async def search(request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    query = dict(request.query_params)
    filters = forms.filters_of(query)
    params: dict[str, Any] = {**forms.search_params(query, pages.zone), "limit": PAGE_SIZE}
    error: str | None = None
    try:
        found = await api.get("intake", "/api/v1/complaints", params)
    except Refused as exc:  # a filter intake refuses (e.g. an unknown factory): said, not a 500
        found, error = (
            {"items": [], "next_cursor": None},
            "; ".join(f"{k}: {v}" for k, v in exc.field_errors().items()) or exc.message,
        )
    cursor = found.get("next_cursor")
    context = {
        "items": found.get("items", []),
        "filters": filters,
        "more_url": "/complaints?" + urlencode({**filters, "cursor": cursor}) if cursor else None,
        "export_url": "/complaints/export.csv" + ("?" + urlencode(filters) if filters else ""),
        "error": error,
        "may_write": _may_write(user),
        "factories": [f for f in user.factories if f != "*"],
        **_choices(),
    }
    target = request.headers.get("hx-target")
    if request.headers.get("hx-request") and target == "more-row":
        return pages.render(request, "complaints/_rows.html", context)
    if request.headers.get("hx-request") and target == "results":
        return pages.render(request, "complaints/_results.html", context)
    return pages.render(request, "complaints/list.html", context, status=422 if error else 200)


@router.get("/complaints/export.csv")
async def export(request: Request, api: Api, pages: PageRenderer) -> Response:
    params = forms.search_params(dict(request.query_params), pages.zone)
    params.pop("cursor", None)
    found = await api.download("intake", "/api/v1/complaints/export.csv", params)
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename or "complaints.csv"}"'},
    )


# -- register -----------------------------------------------------------------------------------


def _new_form(
    request: Request,
    pages: PageRenderer,
    user: User,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
        "factories": [f for f in user.factories if f != "*"],
        "any_factory": user.all_factories,
        **_choices(),
    }
    return pages.render(request, "complaints/new.html", context, status=status)


@router.get("/complaints/new", response_class=HTMLResponse)
async def new_complaint(request: Request, user: CurrentUser, pages: PageRenderer) -> Response:
    now = pages.clock.now().astimezone(pages.zone)
    values = {
        "factory": forms.default_factory(user.factories),
        "channel": "phone",
        "received_at": now.strftime("%Y-%m-%dT%H:%M"),
        "market.region": "domestic",
        "first_owner": user.subject,
    }
    return _new_form(request, pages, user, values, {})


@router.post("/complaints", response_class=HTMLResponse, dependencies=[Csrf])
async def register(request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    values = _values(await request.form())
    converted = forms.complaint_body(values, pages.zone, language(request))
    if not converted.ok:
        return _new_form(request, pages, user, values, converted.errors, 422)
    try:
        record = await api.post("intake", "/api/v1/complaints", json=converted.body)
    except Refused as exc:
        errors = forms.form_errors(exc.field_errors(), lang=language(request)) or {forms.GENERAL: exc.message}
        return _new_form(request, pages, user, values, errors, 422)
    number = str(record["number"])
    return RedirectResponse(f"/complaints/{quote(number)}?registered=1", status_code=303)


# -- one record ---------------------------------------------------------------------------------


async def _record_page(
    request: Request,
    user: User,
    api: ServiceApi,
    pages: PageRenderer,
    number: str,
    *,
    amend_values: dict[str, str] | None = None,
    amend_errors: dict[str, str] | None = None,
    upload_error: str | None = None,
    withdraw_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    path = f"/api/v1/complaints/{quote(number)}"
    history = await api.get("intake", f"{path}/history")
    record = history["current"]
    attachments = await api.get("intake", f"{path}/attachments")
    for a in attachments:
        a["image"] = forms.is_image(str(a.get("content_type", "")))
    context = {
        "record": record,
        "revisions": forms.history_rows(history.get("revisions", [])),
        "attachments": attachments,
        "may_write": _may_write(user) and record.get("status") == "registered",
        "values": amend_values or forms.record_values(record, pages.zone),
        "errors": amend_errors or {},
        "amend_open": amend_errors is not None,
        "upload_error": upload_error,
        "withdraw_errors": withdraw_errors or {},
        "registered": request.query_params.get("registered") == "1",
        "saved": request.query_params.get("saved", ""),
        "factories": [record["factory"]],
        "any_factory": False,
        **_choices(),
    }
    return pages.render(request, "complaints/record.html", context, status=status)


@router.get("/complaints/{number}", response_class=HTMLResponse)
async def record(number: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    return await _record_page(request, user, api, pages, number)


@router.get("/complaints/{number}/attachments/{attachment_id}")
async def attachment(number: str, attachment_id: str, request: Request, api: Api) -> Response:
    found = await api.download("intake", f"/api/v1/complaints/{quote(number)}/attachments/{quote(attachment_id)}")
    inline = forms.is_image(found.media_type) or request.query_params.get("inline") == "1"
    name = quote(found.filename or attachment_id, safe="")
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{name}"
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": disposition, "Cache-Control": "private, max-age=3600"},
    )


@router.post("/complaints/{number}/attachments", response_class=HTMLResponse, dependencies=[Csrf])
async def upload(
    number: str,
    request: Request,
    user: CurrentUser,
    api: Api,
    pages: PageRenderer,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if file is None or not file.filename:
        lang = language(request)
        message = "请选择文件" if lang == "zh" else "choose a file"
        return await _record_page(request, user, api, pages, number, upload_error=message, status=422)
    content = await file.read()
    try:
        await api.post(
            "intake",
            f"/api/v1/complaints/{quote(number)}/attachments",
            files={"file": (file.filename, content, file.content_type or "application/octet-stream")},
        )
    except Refused as exc:
        return await _record_page(request, user, api, pages, number, upload_error=exc.message, status=exc.status)
    return RedirectResponse(f"/complaints/{quote(number)}?saved=attachment#attachments", status_code=303)


@router.post("/complaints/{number}/amend", response_class=HTMLResponse, dependencies=[Csrf])
async def amend(number: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    values = _values(await request.form())
    path = f"/api/v1/complaints/{quote(number)}"
    current = await api.get("intake", path)
    converted = forms.amendment_body(values, current, pages.zone, language(request))
    if not converted.ok:
        return await _record_page(
            request, user, api, pages, number, amend_values=values, amend_errors=converted.errors, status=422
        )
    version = (values.get("version") or "").strip()
    headers = {"If-Match": f'"{version}"'} if version.isdigit() else None
    try:
        await api.post("intake", f"{path}/amendments", json=converted.body, headers=headers)
    except Refused as exc:
        errors = forms.form_errors(exc.field_errors(), lang=language(request)) or {forms.GENERAL: exc.message}
        if "reason" in exc.field_errors():
            errors["reason"] = exc.field_errors()["reason"]
        return await _record_page(
            request, user, api, pages, number, amend_values=values, amend_errors=errors, status=exc.status
        )
    return RedirectResponse(f"/complaints/{quote(number)}?saved=amendment#history", status_code=303)


@router.post("/complaints/{number}/withdraw", response_class=HTMLResponse, dependencies=[Csrf])
async def withdraw(number: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    values = _values(await request.form())
    reason = (values.get("reason") or "").strip()
    if not reason:
        message = "请填写原因" if language(request) == "zh" else "give a reason"
        return await _record_page(request, user, api, pages, number, withdraw_errors={"reason": message}, status=422)
    version = (values.get("version") or "").strip()
    headers = {"If-Match": f'"{version}"'} if version.isdigit() else None
    try:
        await api.post(
            "intake", f"/api/v1/complaints/{quote(number)}/withdrawal", json={"reason": reason}, headers=headers
        )
    except Refused as exc:
        errors = exc.field_errors() or {forms.GENERAL: exc.message}
        return await _record_page(request, user, api, pages, number, withdraw_errors=errors, status=exc.status)
    return RedirectResponse(f"/complaints/{quote(number)}?saved=withdrawal", status_code=303)
