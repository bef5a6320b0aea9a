"""Who may do what (issue 3): every role against every action, factory isolation, credentials,
hostile input and the audit trail's immutability, on the real services."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from cqm_shared.security.access import route_action
from cqm_shared.security.api_keys import create_key, revoke_key
from cqm_shared.security.principal import Role
from cqm_shared.security.tokens import mint_token
from cqm_shared.settings import ServiceSettings
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.service import handlers as penalty_handlers
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, running_service, service_settings, token, unit_of_work, wait_for
from tests.integration.test_numbering import form
from tests.integration.test_penalty_api import assess, determination

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

SERVICES = ["intake", "investigation", "penalty", "notification"]

# Routes anyone may call (CONTRACT.md: health, metrics and docs need no credentials); every
# other route must `require(...)` an action of its service's matrix.
PUBLIC = {("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"), ("GET", "/asyncapi.json")}


@dataclass(frozen=True)
class Call:
    """How a role exercises one route, and the status a role the matrix allows must get.

    `{number}` is an existing F01 complaint (a fresh one per allowed role when the call changes
    it), `{attachment_id}` an attachment of it.
    """

    status: int
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    upload: bool = False
    fresh: bool = False


LATER = "2030-01-01T00:00:00Z"
# A valid body of every investigation step but triage (all illegal while the case is `opened`).
STEP_BODIES: dict[str, dict[str, Any]] = {
    "containment": {"scope": [{"kind": "shipped", "quantity": 1}], "dispositions": ["sorting"]},
    "root_cause": {"occurrence_cause": "x", "escape_cause": "y"},
    "responsibility": {
        "parties": [{"kind": "department", "name": "一车间", "share": "100"}],
        "cause_class": "communication",
    },
    "dispute": {"kind": "objection", "department": "一车间", "reason": "no"},
    "ruling": {"upheld": False, "reason": "no"},
    "actions": {"actions": [{"kind": "temporary", "description": "d", "owner": "o", "due_at": LATER}]},
    "verification": {"action_id": "A1", "lots": [{"lot": "L1", "defect_found": False}]},
    "standardisation": {"documents": ["WI-1"]},
    "reply": {"kind": "final", "content": "c"},
    "follow_up": {"satisfied": True, "accepted": True},
    "close": {},
    "reopen": {"reason": "not accepted"},
    "onsite": {"what": "arrived"},
    "training": {"attendees": 3},
}

# Every protected route of every service, keyed by (service, method, path as the app serves it).
CALLS: dict[tuple[str, str, str], Call] = {
    ("intake", "POST", "/api/v1/complaints"): Call(201, json=form("F01")),
    ("intake", "GET", "/api/v1/complaints"): Call(200),
    ("intake", "GET", "/api/v1/complaints/export.csv"): Call(200),
    ("intake", "GET", "/api/v1/complaints/{number}"): Call(200),
    ("intake", "GET", "/api/v1/complaints/{number}/history"): Call(200),
    ("intake", "POST", "/api/v1/complaints/{number}/amendments"): Call(
        200, json={"changes": {"current_state": "sorted"}, "reason": "new facts"}, fresh=True
    ),
    ("intake", "POST", "/api/v1/complaints/{number}/withdrawal"): Call(
        200, json={"reason": "duplicate call"}, fresh=True
    ),
    ("intake", "POST", "/api/v1/complaints/{number}/attachments"): Call(201, upload=True, fresh=True),
    ("intake", "GET", "/api/v1/complaints/{number}/attachments"): Call(200),
    ("intake", "GET", "/api/v1/complaints/{number}/attachments/{attachment_id}"): Call(200),
    ("intake", "GET", "/api/v1/stats/complaints"): Call(200),
    **{("intake", "GET", f"/api/v1/stats/complaints/{name}"): Call(200) for name in ("trend", "pareto", "repeats")},
    ("intake", "GET", "/api/v1/audit"): Call(200, params={"complaint": "{number}"}),
    ("investigation", "GET", "/api/v1/investigations"): Call(200),
    ("investigation", "GET", "/api/v1/investigations/{number}"): Call(200),
    ("investigation", "GET", "/api/v1/investigations/{number}/8d"): Call(200),
    ("investigation", "POST", "/api/v1/investigations/{number}/responsibility/proposal"): Call(
        200, json={"measured": True}
    ),
    # A fresh case per allowed role takes its first step; every other step is refused in state
    # `opened` with 409 (which shows the route reached the case, past access control).
    ("investigation", "POST", "/api/v1/investigations/{number}/triage"): Call(
        200, json={"valid": True, "category": "quality", "severity": "minor"}, fresh=True
    ),
    **{
        ("investigation", "POST", f"/api/v1/investigations/{{number}}/{step}"): Call(409, json=body)
        for step, body in STEP_BODIES.items()
    },
    ("investigation", "GET", "/api/v1/audit"): Call(200, params={"complaint": "{number}"}),
    **{
        ("investigation", "GET", f"/api/v1/stats/investigations/{name}"): Call(200)
        for name in ("on-time", "cycle-times", "departments", "accident-classes", "overdue")
    },
    ("penalty", "GET", "/api/v1/assessments"): Call(200, params={"complaint": "{number}"}),
    # `{assessment_id}` is an approved assessment of `{number}`, counted in `{period}`, which is
    # closed: every workflow step and the close are refused with 409 (past access control).
    ("penalty", "GET", "/api/v1/assessments/{assessment_id}"): Call(200),
    ("penalty", "POST", "/api/v1/assessments/{assessment_id}/appeal"): Call(409, json={"reason": "sweep"}),
    ("penalty", "POST", "/api/v1/assessments/{assessment_id}/decision"): Call(
        409, json={"upheld": False, "reason": "sweep"}
    ),
    ("penalty", "POST", "/api/v1/assessments/{assessment_id}/approval"): Call(409, json={}),
    ("penalty", "GET", "/api/v1/ledger/{factory}/{period}"): Call(200),
    ("penalty", "POST", "/api/v1/ledger/{factory}/{period}/close"): Call(409, json={"reason": "sweep"}),
    ("penalty", "GET", "/api/v1/stats/penalties/cost"): Call(200, params={"factory": "F01", "by": "department"}),
    ("penalty", "GET", "/api/v1/rules/{factory}"): Call(200),
    ("penalty", "POST", "/api/v1/rules/reload"): Call(200),
    ("penalty", "GET", "/api/v1/audit"): Call(200, params={"complaint": "{number}"}),
    ("notification", "GET", "/api/v1/notifications"): Call(200, params={"complaint": "{number}"}),
    ("notification", "GET", "/api/v1/timers"): Call(200, params={"complaint": "{number}"}),
    ("notification", "GET", "/api/v1/escalations"): Call(200),
    ("notification", "GET", "/api/v1/inbox"): Call(200),
    # `{notification_id}` is in no one's inbox: 404 (past access control)
    ("notification", "POST", "/api/v1/inbox/{notification_id}/read"): Call(404),
    ("notification", "GET", "/api/v1/audit"): Call(200, params={"complaint": "{number}"}),
    # Every service mounts the dead-letter tool; `{queue}` is one of its queues, no message exists.
    **{
        (service, method, path): call
        for service in SERVICES
        for method, path, call in (
            ("GET", "/admin/dead-letters", Call(200)),
            ("GET", "/admin/dead-letters/{queue}/messages", Call(200)),
            ("GET", "/admin/dead-letters/{queue}/messages/{message_id}", Call(404)),
            ("POST", "/admin/dead-letters/{queue}/replay", Call(200, json={"all": True})),
            ("POST", "/admin/dead-letters/{queue}/messages/{message_id}/discard", Call(404, json={"reason": "sweep"})),
        )
    },
}


def routes_of(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path, required action or None) of every API route the app serves.

    Read from the app itself, not from a list kept beside it: FastAPI includes routers lazily,
    so the routes are enumerated as FastAPI resolves them (prefixes included).
    """
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            action = route_action(route.dependant)
            path = route.path_format or str(route.path)  # `{factory}`, not `{factory:factory_code}`
            found += [(method, path, action) for method in sorted(route.methods or ())]
    return found


