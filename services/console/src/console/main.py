"""Application factory of the web console (质量管理控制台, port 8000)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pylopdf_fonts_zh_cn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.adapters.http_backends import HttpBackends
from console.config import ConsoleSettings
from console.entrypoints import auth
from console.entrypoints.pages import ROUTERS
from console.entrypoints.rendering import Pages
from console.entrypoints.session import CsrfRejected, NeedsSignIn, sign_out
from console.service.backends import Forbidden, NotFound, Refused, SignedOut, Unavailable
from cqm_shared.clock import Clock, SystemClock
from cqm_shared.logs import install_pii_masking
from cqm_shared.security.tokens import TokenVerifier
from cqm_shared.settings import load_settings
from cqm_shared.telemetry import setup_tracing
from cqm_shared.web import RequestMetrics

STATIC = Path(__file__).resolve().parent / "static"
FONT = Path(pylopdf_fonts_zh_cn.__file__).parent / "NotoSansSC-Regular.otf"
# Scripts and styles only from the console itself (closed factory networks, no CDN); chart
# data travels as JSON in <script type="application/json">, which is never executed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: ConsoleSettings | None = None,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or load_settings(ConsoleSettings)
    install_pii_masking()
    provider = setup_tracing(
        "console", otlp_endpoint=settings.otel_exporter_otlp_endpoint, traces_file=settings.traces_file
    )
    backends = HttpBackends(settings.service_urls(), timeout=settings.backend_timeout, transport=transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await backends.close()
            provider.shutdown()

    app = FastAPI(title="Console 控制台", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.backends = backends
    app.state.pages = Pages(clock or SystemClock(), settings.display_timezone)
    app.state.default_language = settings.default_language
    app.state.oauth = auth.make_oauth(settings)
    app.state.verifier = TokenVerifier(
        secret=None if settings.jwks_url else settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie="cqm_console",
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    for router in ROUTERS:
        app.include_router(router)
    _install_error_pages(app)

    @app.get("/fonts/NotoSansSC-Regular.otf", include_in_schema=False)
    async def font() -> FileResponse:
        # The OFL font the 8D PDFs use, so Chinese renders where the machine has no CJK font.
        return FileResponse(FONT, media_type="font/otf", headers={"Cache-Control": "public, max-age=31536000"})

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # The console serves pages while a service is down (they say so); readiness reports it.
        checks = await backends.ready()
        return JSONResponse({"status": "ok", "checks": checks})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="health/live,health/ready,metrics,static",
        exclude_spans=["receive", "send"],
    )
    return app


def _redirect(request: Request, location: str) -> Response:
    if request.headers.get("hx-request"):  # htmx swaps what it gets: tell it to navigate instead
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _install_error_pages(app: FastAPI) -> None:
    def page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
        pages: Pages = request.app.state.pages
        return pages.render(
            request, "error.html", {"status": status, "message": message}, status=status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return page(request, exc.status_code, "not_found" if exc.status_code == 404 else str(exc.detail))

    @app.exception_handler(NeedsSignIn)
    async def _sign_in(request: Request, exc: NeedsSignIn) -> Response:
        return _redirect(request, exc.location)

    @app.exception_handler(SignedOut)
    async def _signed_out(request: Request, _: SignedOut) -> Response:
        sign_out(request)  # the services no longer accept the token: sign in afresh
        return _redirect(request, NeedsSignIn(request.url.path).location)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _: CsrfRejected) -> Response:
        return page(request, 403, "csrf")

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _: Forbidden) -> Response:
        return page(request, 403, "forbidden")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, _: NotFound) -> Response:
        return page(request, 404, "not_found")

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable) -> Response:
        return page(request, 503, f"unavailable:{exc.service}", {"Retry-After": str(exc.retry_after or 5)})

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return page(request, exc.status if exc.status in (400, 409, 413, 422) else 400, exc.message)
