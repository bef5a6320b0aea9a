"""The FastAPI application every service is built from: lifespan, access control, guards,
health, metrics, audit and docs."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cqm_shared import audit
from cqm_shared.asyncapi import describe_cloudevents, documented_publications, published_events
from cqm_shared.dead_letter_api import dead_letters_router
from cqm_shared.guards import RequestGuard
from cqm_shared.logs import install_pii_masking, quiet_expected_broker_loss
from cqm_shared.messaging.outbox import pending_count
from cqm_shared.problems import PROBLEM_JSON, install_problem_handlers
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.security.access import AccessControl, PermissionMatrix, require
from cqm_shared.security.api_keys import ApiKeyStore
from cqm_shared.security.principal import Principal
from cqm_shared.security.tokens import TokenVerifier
from cqm_shared.telemetry import setup_tracing

REQUESTS = Counter("cqm_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cqm_http_request_seconds", "HTTP request latency", ["method", "route"])
OUTBOX_PENDING = Gauge("cqm_outbox_pending", "Events staged but not yet confirmed by the broker")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, str]] | None = None


def _problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem, "content": {PROBLEM_JSON: {}}}


# Answers every protected route may give; documented so clients (and schemathesis) expect them.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_doc("Bad request"),
    401: _problem_doc("Missing, invalid or expired credentials"),
    403: _problem_doc("The caller's roles do not allow this"),
    404: _problem_doc("Not found, or in a factory the caller may not see"),
    413: _problem_doc("Body too large"),
    415: _problem_doc("Unsupported content type"),
    422: _problem_doc("Invalid fields"),
    429: _problem_doc("Rate limit exceeded (see Retry-After)"),
    503: _problem_doc("A database or broker the service needs is unreachable (see Retry-After)"),
}


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    factory: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    trace_id: str | None


class RequestMetrics:
    """Request count and latency per route template (plain ASGI: no extra task per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # The router records the matched route in the (shared) scope.
            template = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], template, str(status)).inc()


def audit_router(table: sa.Table) -> APIRouter:
    router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

    @router.get("", response_model=list[AuditEntry], summary="Audit trail of one complaint (记录)")
    async def audit_trail(
        request: Request,
        principal: Annotated[Principal, Depends(require("audit:read"))],
        complaint: Annotated[str, Query(min_length=1, max_length=64)],
    ) -> list[AuditEntry]:
        runtime: ServiceRuntime = request.app.state.runtime
        async with runtime.sessions() as session:
            rows = await audit.entries(session, table, complaint, principal.visible_factories())
        return [AuditEntry.model_validate(r, from_attributes=True) for r in rows]

    return router


def publish_factories(app: FastAPI, factories: Sequence[str]) -> None:
    """Document the factories this deployment serves as an enum wherever a `factory` is asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for component in schema.get("components", {}).get("schemas", {}).values():
                prop = component.get("properties", {}).get("factory")
                if prop is not None and prop.get("type") == "string":
                    prop["enum"] = list(factories)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for param in operation.get("parameters", []):
                        if param.get("name") == "factory":
                            target = param["schema"].get("anyOf", [param["schema"]])[0]
                            target["enum"] = list(factories)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    matrix: PermissionMatrix,
    audit_log: sa.Table,
    version: str = "0.1.0",
) -> FastAPI:
    settings = runtime.settings
    install_pii_masking()
    quiet_expected_broker_loss()
    provider = setup_tracing(
        runtime.service,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        traces_file=settings.traces_file,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            provider.shutdown()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,  # 413, chunked bodies included
    )
    app.state.runtime = runtime
    app.state.access = AccessControl(
        TokenVerifier(
            secret=None if settings.jwks_url else settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks_url=settings.jwks_url,
        ),
        ApiKeyStore(settings.api_keys_file),
        matrix,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestMetrics)
    app.add_middleware(
        RequestGuard,
        rate_per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
    )
    if settings.cors_origins:  # closed by default
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )

    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["operations"], responses={503: {"description": "not ready"}})
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        async with runtime.sessions() as session:
            OUTBOX_PENDING.set(await pending_count(session, runtime.tables.outbox))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    spec = AsyncAPI(runtime.broker, title=f"{title} messages", version=version, description=description)

    described: dict[str, Any] = {}  # nothing it says changes after start: built once, on first request

    @app.get("/asyncapi.json", tags=["operations"])
    async def asyncapi() -> Any:
        if not described:
            document = spec.to_specification().to_jsonable()
            described.update(
                describe_cloudevents(
                    document,
                    published=published_events(runtime.service, documented_publications(document)),
                    consumed=runtime.consumed,
                    exchange=runtime.topology.exchange.name,
                )
            )
        return described

    for router in [*routers, audit_router(audit_log), dead_letters_router(audit_log)]:
        app.include_router(router, responses=COMMON_RESPONSES)

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="health/live,health/ready,metrics",
        exclude_spans=["receive", "send"],
    )
    return app


def given_once(*names: str) -> Callable[[Request], None]:
    """A dependency refusing a scalar query parameter given more than once (422, as any invalid
    parameter would be): FastAPI would silently take the last value."""

    def check(request: Request) -> None:
        repeated = [n for n in names if len(request.query_params.getlist(n)) > 1]
        if repeated:
            raise RequestValidationError(
                [{"loc": ("query", n), "msg": "give this parameter once", "type": "repeated"} for n in repeated]
            )

    return check


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='the version read, as its ETag: "3"', pattern=r'^(\*|\s*(W/)?"?[0-9]{1,9}"?\s*)$'),
    ] = None,
) -> int | None:
    """`If-Match: "<version>"`: the change applies only to the version the caller read (else 409)."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = _ETAG.match(if_match)
    if found is None:
        raise RequestValidationError(
            [{"loc": ("header", "If-Match"), "msg": 'expected a version as "<number>"', "type": "value_error"}]
        )
    return int(found.group(1))


def version_etag(version: int) -> str:
    return f'"{version}"'
