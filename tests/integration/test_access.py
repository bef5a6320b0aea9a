"""Who may do what (issue 3): every role against every action, factory isolation, credentials,
hostile input and the audit trail's immutability, on the real services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from cqm_shared.security.api_keys import create_key, revoke_key
from cqm_shared.security.principal import Role
from cqm_shared.security.tokens import mint_token
from cqm_shared.settings import ServiceSettings
from intake.entrypoints.permissions import MATRIX as INTAKE
from investigation.entrypoints.permissions import MATRIX as INVESTIGATION
from notification.entrypoints.permissions import MATRIX as NOTIFICATION
from penalty.entrypoints.permissions import MATRIX as PENALTY
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, running_service, token
from tests.integration.test_numbering import form

client = asgi_client


@pytest.fixture
async def intake(sqlite_url: str, broker_ns: BrokerNamespace, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running_service("intake", sqlite_url, broker_ns, api_keys_file=tmp_path / "keys.yaml") as app:
        yield app


async def register(app: FastAPI, factory: str) -> str:
    async with client(app, auth("customer_service", factory)) as c:
        answer = await c.post("/api/v1/complaints", json=form(factory))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["number"])


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# (service, action, method, path, body); "{n}" is an existing F01 complaint number.
CALLS: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
    ("intake", "complaints:create", "POST", "/api/v1/complaints", form("F01")),
    (
        "intake",
        "complaints:amend",
        "POST",
        "/api/v1/complaints/{n}/amendments",
        {"changes": {"current_state": "sorted"}, "reason": "new facts"},
    ),
    ("intake", "complaints:attach", "POST", "/api/v1/complaints/{n}/attachments", {"file": PNG}),
    ("intake", "complaints:withdraw", "POST", "/api/v1/complaints/{n}/withdrawal", {"reason": "duplicate call"}),
    ("intake", "stats:read", "GET", "/api/v1/stats/complaints", None),
    ("intake", "complaints:read", "GET", "/api/v1/complaints/{n}", None),
    ("intake", "complaints:read", "GET", "/api/v1/complaints", None),
    ("intake", "audit:read", "GET", "/api/v1/audit?complaint={n}", None),
    ("investigation", "investigations:read", "GET", "/api/v1/investigations/{n}", None),
    ("investigation", "audit:read", "GET", "/api/v1/audit?complaint={n}", None),
    ("penalty", "assessments:read", "GET", "/api/v1/assessments?complaint={n}", None),
    ("penalty", "audit:read", "GET", "/api/v1/audit?complaint={n}", None),
    ("notification", "notifications:read", "GET", "/api/v1/notifications?complaint={n}", None),
    ("notification", "audit:read", "GET", "/api/v1/audit?complaint={n}", None),
]
MATRICES = {"intake": INTAKE, "investigation": INVESTIGATION, "penalty": PENALTY, "notification": NOTIFICATION}


def test_every_route_action_is_in_its_matrix() -> None:
    for service, action, *_ in CALLS:
        assert action in MATRICES[service]
    assert {(s, a) for s, a, *_ in CALLS} == {(s, a) for s, m in MATRICES.items() for a in m}


@pytest.mark.parametrize("service", ["intake", "investigation", "penalty", "notification"])
async def test_each_role_can_do_exactly_what_the_matrix_allows(
    service: str, sqlite_url: str, tmp_path: Path, broker_ns: BrokerNamespace
) -> None:
    async with running_service("intake", f"sqlite+aiosqlite:///{tmp_path}/intake.db", broker_ns) as intake:
        number = await register(intake, "F01")
        async with running_service(service, sqlite_url, broker_ns) as app:
            target = intake if service == "intake" else app
            for _, action, method, path, body in [c for c in CALLS if c[0] == service]:
                for role in Role:
                    async with client(target, auth(role.value, "F01")) as c:
                        if body and "file" in body:
                            files = {"file": ("photo.png", body["file"], "image/png")}
                            answer = await c.request(method, path.format(n=number), files=files)
                        else:
                            answer = await c.request(method, path.format(n=number), json=body)
                    if role in MATRICES[service][action]:
                        # allowed: whatever the outcome (404, 409 after an earlier withdrawal…), not 401/403
                        assert answer.status_code not in (401, 403), (role, action, answer.text)
                    else:
                        assert answer.status_code == 403, (role, action, answer.status_code)
                        assert answer.headers["content-type"] == "application/problem+json"


async def test_a_factory_user_never_sees_another_factory(intake: FastAPI) -> None:
    mine, theirs = await register(intake, "F01"), await register(intake, "F02")
    async with client(intake, auth("quality_engineer", "F01")) as c:
        assert (await c.get(f"/api/v1/complaints/{mine}")).status_code == 200
        hidden = await c.get(f"/api/v1/complaints/{theirs}")
        assert hidden.status_code == 404 and "F02" not in hidden.text.replace(theirs, "")
        listed = (await c.get("/api/v1/complaints")).json()["items"]
        assert [i["number"] for i in listed] == [mine]
        assert (await c.get("/api/v1/complaints", params={"factory": "F02"})).json()["items"] == []
        stats = (await c.get("/api/v1/stats/complaints")).json()
        assert stats["complaints"] == 1 and stats["by_month"] and sum(stats["by_month"].values()) == 1
        export = (await c.get("/api/v1/complaints/export.csv")).text
        assert mine in export and theirs not in export
        assert (await c.get("/api/v1/audit", params={"complaint": theirs})).status_code == 403  # QE: no audit
    async with client(intake, auth("auditor", "F01")) as c:
        assert (await c.get("/api/v1/audit", params={"complaint": theirs})).json() == []
    async with client(intake, auth("customer_service", "F01")) as c:
        refused = await c.post("/api/v1/complaints", json=form("F02"))
        assert refused.status_code == 403
    async with client(intake, auth("auditor", "*")) as c:
        assert {i["number"] for i in (await c.get("/api/v1/complaints")).json()["items"]} == {mine, theirs}


async def test_bad_credentials_get_401(intake: FastAPI) -> None:
    settings = ServiceSettings()
    good = {
        "secret": settings.jwt_secret.get_secret_value(),
        "issuer": settings.jwt_issuer,
        "audience": settings.jwt_audience,
        "subject": "x",
        "roles": ["admin"],
        "factories": ["*"],
    }
    tokens = {
        "forged": mint_token(**{**good, "secret": "forged-secret-forged-secret-forged-secret-00"}),  # type: ignore[arg-type]
        "expired": mint_token(**{**good, "lifetime": timedelta(hours=-1)}),  # type: ignore[arg-type]
        "wrong audience": mint_token(**{**good, "audience": "billing"}),  # type: ignore[arg-type]
    }
    async with client(intake) as c:
        assert (await c.get("/api/v1/complaints")).status_code == 401
        for name, bad in tokens.items():
            answer = await c.get("/api/v1/complaints", headers={"Authorization": f"Bearer {bad}"})
            assert answer.status_code == 401, name
            assert answer.headers["www-authenticate"] == "Bearer"
        assert (await c.get("/health/live")).status_code == 200  # health needs no credentials
        assert (await c.get("/openapi.json")).status_code == 200


async def test_api_keys_work_until_revoked(intake: FastAPI, tmp_path: Path) -> None:
    registry = tmp_path / "keys.yaml"
    key_id, raw = create_key(registry, name="crm", roles=["integration"], factories=["F01"])
    async with client(intake, {"X-API-Key": raw}) as c:
        created = await c.post("/api/v1/complaints", json=form("F01"))
        assert created.status_code == 201
        assert (await c.post("/api/v1/complaints", json=form("F02"))).status_code == 403
        revoke_key(registry, key_id)
        assert (await c.get("/api/v1/complaints")).status_code == 401
    async with client(intake, auth("auditor", "F01")) as c:
        [entry] = (await c.get("/api/v1/audit", params={"complaint": created.json()["number"]})).json()
    assert entry["actor"] == f"key:{key_id}" and entry["action"] == "register"


async def test_hostile_input_gets_clear_4xx(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    async with running_service(
        "intake", sqlite_url, broker_ns, max_body_bytes=4096, rate_limit_per_minute=1, rate_limit_burst=12
    ) as app:
        async with client(app, auth("customer_service", "F01")) as c:
            huge = {**form("F01"), "phenomenon": "x" * 5000}
            assert (await c.post("/api/v1/complaints", json=huge)).status_code == 413

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b" " * 1000

            chunked = await c.post("/api/v1/complaints", content=chunks(), headers={"Content-Type": "application/json"})
            assert chunked.status_code == 413
            text = await c.post("/api/v1/complaints", content=b"factory=F01", headers={"Content-Type": "text/plain"})
            assert text.status_code == 415
            broken = await c.post(
                "/api/v1/complaints", content=b'{"factory": ', headers={"Content-Type": "application/json"}
            )
            assert broken.status_code == 422 and "Traceback" not in broken.text
            extra = await c.post("/api/v1/complaints", json={**form("F01"), "is_admin": True})
            assert extra.status_code == 422
            assert {"field": "is_admin"}.items() <= extra.json()["errors"][0].items()
            assert (await c.get("/api/v1/complaints", params={"limit": 1000})).status_code == 422
            preflight = await c.options(
                "/api/v1/complaints",
                headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
            )
            assert "access-control-allow-origin" not in preflight.headers  # CORS closed by default
            statuses = [(await c.get("/api/v1/complaints")).status_code for _ in range(12)]
        assert 429 in statuses
        limited = statuses.index(429)
        assert all(s == 200 for s in statuses[:limited])
        async with client(app, auth("customer_service", "F01")) as c:
            answer = await c.get("/api/v1/complaints")
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
        assert answer.headers["content-type"] == "application/problem+json"


async def test_audit_rows_cannot_be_altered(database_url: str, broker_ns: BrokerNamespace) -> None:
    async with running_service("intake", database_url, broker_ns) as app:
        number = await register(app, "F01")
        runtime = app.state.runtime
        for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                async with runtime.sessions() as session, session.begin():
                    await session.execute(sa.text(statement))
        async with client(app, {"Authorization": f"Bearer {token('auditor', 'F01')}"}) as c:
            [entry] = (await c.get("/api/v1/audit", params={"complaint": number})).json()
        assert entry["actor"] == "user:tester" and entry["after"]["number"] == number
        assert entry["before"] is None and entry["trace_id"]


async def test_readiness_reports_what_is_not_ready(intake: FastAPI) -> None:
    async with client(intake) as c:
        ready = await c.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "subscribers": "ok", "outbox_relay": "ok"}
        await intake.state.runtime.relay.stop()
        stalled = await c.get("/health/ready")
    assert stalled.status_code == 503
    assert stalled.json()["checks"]["outbox_relay"].startswith("error")
    assert stalled.json()["checks"]["database"] == "ok"


async def test_metrics_count_requests_by_route_template(intake: FastAPI) -> None:
    async with client(intake, auth("auditor", "F01")) as c:
        await c.get("/api/v1/complaints/F01-2611-0999")
        text = (await c.get("/metrics")).text
    # the template, not the number: one series per route, however many complaints
    assert 'cqm_http_requests_total{method="GET",route="/api/v1/complaints/{number}",status="404"}' in text
    assert "F01-2611-0999" not in text