def uncovered(service: str, app: FastAPI) -> list[str]:
    """What keeps the sweep from covering every route of `app` (empty when it covers them all)."""
    routes = routes_of(app)
    matrix = app.state.access.matrix
    problems = [
        f"{m} {p}: requires no permission and is not public" for m, p, a in routes if a is None and (m, p) not in PUBLIC
    ]
    problems += [f"{m} {p}: action {a} is not in the matrix" for m, p, a in routes if a and a not in matrix]
    problems += [f"{m} {p}: no entry in CALLS" for m, p, a in routes if a and (service, m, p) not in CALLS]
    served = {(service, m, p) for m, p, _ in routes}
    problems += [f"{m} {p}: in CALLS but not served" for s, m, p in CALLS if s == service and (s, m, p) not in served]
    unused = set(matrix) - {a for _, _, a in routes}
    problems += [f"action {a}: in the matrix but no route requires it" for a in sorted(unused)]
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_public_or_requires_an_action_and_is_swept(service: str, tmp_path: Path) -> None:
    create_app = importlib.import_module(f"{service}.main").create_app
    app = create_app(
        service_settings(service, f"sqlite+aiosqlite:///{tmp_path}/x.db", BrokerNamespace("amqp://unused"))
    )
    assert uncovered(service, app) == []


