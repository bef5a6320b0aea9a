"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

from typing import Any

import aiormq.exceptions
import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cqm_shared.domain import DomainError, InvalidInput, InvalidTransition, NotFound, StaleVersion
from cqm_shared.outages import cause, is_outage

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
# What a database or broker outage surfaces as; each is checked by `is_outage` before a 503.
OUTAGE_CANDIDATES: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    aiormq.exceptions.AMQPError,
)


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def field_errors(errors: Any) -> list[dict[str, str]]:
    """pydantic errors as `{field, message, type}` with dotted paths, 'body.' stripped."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:] if loc[0] == "body" else loc
        message = str(err.get("msg", "invalid"))
        out.append(
            {
                "field": ".".join(loc) or "(body)",
                "message": message.removeprefix("Value error, "),
                "type": str(err.get("type", "value_error")),
            }
        )
    return out


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422,
            "Unprocessable Content",
            "The request has invalid fields.",
            errors=field_errors(exc.errors()),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        response = problem(exc.status_code, _title(exc.status_code), detail)
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; list every method it has.
            response.headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return response

    @app.exception_handler(InvalidTransition)
    async def _refused(_: Request, exc: InvalidTransition) -> JSONResponse:
        return problem(
            409,
            "Conflict",
            str(exc),
            entity=exc.entity,
            state=exc.state,
            action=exc.action,
            reason=exc.reason,
        )

    @app.exception_handler(StaleVersion)
    async def _stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return problem(409, "Conflict", str(exc), entity=exc.entity, expected_version=exc.expected, version=exc.actual)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "Not Found", str(exc))

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        errors = [{"field": exc.field or "(body)", "message": str(exc), "type": "value_error"}]
        return problem(422, "Unprocessable Content", str(exc), errors=errors)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(409, "Conflict", str(exc))

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        if not is_outage(exc):
            raise exc  # a bug, not an outage: the 500 below, with its traceback in the log
        response = problem(
            503,
            "Service Unavailable",
            "A database or message broker this service needs cannot be reached; retry later. "
            "数据库或消息服务暂时不可用，请稍后重试。",
            cause=cause(exc).split(":")[0],
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for candidate in OUTAGE_CANDIDATES:
        app.add_exception_handler(candidate, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # No stack trace or SQL leaves the service; the span and log keep the details.
        return problem(500, "Internal Server Error", "An unexpected error occurred.")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    # Included routers are kept lazily (no `methods` of their own): walk their routes.
    for context in iter_route_contexts(app.router.routes):
        route = context.route
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
