"""Who is signed in, in which language, and the CSRF token of their session.

The signed session cookie (Starlette's SessionMiddleware, itsdangerous) holds the user's bearer
token for the services, the identity read from it, the language and a random CSRF token. Every
state-changing request carries that token back (form field or `X-CSRF-Token` header from htmx).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request

from console.domain.labels import LANGUAGES, Language
from cqm_shared.security.principal import Principal

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class User:
    token: str
    subject: str
    name: str
    roles: tuple[str, ...]
    factories: tuple[str, ...]

    @property
    def all_factories(self) -> bool:
        return "*" in self.factories

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @classmethod
    def of(cls, token: str, principal: Principal) -> User:
        return cls(
            token=token,
            subject=principal.subject,
            name=principal.name,
            roles=tuple(sorted(r.value for r in principal.roles)),
            factories=tuple(sorted(principal.factories)),
        )


class NeedsSignIn(Exception):
    """No session, or the services no longer accept its token: off to the sign-in page."""

    def __init__(self, next_url: str = "/") -> None:
        self.next_url = next_url

    @property
    def location(self) -> str:
        return f"/signin?next={quote(self.next_url, safe='/')}"


class CsrfRejected(Exception):
    """A state-changing request without this session's CSRF token (403)."""


def sign_in(request: Request, user: User) -> None:
    chosen = language(request)  # kept across sign-in: read before the session is replaced
    request.session.clear()
    request.session.update(
        {
            "user": {
                "token": user.token,
                "subject": user.subject,
                "name": user.name,
                "roles": list(user.roles),
                "factories": list(user.factories),
            },
            "csrf": secrets.token_urlsafe(32),
            "lang": chosen,
        }
    )


def sign_out(request: Request) -> None:
    keep = language(request)
    request.session.clear()
    request.session["lang"] = keep


def signed_in(request: Request) -> User | None:
    data: Any = request.session.get("user")
    if not isinstance(data, dict):
        return None
    try:
        return User(
            token=str(data["token"]),
            subject=str(data["subject"]),
            name=str(data["name"]),
            roles=tuple(data["roles"]),
            factories=tuple(data["factories"]),
        )
    except (KeyError, TypeError):
        return None


def current_user(request: Request) -> User:
    """Dependency of every page: the signed-in user, or a redirect to sign in."""
    user = signed_in(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsSignIn(target if request.method == "GET" else "/")
    return user


def language(request: Request) -> Language:
    chosen = request.session.get("lang")
    if chosen in LANGUAGES:
        return chosen  # type: ignore[no-any-return]
    default: Language = getattr(request.app.state, "default_language", "zh")
    return default


def set_language(request: Request, chosen: Language) -> None:
    request.session["lang"] = chosen


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Dependency of every POST: the session's token must come back, in the form or a header."""
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()  # cached on the request: the endpoint reads the same form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(expected, sent):
        raise CsrfRejected()
