"""The services' HTTP APIs over httpx, with the user's bearer token (service/backends.py port)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry.propagate import inject

from console.service.backends import (
    Download,
    Forbidden,
    NotFound,
    Params,
    Refused,
    Service,
    SignedOut,
    Unavailable,
)

_FILENAME = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?")


class HttpBackends:
    """One connection pool per service for the whole process; `as_user` binds a token."""

    def __init__(self, urls: Mapping[str, str], *, timeout: float, transport: httpx.AsyncBaseTransport | None = None):
        self._clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport) for name, url in urls.items()
        }

    def as_user(self, token: str) -> UserApi:
        return UserApi(self._clients, token)

    async def ready(self) -> dict[str, str]:
        """Each service's own readiness, as the console's readiness reports it."""
        checks: dict[str, str] = {}
        for name, client in self._clients.items():
            try:
                answer = await client.get("/health/ready")
                checks[name] = "ok" if answer.status_code == 200 else f"not ready ({answer.status_code})"
            except httpx.HTTPError as exc:
                checks[name] = f"unreachable ({type(exc).__name__})"
        return checks

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def _clean(params: Params | None) -> list[tuple[str, str]]:
    """Query parameters without the empty ones; lists become repeated keys."""
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None or value == "":
            continue
        if isinstance(value, list):
            out += [(key, str(v)) for v in value if v != ""]
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, str(value)))
    return out


class UserApi:
    def __init__(self, clients: Mapping[str, httpx.AsyncClient], token: str) -> None:
        self._clients = clients
        self._auth = {"Authorization": f"Bearer {token}"}

    async def get(self, service: Service, path: str, params: Params | None = None) -> Any:
        answer = await self._send(service, "GET", path, params=_clean(params))
        return answer.json()

    async def post(
        self,
        service: Service,
        path: str,
        json: Any = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        answer = await self._send(service, "POST", path, json=json, files=files, headers=headers)
        if not answer.content:
            return None
        return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text

    async def download(self, service: Service, path: str, params: Params | None = None) -> Download:
        answer = await self._send(service, "GET", path, params=_clean(params))
        disposition = _FILENAME.search(answer.headers.get("content-disposition", ""))
        return Download(
            content=answer.content,
            media_type=answer.headers.get("content-type", "application/octet-stream"),
            filename=disposition.group(1) if disposition else None,
        )

    async def _send(self, service: Service, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = self._clients[service]
        headers = {**self._auth, **(kwargs.pop("headers", None) or {})}
        inject(headers)  # traceparent: the service's spans join the page's trace
        try:
            answer = await client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError:
            raise Unavailable(service) from None
        status = answer.status_code
        if status < 400:
            return answer
        if status == 401:
            raise SignedOut(service)
        if status == 403:
            raise Forbidden(service)
        if status == 404:
            raise NotFound(path)
        if status in (502, 503, 504) or status >= 500:
            retry = answer.headers.get("retry-after", "")
            raise Unavailable(service, int(retry) if retry.isdigit() else None)
        try:
            problem = answer.json()
        except ValueError:
            problem = {"detail": answer.text[:500]}
        raise Refused(status, problem if isinstance(problem, dict) else {"detail": str(problem)})
