"""My work (我的待办), the case list, and marking notices read."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from console.entrypoints.deps import Api, Csrf, CurrentUser, PageRenderer
from console.service.backends import BackendError
from console.service.work import escalation_levels, my_work, penalty_states

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def work(request: Request, user: CurrentUser, api: Api, pages: PageRenderer) -> HTMLResponse:
    found = await my_work(api, user.roles, pages.clock.now())
    levels = escalation_levels(found.get("escalations"))
    escalated = [e for e in (found.get("escalations") or {}).get("items", []) if e.get("level") is not None]
    escalated.sort(key=lambda e: (-int(e["level"]), e["due_at"]))
    return pages.render(
        request,
        "work.html",
        {
            "found": found,
            "levels": levels,
            "escalated": escalated,
            "penalty_states": penalty_states(user.roles),
        },
    )


@router.post("/inbox/{notice}/read", response_class=HTMLResponse, dependencies=[Csrf])
async def mark_read(request: Request, notice: str, api: Api, pages: PageRenderer) -> HTMLResponse:
    await api.post("notification", f"/api/v1/inbox/{notice}/read")
    inbox = await api.get("notification", "/api/v1/inbox", {"unread": True, "limit": 10})
    return pages.render(request, "_inbox.html", {"inbox": inbox})


@router.get("/cases", response_class=HTMLResponse)
async def case_list(
    request: Request,
    api: Api,
    pages: PageRenderer,
    user: CurrentUser,
    state: Annotated[list[str] | None, Query()] = None,
    factory: Annotated[str | None, Query(max_length=10)] = None,
    department: Annotated[str | None, Query(max_length=100)] = None,
    overdue: Annotated[Literal["", "true", "false"], Query()] = "",
    number_prefix: Annotated[str | None, Query(max_length=32)] = None,
    sort: Literal["due", "opened"] = "due",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    params = {
        "state": [s for s in (state or ["open"]) if s],
        "factory": factory or None,
        "department": department or None,
        "overdue": overdue or None,
        "number_prefix": number_prefix or None,
        "sort": sort,
        "cursor": cursor,
        "limit": 50,
    }
    page = await api.get("investigation", "/api/v1/investigations", params)
    levels = escalation_levels(await _escalations(api))
    template = "_case_rows.html" if request.headers.get("hx-request") and cursor else "cases_list.html"
    more = urlencode([(k, v) for k, v in params.items() if k != "cursor" and v is not None], doseq=True)
    context = {"page": page, "params": params, "levels": levels, "user": user, "more_query": more}
    return pages.render(request, template, context)


async def _escalations(api: Api) -> object:
    try:
        return await api.get("notification", "/api/v1/escalations", {"limit": 200})
    except BackendError:  # escalation marks are extra: the list stands without them
        return None