async def approved_in_closed_period(app: FastAPI, number: str) -> dict[str, str]:
    """An approved assessment of `number` in a closed month of F01 (its id, factory and period)."""
    assessment_id = await assess(app, determination(number))
    rules = app.state.rules
    await penalty_handlers.approve(
        unit_of_work(app, SqlPenaltyUnitOfWork),
        rules,
        assessment_id,
        roles=["admin"],
        reason="sweep",
        expected_version=None,
    )
    await penalty_handlers.close_period(
        unit_of_work(app, SqlPenaltyUnitOfWork), rules, "F01", "2026-11", reason="sweep"
    )
    return {"assessment_id": assessment_id, "factory": "F01", "period": "2026-11"}


async def fresh(intake: FastAPI, app: FastAPI, service: str) -> str:
    """A new F01 complaint; for investigation, once its case is open."""
    number = await register(intake, "F01")
    if service == "investigation":

        async def opened() -> bool:
            async with client(app, auth("admin", "F01")) as c:
                return (await c.get(f"/api/v1/investigations/{number}")).status_code == 200

        await wait_for(opened)
    return number


async def send(app: FastAPI, headers: dict[str, str], method: str, path: str, call: Call, ids: dict[str, str]) -> Any:
    params = {k: v.format(**ids) for k, v in (call.params or {}).items()}
    async with client(app, headers) as c:
        if call.upload:
            files = {"file": ("photo.png", PNG, "image/png")}
            return await c.request(method, path.format(**ids), params=params, files=files)
        return await c.request(method, path.format(**ids), params=params, json=call.json)


