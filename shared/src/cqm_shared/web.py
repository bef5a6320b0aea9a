"""The FastAPI application every service is built from: lifespan, health, metrics, docs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from cqm_shared.messaging.outbox import pending_count
from cqm_shared.problems import install_problem_handlers
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.telemetry import setup_tracing

REQUESTS = Counter("cqm_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cqm_http_request_seconds", "HTTP request latency", ["method", "route"])
OUTBOX_PENDING = Gauge("cqm_outbox_pending", "Events staged but not yet confirmed by the broker")


class _Metrics(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response


def create_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    version: str = "0.1.0",
) -> FastAPI:
    settings = runtime.settings
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

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_middleware(_Metrics)

    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["operations"])
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

    @app.get("/asyncapi.json", tags=["operations"])
    async def asyncapi() -> Any:
        return spec.to_specification().to_jsonable()

    for router in routers:
        app.include_router(router)

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="health/live,health/ready,metrics",
        exclude_spans=["receive", "send"],
    )
    return app
