"""The penalties pages (考核处罚): assessments with their line items and workflow (appeal 申诉,
the general manager's decision, approval 审批签准), and the monthly ledger (月度考核台账) with its
CSV/XLSX downloads and the closing of a month.

The forms shown are the assessment's `allowed_actions` that the user's roles may take (penalty's
matrix, narrowed by the factory policy's approvers when the user may read it); penalty decides
again on every POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from console.domain import penalty_forms as forms
from console.domain.complaint_forms import GENERAL, Converted
from console.entrypoints.deps import Api, Csrf, CurrentUser, PageRenderer
from console.entrypoints.session import User, language
from console.service.backends import Forbidden, NotFound, Refused, ServiceApi

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def _values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _factories(user: User) -> list[str]:
    return [f for f in user.factories if f != "*"]


# -- assessments --------------------------------------------------------------------------------


@router.get("/penalties", response_class=HTMLResponse)
async def assessments(request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    q = request.query_params
    filters = {n: (q.get(n) or "").strip() for n in ("factory", "period", "status", "complaint")}
    filters = {k: v for k, v in filters.items() if v}
    if "factory" in filters:
        filters["factory"] = filters["factory"].upper()
    offset = int(q["offset"]) if (q.get("offset") or "").isdigit() else 0
    error: str | None = None
    try:
        found: list[dict[str, Any]] = await api.get(
            "penalty", "/api/v1/assessments", {**filters, "limit": PAGE_SIZE + 1, "offset": offset}
        )
    except Refused as exc:
        found = []
        error = "; ".join(f"{k}: {v}" for k, v in exc.field_errors().items()) or exc.message
    more = len(found) > PAGE_SIZE
    items = [{**a, "rule_codes": forms.rule_codes(a)} for a in found[:PAGE_SIZE]]
    context = {
        "items": items,
        "filters": filters,
        "statuses": forms.ASSESSMENT_STATUSES,
        "factories": _factories(user),
        "error": error,
        "more_url": "/penalties?" + urlencode({**filters, "offset": offset + PAGE_SIZE}) if more else None,
        "ledger_period": filters.get("period") or forms.current_period(pages.clock.now().astimezone(pages.zone)),
    }
    return pages.render(request, "penalties/list.html", context, status=422 if error else 200)


async def _approvers(api: ServiceApi, factory: str) -> dict[str, str] | None:
    """The roles the factory's policy names for approval and appeal decisions, if the user may read them."""
    try:
        rules = await api.get("penalty", f"/api/v1/rules/{quote(factory)}")
    except (Forbidden, NotFound):
        return None
    approvers = rules.get("approvers") if isinstance(rules, dict) else None
    return {str(k): str(v) for k, v in approvers.items()} if isinstance(approvers, dict) else None