@pytest.mark.parametrize("service", SERVICES)
async def test_each_role_gets_exactly_what_the_matrix_allows_on_every_route(
    service: str, tmp_path: Path, broker_ns: BrokerNamespace
) -> None:
    unlimited = {"rate_limit_per_minute": 1_000_000, "rate_limit_burst": 1_000_000}
    async with AsyncExitStack() as running:
        intake = await running.enter_async_context(
            running_service("intake", f"sqlite+aiosqlite:///{tmp_path}/intake.db", broker_ns, **unlimited)
        )
        app = intake
        if service != "intake":
            app = await running.enter_async_context(
                running_service(service, f"sqlite+aiosqlite:///{tmp_path}/{service}.db", broker_ns, **unlimited)
            )
        assert uncovered(service, app) == []
        ids = {
            "number": await register(intake, "F01"),
            "message_id": "no-such-message",
            "notification_id": "no-such-notice",
        }
        ids["queue"] = next(iter(app.state.runtime.consumed))
        if service == "intake":
            async with client(intake, auth("admin", "F01")) as c:
                files = {"file": ("photo.png", PNG, "image/png")}
                uploaded = await c.post(f"/api/v1/complaints/{ids['number']}/attachments", files=files)
            assert uploaded.status_code == 201, uploaded.text
            ids["attachment_id"] = uploaded.json()["id"]
        if service == "investigation":  # the case opens from complaint.registered

            async def opened() -> bool:
                async with client(app, auth("admin", "F01")) as c:
                    return (await c.get(f"/api/v1/investigations/{ids['number']}")).status_code == 200

            await wait_for(opened)
        if service == "penalty":
            ids.update(await approved_in_closed_period(app, ids["number"]))
        matrix = app.state.access.matrix
        for method, path, action in routes_of(app):
            if action is None:
                continue
            call = CALLS[(service, method, path)]
            anonymous = await send(app, {}, method, path, call, ids)
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            for role in Role:
                allowed = role in matrix[action]
                mine = {**ids, "number": await fresh(intake, app, service)} if allowed and call.fresh else ids
                answer = await send(app, auth(role.value, "F01"), method, path, call, mine)
                if allowed:
                    # allowed means the route did its work: not merely "not 401/403" (a 500 passed that)
                    assert answer.status_code == call.status, (role, method, path, answer.status_code, answer.text)
                else:
                    assert answer.status_code == 403, (role, method, path, answer.status_code, answer.text)
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
        # One token for the whole test: the rate limit keys on the credential, and a token minted
        # in the next second would be another client with a full bucket.
        caller = auth("customer_service", "F01")
        async with client(app, caller) as c:
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
        async with client(app, caller) as c:
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
        assert ready.json()["checks"] == {
            "database": "ok",
            "schema": "ok",
            "broker": "ok",
            "subscribers": "ok",
            "outbox_relay": "ok",
        }
        await intake.state.runtime.relay.stop()
        stalled = await c.get("/health/ready")
    assert stalled.status_code == 503
    assert stalled.json()["checks"]["outbox_relay"].startswith("error")
    assert stalled.json()["checks"]["database"] == "ok"


async def set_revision(app: FastAPI, revision: str) -> None:
    async with app.state.runtime.sessions() as session, session.begin():
        await session.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


async def test_a_pod_on_a_database_behind_its_code_is_not_ready_and_does_not_consume(intake: FastAPI) -> None:
    """Kubernetes migrates in a Job while new pods start: until the schema is at the code's
    head revision a pod says so, takes no traffic, and a worker waits before consuming. A
    database ahead of the code (old pods while a rollout's Job has migrated) stays ready."""
    head = intake.state.runtime.expected_revision
    assert head is not None and head > "0004"
    async with client(intake) as c:
        await set_revision(intake, "0004")
        behind = await c.get("/health/ready")
        waiting = asyncio.create_task(intake.state.runtime._wait_for_migrations(poll=0.05))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await set_revision(intake, head)
        await asyncio.wait_for(waiting, timeout=5)
        caught_up = await c.get("/health/ready")
        await set_revision(intake, "0099_from_a_newer_release")
        ahead = await c.get("/health/ready")
        await set_revision(intake, head)
    assert behind.status_code == 503
    assert behind.json()["checks"]["schema"] == f"error: at revision 0004, expects {head} (migrations pending)"
    assert caught_up.status_code == 200 and caught_up.json()["checks"]["schema"] == "ok"
    assert ahead.status_code == 200 and ahead.json()["checks"]["schema"] == "ok"


async def test_metrics_count_requests_by_route_template(intake: FastAPI) -> None:
    async with client(intake, auth("auditor", "F01")) as c:
        await c.get("/api/v1/complaints/F01-2611-0999")
        text = (await c.get("/metrics")).text
    # the template, not the number: one series per route, however many complaints
    assert 'cqm_http_requests_total{method="GET",route="/api/v1/complaints/{number}",status="404"}' in text
    assert "F01-2611-0999" not in text
