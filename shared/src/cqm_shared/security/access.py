"""FastAPI side of access control: authenticate every request, check the permission matrix.

Each service declares its matrix (action -> roles) in one place; routes name the action
they perform with `Depends(require("complaints:read"))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cqm_shared.security.api_keys import ApiKeyStore
from cqm_shared.security.principal import Principal, Role
from cqm_shared.security.tokens import InvalidCredentials, TokenVerifier

PermissionMatrix = Mapping[str, frozenset[Role]]

bearer_scheme = HTTPBearer(auto_error=False, description="JWT with sub, roles and factories")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of an integration")


class AccessControl:
    def __init__(self, verifier: TokenVerifier, api_keys: ApiKeyStore, matrix: PermissionMatrix) -> None:
        self.verifier = verifier
        self.api_keys = api_keys
        self.matrix = matrix


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    access: AccessControl = request.app.state.access
    if bearer is not None:
        try:
            principal = await access.verifier.verify(bearer.credentials)
        except InvalidCredentials:
            raise _unauthorized("invalid or expired token") from None
    elif api_key:
        found = access.api_keys.verify(api_key)
        if found is None:
            raise _unauthorized("unknown or revoked API key")
        principal = found
    else:
        raise _unauthorized("credentials required")
    request.state.principal = principal
    return principal


class Permission:
    """The dependency `require` returns: authenticates, then checks `action` against the matrix.

    It keeps its action, so the routes' permissions can be listed from the app itself
    (`route_action`), e.g. by the test that sweeps every route with every role.
    """

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        access: AccessControl = request.app.state.access
        allowed = access.matrix.get(self.action)
        if allowed is None:  # a route naming an action the matrix lacks is a programming error
            raise RuntimeError(f"action {self.action!r} is not in the permission matrix")
        if not principal.roles & allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"your roles do not allow {self.action}")
        return principal


def require(action: str) -> Permission:
    """A dependency that authenticates and checks `action` against the service's matrix."""
    return Permission(action)


def route_action(dependant: Dependant) -> str | None:
    """The action a route's dependencies `require`, or None for a route open to anyone."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Permission):
            return dependency.call.action
        found = route_action(dependency)
        if found is not None:
            return found
    return None
