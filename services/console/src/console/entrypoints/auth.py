"""Sign-in and sign-out.

Development (ENVIRONMENT=development or test): the user picks a role and factories and the console
mints the development token the local stack accepts (as `make token` does). Production: the
OpenID Connect authorization code flow with PKCE at OIDC_ISSUER (Authlib); the identity
provider's access token is what the services verify with JWKS_URL, so the console stores it and
sends it on.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.config import ConsoleSettings
from console.domain.labels import LABELS, LANGUAGES, Language
from console.entrypoints.deps import PageRenderer
from console.entrypoints.session import User, csrf_protect, set_language, sign_in, sign_out
from cqm_shared.security.principal import parse_factories
from cqm_shared.security.tokens import InvalidCredentials, TokenVerifier, mint_token

with warnings.catch_warnings():  # Authlib 1.9 announces its move to httpx2 on import; nothing to act on
    warnings.simplefilter("ignore")
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.starlette_client import OAuth

router = APIRouter(include_in_schema=False)

HUMAN_ROLES = [r for r in LABELS["role"]]


def safe_next(target: str | None) -> str:
    """Only paths of this site: an open redirect would hand the session to someone else's page."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


def oidc_client(request: Request) -> Any:
    oauth: OAuth | None = request.app.state.oauth
    return oauth.create_client("idp") if oauth is not None else None


def make_oauth(settings: ConsoleSettings) -> OAuth | None:
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    oauth = OAuth()
    oauth.register(
        "idp",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"},
    )
    return oauth


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, pages: PageRenderer, next: str = "/") -> Response:
    settings: ConsoleSettings = request.app.state.settings
    return pages.render(
        request,
        "signin.html",
        {
            "next": safe_next(next),
            "development": settings.development,
            "oidc": settings.oidc_issuer is not None,
            "roles": HUMAN_ROLES,
            "error": None,
        },
    )


@router.post("/signin", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
async def signin_development(
    request: Request,
    pages: PageRenderer,
    role: Annotated[str, Form()],
    factories: Annotated[str, Form()] = "F01",
    name: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings: ConsoleSettings = request.app.state.settings
    if not settings.development:
        return pages.render(request, "error.html", {"status": 403, "message": "development sign-in is off"}, status=403)
    try:
        chosen = sorted(parse_factories(factories))
    except ValueError:
        chosen = []
    if role not in HUMAN_ROLES or not chosen:
        context = {"next": safe_next(next), "development": True, "oidc": False, "roles": HUMAN_ROLES}
        return pages.render(request, "signin.html", {**context, "error": "role / factories"}, status=422)
    subject = (name.strip() or role)[:60]
    token = mint_token(
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=subject,
        name=subject,
        roles=[role],
        factories=chosen,
    )
    verifier: TokenVerifier = request.app.state.verifier
    sign_in(request, User.of(token, await verifier.verify(token)))
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/signin/oidc")
async def signin_oidc(request: Request, next: str = "/") -> Response:
    client = oidc_client(request)
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    settings: ConsoleSettings = request.app.state.settings
    request.session["after_signin"] = safe_next(next)
    callback = (settings.public_url or str(request.base_url)).rstrip("/") + "/auth/callback"
    redirect: Response = await client.authorize_redirect(request, callback)
    return redirect


@router.get("/auth/callback", response_class=HTMLResponse)
async def oidc_callback(request: Request, pages: PageRenderer) -> Response:
    client = oidc_client(request)
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    after = safe_next(request.session.pop("after_signin", "/"))
    try:
        answer = await client.authorize_access_token(request)
        token = str(answer["access_token"])
        verifier: TokenVerifier = request.app.state.verifier
        user = User.of(token, await verifier.verify(token))
    except (OAuthError, InvalidCredentials, KeyError) as exc:
        message = f"sign-in failed: {type(exc).__name__}"
        return pages.render(request, "error.html", {"status": 401, "message": message}, status=401)
    sign_in(request, user)
    return RedirectResponse(after, status_code=303)


@router.post("/signout", dependencies=[Depends(csrf_protect)])
async def signout(request: Request) -> Response:
    sign_out(request)
    return RedirectResponse("/signin", status_code=303)


@router.get("/lang/{chosen}")
async def switch_language(request: Request, chosen: str, next: str = "/") -> Response:
    if chosen in LANGUAGES:
        lang: Language = "zh" if chosen == "zh" else "en"
        set_language(request, lang)
    return RedirectResponse(safe_next(next), status_code=303)