async def _assessment_page(
    request: Request,
    user: User,
    api: ServiceApi,
    pages: PageRenderer,
    assessment_id: str,
    *,
    action: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    found = await api.get("penalty", f"/api/v1/assessments/{quote(assessment_id)}")
    approvers = await _approvers(api, str(found["factory"]))
    actions = forms.permitted_actions(found.get("allowed_actions") or [], user.roles, approvers)
    context = {
        "a": found,
        "rule_codes": forms.rule_codes(found),
        "actions": actions,
        "approvers": approvers,
        "failed_action": action,
        "values": values or {},
        "errors": errors or {},
        "saved": request.query_params.get("saved", ""),
    }
    return pages.render(request, "penalties/assessment.html", context, status=status)


@router.get("/penalties/{assessment_id}", response_class=HTMLResponse)
async def assessment(
    assessment_id: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer
) -> Response:
    return await _assessment_page(request, user, api, pages, assessment_id)


async def _act(
    request: Request,
    user: User,
    api: ServiceApi,
    pages: PageRenderer,
    assessment_id: str,
    action: str,
    path: str,
    converted: Converted,
    values: dict[str, str],
) -> Response:
    if not converted.ok:
        return await _assessment_page(
            request, user, api, pages, assessment_id, action=action, values=values, errors=converted.errors, status=422
        )
    try:
        await api.post("penalty", f"/api/v1/assessments/{quote(assessment_id)}/{path}", json=converted.body)
    except Refused as exc:
        errors = forms.penalty_errors(exc.field_errors()) or {GENERAL: exc.message}
        return await _assessment_page(
            request, user, api, pages, assessment_id, action=action, values=values, errors=errors, status=exc.status
        )
    return RedirectResponse(f"/penalties/{quote(assessment_id)}?saved={action}", status_code=303)


@router.post("/penalties/{assessment_id}/appeal", response_class=HTMLResponse, dependencies=[Csrf])
async def appeal(assessment_id: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    form = await request.form()
    values = _values(form)
    lines = [v for v in form.getlist("lines") if isinstance(v, str)]
    converted = forms.appeal_body(values, lines, language(request))
    return await _act(request, user, api, pages, assessment_id, "appeal", "appeal", converted, values)


@router.post("/penalties/{assessment_id}/decision", response_class=HTMLResponse, dependencies=[Csrf])
async def decide(assessment_id: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    values = _values(await request.form())
    converted = forms.decision_body(values, language(request))
    return await _act(request, user, api, pages, assessment_id, "decide_appeal", "decision", converted, values)


@router.post("/penalties/{assessment_id}/approval", response_class=HTMLResponse, dependencies=[Csrf])
async def approve(assessment_id: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    values = _values(await request.form())
    converted = forms.approval_body(values, language(request))
    return await _act(request, user, api, pages, assessment_id, "approve", "approval", converted, values)


# -- the monthly ledger -------------------------------------------------------------------------


@router.get("/ledger", response_class=HTMLResponse)
async def ledger_picker(request: Request, user: CurrentUser, pages: PageRenderer) -> Response:
    q = request.query_params
    target = forms.ledger_target(q.get("factory") or "", q.get("period") or "")
    if target is not None:
        return RedirectResponse(f"/ledger/{target[0]}/{target[1]}", status_code=303)
    factories = _factories(user)
    context = {
        "factory": (q.get("factory") or (factories[0] if factories else "")).upper(),
        "period": q.get("period") or forms.current_period(pages.clock.now().astimezone(pages.zone)),
        "factories": factories,
        "invalid": bool(q.get("factory") or q.get("period")),
    }
    return pages.render(request, "penalties/ledger_pick.html", context, status=422 if context["invalid"] else 200)


async def _ledger_page(
    request: Request,
    user: User,
    api: ServiceApi,
    pages: PageRenderer,
    factory: str,
    period: str,
    *,
    close_errors: dict[str, str] | None = None,
    close_reason: str = "",
    status: int = 200,
) -> HTMLResponse:
    book = await api.get("penalty", f"/api/v1/ledger/{quote(factory)}/{quote(period)}")
    context = {
        "book": book,
        "factory": factory,
        "period": period,
        "factories": _factories(user),
        "may_close": forms.may_close(user.roles) and book.get("state") == "open",
        "close_errors": close_errors or {},
        "close_reason": close_reason,
        "saved": request.query_params.get("saved", ""),
    }
    return pages.render(request, "penalties/ledger.html", context, status=status)


@router.get("/ledger/{factory}/{name}", response_class=HTMLResponse)
async def ledger(
    factory: str, name: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer
) -> Response:
    wanted = forms.ledger_name(name)
    if wanted is None or not forms.FACTORY.match(factory):
        raise NotFound(request.url.path)
    period, fmt = wanted
    if fmt is None:
        return await _ledger_page(request, user, api, pages, factory, period)
    found = await api.download("penalty", f"/api/v1/ledger/{quote(factory)}/{quote(period)}", {"format": fmt})
    filename = found.filename or f"ledger-{factory}-{period}.{fmt}"
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/ledger/{factory}/{period}/close", response_class=HTMLResponse, dependencies=[Csrf])
async def close(
    factory: str, period: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer
) -> Response:
    if forms.ledger_target(factory, period) is None:
        raise NotFound(request.url.path)
    values = _values(await request.form())
    converted = forms.close_body(values, language(request))
    reason = values.get("reason", "")
    if not converted.ok:
        return await _ledger_page(
            request, user, api, pages, factory, period, close_errors=converted.errors, close_reason=reason, status=422
        )
    try:
        await api.post("penalty", f"/api/v1/ledger/{quote(factory)}/{quote(period)}/close", json=converted.body)
    except Refused as exc:
        errors = exc.field_errors() or {GENERAL: exc.message}
        return await _ledger_page(
            request, user, api, pages, factory, period, close_errors=errors, close_reason=reason, status=exc.status
        )
    return RedirectResponse(f"/ledger/{factory}/{period}?saved=closed", status_code=303)
