"""FastAPI dependencies the page routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from console.adapters.http_backends import HttpBackends
from console.entrypoints.rendering import Pages
from console.entrypoints.session import User, csrf_protect, current_user
from console.service.backends import ServiceApi


def pages(request: Request) -> Pages:
    found: Pages = request.app.state.pages
    return found


def api(request: Request, user: Annotated[User, Depends(current_user)]) -> ServiceApi:
    """The services as this user sees them (their token on every call)."""
    backends: HttpBackends = request.app.state.backends
    return backends.as_user(user.token)


CurrentUser = Annotated[User, Depends(current_user)]
Api = Annotated[ServiceApi, Depends(api)]
PageRenderer = Annotated[Pages, Depends(pages)]
Csrf = Depends(csrf_protect)
