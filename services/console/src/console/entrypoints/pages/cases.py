"""The 8D case page (8D 案件): header, deadlines, the allowed next steps as forms, what each step
recorded, the history, and the 8D report. Every step form posts to investigation's own step
endpoint as the signed-in user; the service decides, the page shows its refusals beside the
fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.domain.case_forms import (
    ACTION_KINDS,
    CATEGORIES,
    CAUSE_CLASSES,
    CRACKS,
    DISPOSITIONS,
    DISPUTE_KINDS,
    FISHBONE,
    ONSITE,
    PARTY_KINDS,
    PARTY_ROLES,
    PRODUCT_STAGES,
    QC_FACTS,
    REPLY_KINDS,
    SCOPE_KINDS,
    SEVERITIES,
    SPECIALS,
    STEPS,
    FormInvalid,
    FormState,
    StepBody,
    defaults,
    facts_body,
    fields_of,
    form_errors,
    may_read_audit,
    offers,
    step_body,
    strip,
)
from console.domain.labels import LABELS, label
from console.entrypoints.deps import Api, Csrf, CurrentUser, PageRenderer
from console.entrypoints.rendering import Pages
from console.entrypoints.session import User, language
from console.service.backends import Forbidden, NotFound, Refused, ServiceApi

router = APIRouter(include_in_schema=False)

NUMBER = re.compile(r"^[A-Za-z0-9-]{1,32}$")
CHOICES = {
    "categories": CATEGORIES,
    "severities": SEVERITIES,
    "specials": SPECIALS,
    "scope_kinds": SCOPE_KINDS,
    "dispositions": DISPOSITIONS,
    "fishbone": FISHBONE,
    "cause_classes": CAUSE_CLASSES,
    "party_kinds": PARTY_KINDS,
    "party_roles": PARTY_ROLES,
    "cracks": CRACKS,
    "qc_facts": QC_FACTS,
    "dispute_kinds": DISPUTE_KINDS,
    "action_kinds": ACTION_KINDS,
    "reply_kinds": REPLY_KINDS,
    "onsite": ONSITE,
    "product_stages": PRODUCT_STAGES,
    "channels": tuple(LABELS["channel"]),
}


def _case_path(number: str) -> str:
    if not NUMBER.match(number):
        raise NotFound(number)  # never a path of the service's own choosing
    return f"/api/v1/investigations/{number}"


@router.get("/cases/{number}", response_class=HTMLResponse)
async def case_page(number: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> Response:
    done = request.query_params.get("done")
    return await _render(request, number, user, api, pages, done=done if done in STEPS else None)


@router.post("/cases/{number}/{step}", response_class=HTMLResponse, dependencies=[Csrf])
async def take_step(
    number: str, step: str, request: Request, user: CurrentUser, api: Api, pages: PageRenderer
) -> Response:
    path = _case_path(number)
    if step not in STEPS:
        raise NotFound(step)
    fields = fields_of((await request.form()).multi_items())
    form_id = _form_id(step, fields)
    lang = language(request)
    try:
        parsed: StepBody = step_body(step, fields, zone=pages.zone, language=lang)
    except FormInvalid as exc:
        message = "请更正标出的字段。" if lang == "zh" else "Please correct the marked fields."
        failed = FormState(fields, exc.errors, message)
        return await _render(request, number, user, api, pages, failed=(form_id, failed), status=422)
    try:
        await api.post("investigation", f"{path}/{step}", json=parsed.body)
    except Refused as exc:
        errors = form_errors(step, exc.field_errors(), parsed.rows)
        failed = FormState(fields, errors, exc.message)
        status = exc.status if exc.status in (409, 422) else 422
        return await _render(request, number, user, api, pages, failed=(form_id, failed), status=status)
    return RedirectResponse(f"/cases/{number}?done={step}", status_code=303)


@router.get("/cases/{number}/8d.pdf")
async def eight_d_pdf(number: str, request: Request, api: Api) -> Response:
    version = request.query_params.get("version", "customer")
    lang = request.query_params.get("lang", "zh")
    params = {
        "version": version if version in ("customer", "internal") else "customer",
        "lang": lang if lang in ("zh", "en") else "zh",
        "format": "pdf",
    }
    report = await api.download("investigation", f"{_case_path(number)}/8d", params)
    filename = report.filename or f"{number}-8D-{params['version']}-{params['lang']}.pdf"
    return Response(
        report.content,
        media_type=report.media_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/cases/{number}/{step}", response_class=HTMLResponse)
async def step_page(number: str, step: str) -> Response:
    """A step's address opened directly (the language links of a refused form): the case page."""
    _case_path(number)
    if step not in STEPS:
        raise NotFound(step)
    return RedirectResponse(f"/cases/{number}#form-{step}", status_code=303)


def _form_id(step: str, fields: Mapping[str, list[str]]) -> str:
    if step == "verification":
        action = (fields.get("action_id") or [""])[0]
        return f"verification-{action}" if NUMBER.match(action) else step
    return step


async def _render(
    request: Request,
    number: str,
    user: User,
    api: ServiceApi,
    pages: Pages,
    *,
    failed: tuple[str, FormState] | None = None,
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    path = _case_path(number)
    case: dict[str, Any] = await api.get("investigation", path)
    offered = offers(case.get("next_steps") or [], user.roles)
    mine = [o.step for o in offered if o.may]
    lang = language(request)
    role_names = {role: label("party_role", role, lang) for role in PARTY_ROLES}

    # The responsibility form starts from the split the factory's rules propose for the QC facts
    # chosen (the facts form asks again); after a refusal, from the facts that were submitted.
    facts_source = failed[1].fields if failed and failed[0] == "responsibility" else None
    facts = facts_body(facts_source or fields_of(request.query_params.multi_items()))
    proposal: dict[str, Any] | None = None
    if "responsibility" in mine:
        proposal = await api.post("investigation", f"{path}/responsibility/proposal", json=facts)

    forms: dict[str, FormState] = {}
    for step in mine:
        if step == "verification":
            for action in case.get("actions") or []:
                if not action.get("verified_at"):
                    forms[f"verification-{action['id']}"] = FormState({"action_id": [str(action["id"])]})
        else:
            forms[step] = FormState(
                defaults(step, case, proposal=proposal, facts=facts, role_names=role_names),
            )
    if failed is not None:
        forms[failed[0]] = failed[1]

    trail: list[dict[str, Any]] | None = None
    if may_read_audit(user.roles):
        try:
            trail = await api.get("investigation", "/api/v1/audit", {"complaint": number})
        except Forbidden:
            trail = None

    history_actions = [h.get("action", "") for h in case.get("history") or []]
    deadlines = sorted(case.get("deadlines") or [], key=lambda d: (str(d.get("due_at")), d.get("milestone", "")))
    context = {
        "case": case,
        "records": case.get("records") or {},
        "complaint": case.get("complaint") or {},
        "deadlines": deadlines,
        "offered": offered,
        "forms": forms,
        "failed": failed[0] if failed else None,
        "failed_message": failed[1].message if failed else "",
        "proposal": proposal,
        "facts": facts,
        "strip": strip(str(case.get("state")), history_actions),
        "trail": trail,
        "done": done,
        "choices": CHOICES,
        "role_names": role_names,
    }
    return pages.render(request, "cases/case.html", context, status=status)
