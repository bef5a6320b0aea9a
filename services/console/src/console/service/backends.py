"""What the console needs from the four services (the port), and how their refusals read.

The console owns no business data: every page is built from the services' own APIs, called with
the signed-in user's token, so a page can never show more than the user may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Service = Literal["intake", "investigation", "penalty", "notification"]
Params = Mapping[str, str | int | bool | list[str] | None]


class BackendError(Exception):
    """A service did not give what the page asked for."""


class SignedOut(BackendError):
    """401: the user's token expired or was revoked; sign in again."""


class NotFound(BackendError):
    """404: no such record, or another factory's (the services answer both alike)."""


class Forbidden(BackendError):
    """403: the user's roles do not allow this."""


@dataclass
class Refused(BackendError):
    """400/409/413/422: the service refused the input; the problem says why, field by field."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    @property
    def message(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or f"refused ({self.status})")

    def field_errors(self) -> dict[str, str]:
        """Dotted field path → message, for the form to show beside each field."""
        out: dict[str, str] = {}
        for error in self.problem.get("errors", []) or []:
            if isinstance(error, dict):
                out.setdefault(str(error.get("field", "")), str(error.get("message", "invalid")))
        return out


@dataclass
class Unavailable(BackendError):
    """The service is down or answered 503: the page says so and asks to retry, never a 500."""

    service: str
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.service} unavailable"


@dataclass(frozen=True)
class Download:
    """A file a service produced (8D PDF, CSV, XLSX, attachment), passed through as it came."""

    content: bytes
    media_type: str
    filename: str | None


class ServiceApi(Protocol):
    """The services' HTTP APIs as one user sees them."""

    async def get(self, service: Service, path: str, params: Params | None = None) -> Any: ...

    async def post(
        self,
        service: Service,
        path: str,
        json: Any = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...

    async def download(self, service: Service, path: str, params: Params | None = None) -> Download: ...
