"""The 8D case page against a stand-in investigation service (httpx MockTransport): what it
asks the service, what it shows, and a refusal shown beside its field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from console.config import ConsoleSettings
from console.main import create_app
from cqm_shared.clock import FakeClock

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
NUMBER = "F01-2611-0001"


def view(state: str = "root_caused", next_steps: list[str] | None = None) -> dict[str, Any]:
    return {
        "number": NUMBER,
        "factory": "F01",
        "state": state,
        "version": 4,
        "round": 1,
        "outcome": None,
        "opened_at": "2026-11-01T01:00:00Z",
        "updated_at": "2026-11-01T05:00:00Z",
        "closed_at": None,
        "deadlines": [
            {
                "milestone": "first_response",
                "round": 1,
                "due_at": "2026-11-02T01:00:00Z",
                "state": "met",
                "source": "seed 001 §1.2.1",
                "met_at": "2026-11-01T02:00:00Z",
                "cancelled_at": None,
            },
            {
                "milestone": "close",
                "round": 1,
                "due_at": "2026-11-16T01:00:00Z",
                "state": "pending",
                "source": "seed 000 §4.2.1",
                "met_at": None,
                "cancelled_at": None,
            },
            {
                "milestone": "feedback_slip",
                "round": 1,
                "due_at": "2026-11-01T20:00:00Z",
                "state": "pending",
                "source": "seed 004 §2.4.1",
                "met_at": None,
                "cancelled_at": None,
            },
        ],
        "complaint": {
            "number": NUMBER,
            "factory": "F01",
            "received_at": "2026-11-01T00:30:00Z",
            "registered_at": "2026-11-01T01:00:00Z",
            "customer": {"company": "华东建工集团"},
            "product": {"part_number": "PC-100", "model": "YB-PC"},
            "phenomenon": "叠合板边角破损",
            "customer_request": {"kind": "report_8d"},
            "market": {"region": "domestic", "province": "out"},
            "batch_return": True,
            "quantity_defective": 12,
        },
        "next_steps": next_steps if next_steps is not None else ["responsibility", "reply", "onsite", "amend"],
        "records": {
            "triage": {
                "valid": True,
                "category": "quality",
                "severity": "major",
                "our_fault": True,
                "at": "2026-11-01T02:00:00Z",
                "by": "user:qe",
                "special": None,
                "difficult": False,
                "responsible_department": "一车间",
                "dispatch": ["workshop_head"],
                "arrive_by": None,
                "note": "",
            },
            "containment": None,
            "root_cause": None,
            "responsibility": None,
            "disputes": [],
            "actions": [],
            "replies": [],
            "follow_ups": [],
            "onsite": {"arrived_at": None, "sheet_returned_at": None, "returned_at": None, "report_sent_at": None},
            "standardisation": None,
            "training": None,
        },
        "parties": [],
        "actions": [],
        "history": [
            {
                "at": "2026-11-01T01:00:00Z",
                "actor": "system",
                "action": "open",
                "from_state": None,
                "to_state": "opened",
                "reason": "",
            },
        ],
    }


class Investigation:
    """The investigation service as the console sees it: canned answers, the requests kept."""

    def __init__(self) -> None:
        self.case = view()
        self.requests: list[tuple[str, str, Any]] = []
        self.refuse: tuple[int, dict[str, Any]] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        path = request.url.path
        if path == f"/api/v1/investigations/{NUMBER}" and request.method == "GET":
            return httpx.Response(200, json=self.case)
        if path.endswith("/responsibility/proposal"):
            shares = (
                {"shipping_qc": "70", "line_qc": "30"}
                if body and body["visible_at_once"]
                else {"process_owner": "50", "next_process": "30", "station_leader": "20"}
            )
            parties = [{"kind": "role", "name": r, "role": r, "share": s} for r, s in shares.items()]
            return httpx.Response(
                200, json={"situation": "rule", "source": "seed 000", "manual": False, "parties": parties}
            )
        if path.endswith("/8d"):
            return httpx.Response(
                200,
                content=b"%PDF-1.7",
                headers={"content-type": "application/pdf", "content-disposition": 'inline; filename="x.pdf"'},
            )
        if request.method == "POST" and path.startswith(f"/api/v1/investigations/{NUMBER}/"):
            if self.refuse:
                status, problem = self.refuse
                return httpx.Response(status, json=problem, headers={"content-type": "application/problem+json"})
            return httpx.Response(200, json=self.case)
        if path == "/api/v1/audit":
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"title": "Not Found"})


@pytest.fixture
def service() -> Investigation:
    return Investigation()


@pytest.fixture
def console(service: Investigation) -> Iterator[TestClient]:
    settings = ConsoleSettings(environment="test")
    app = create_app(settings, clock=FakeClock(NOW), transport=httpx.MockTransport(service))
    with TestClient(app, base_url="http://console") as client:
        yield client


def sign_in(client: TestClient, role: str = "quality_engineer") -> str:
    page = client.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/signin",
        data={"csrf_token": token.group(1), "role": role, "factories": "F01", "name": "张工"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text)  # signing in renews it
    assert fresh
    return fresh.group(1)


def test_the_case_page_shows_the_header_deadlines_and_only_the_steps_this_role_takes(
    console: TestClient, service: Investigation
) -> None:
    sign_in(console)
    page = console.get(f"/cases/{NUMBER}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="case-state" data-state="root_caused">已查明原因<' in html
    for shown in ("华东建工集团", "YB-PC · PC-100", "一车间", "重大", "批量退货"):
        assert shown in html, shown
    assert 'data-testid="deadline-first_response" data-state="met" data-countdown="met"' in html
    assert 'data-countdown="overdue"' in html and "已超期 6小时" in html  # feedback slip: 20:00Z, now 02:00Z
    assert "剩余 13天 23小时" in html and "seed 000 §4.2.1" in html
    assert 'data-testid="form-responsibility"' in html and 'data-testid="form-reply"' in html
    assert 'data-testid="form-amend"' not in html and 'data-testid="form-close"' not in html
    # the proposal for the default facts (not measured, not visible, no log record) prefills the parties
    assert (
        "POST",
        f"/api/v1/investigations/{NUMBER}/responsibility/proposal",
        {"measured": False, "visible_at_once": False, "qc_log_record": False, "crack": "none"},
    ) in service.requests
    assert 'value="本工序"' in html and 'value="station_leader" selected' in html
    assert 'data-testid="audit"' not in html  # a quality engineer may not read the audit trail

    visible = console.get(f"/cases/{NUMBER}", params={"qc_facts-visible_at_once": "on"}).text
    assert 'value="出货检验"' in visible and 'name="qc_facts-visible_at_once" value="on"' in visible


def test_a_department_head_sees_no_form_but_who_takes_the_step(console: TestClient, service: Investigation) -> None:
    sign_in(console, "department_head")
    html = console.get(f"/cases/{NUMBER}").text
    assert 'data-testid="form-responsibility"' not in html
    assert 'data-testid="waiting-responsibility"' in html and "品质工程师" in html
    assert not any(path.endswith("/proposal") for _, path, _ in service.requests)


def test_a_step_posts_its_body_and_goes_back_to_the_case(console: TestClient, service: Investigation) -> None:
    token = sign_in(console)
    answer = console.post(
        f"/cases/{NUMBER}/reply",
        data={"csrf_token": token, "kind": "preliminary", "content": "正在调查", "channel": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{NUMBER}?done=reply"
    assert service.requests[-1] == (
        "POST",
        f"/api/v1/investigations/{NUMBER}/reply",
        {"kind": "preliminary", "content": "正在调查"},
    )
    assert 'data-testid="flash">已提交:回复客户<' in console.get(answer.headers["location"]).text
    forged = console.post(f"/cases/{NUMBER}/reply", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403


def test_the_services_refusal_is_shown_beside_its_field_with_the_values_kept(
    console: TestClient, service: Investigation
) -> None:
    token = sign_in(console)
    service.refuse = (
        422,
        {
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "the parties differ from the split: give an override reason",
            "errors": [{"field": "parties", "message": "the parties differ from the split: give an override reason"}],
        },
    )
    form = {
        "csrf_token": token,
        "parties-0-kind": "department",
        "parties-0-name": "一车间",
        "parties-0-share": "100",
        "cause_class": "communication",
    }
    answer = console.post(f"/cases/{NUMBER}/responsibility", data=form)
    assert answer.status_code == 422
    html = answer.text
    assert 'data-testid="error-override_reason"' in html and 'value="一车间"' in html
    assert 'data-testid="form-error"' in html
    assert re.search(r'<textarea name="override_reason"[^>]*class="invalid"', html)

    local = console.post(f"/cases/{NUMBER}/responsibility", data={**form, "parties-0-share": "百"})
    assert local.status_code == 422 and 'data-testid="error-parties-0-share"' in local.text

    service.refuse = (409, {"title": "Conflict", "status": 409, "detail": "allowed only when verified"})
    refused = console.post(f"/cases/{NUMBER}/reply", data={"csrf_token": token, "kind": "final", "content": "x"})
    assert refused.status_code == 409 and "allowed only when verified" in refused.text


def test_the_8d_report_is_passed_through_and_unknown_numbers_and_steps_are_not_found(
    console: TestClient, service: Investigation
) -> None:
    token = sign_in(console, "quality_manager")
    report = console.get(f"/cases/{NUMBER}/8d.pdf", params={"version": "internal", "lang": "en"})
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    assert ("GET", f"/api/v1/investigations/{NUMBER}/8d", None) in service.requests
    assert console.get("/cases/F01-9999-0009").status_code == 404
    assert console.get("/cases/..%2F..%2Fhealth").status_code == 404
    assert console.post(f"/cases/{NUMBER}/amend", data={"csrf_token": token}).status_code == 404
    assert 'data-testid="audit"' in console.get(f"/cases/{NUMBER}").text  # the quality manager reads it
