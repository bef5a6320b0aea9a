"""Parts of the two-replica test (test_replicas.py): deadlines short enough to fall due while it
runs, requests spread over the replicas in turn, a case walked over investigation's API up to
its approved penalty, and each process's own Prometheus counters.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cqm_shared.policy import deep_merge
from tests.conftest import POLICY_DIR
from tests.helpers import auth
from tests.polling import wait_for
from tests.stack import ServiceProcess, Stack

QE = auth("quality_engineer", "F01")
CS = auth("customer_service", "F01")
OPS = auth("production_operations", "F01")
READER = auth()
DEPARTMENT = "机加车间"  # deploy/policies/F01.yaml: head 钱主任 (u-mach-head)
PATIENCE = 90.0  # seconds for an event to cross the stack while eight processes share two cores

# Deadlines that fall due within the test: the first response 36 s after registration (the
# case's opening deadline, met by triage), the workshop training 18 s after responsibility is
# determined (its breach is a process penalty, seed 000 §4.3.1.6), and the escalation levels
# 5, 10 and 15 s after a due time. The reminders stay at 50 % and 80 % of the time before it.
SHORT = {
    "investigation": {
        "deadlines": {
            "first_response": {"hours": "0.01", "anchor": "registered", "source": "two-replica test"},
            "workshop_training": {"hours": "0.005", "anchor": "responsibility", "source": "two-replica test"},
        }
    },
    "notification": {
        "timers": {
            "escalation": [{"level": 1, "after": "5s"}, {"level": 2, "after": "10s"}, {"level": 3, "after": "15s"}]
        }
    },
}
SHORT_MILESTONES = ("first_response", "workshop_training")


def short_deadline_policies(folder: Path) -> Path:
    """The shipped policies, F01's with SHORT merged in; the folder (for POLICY_DIR)."""
    shutil.copytree(POLICY_DIR, folder)
    f01 = folder / "F01.yaml"
    merged = deep_merge(yaml.safe_load(f01.read_text(encoding="utf-8")), SHORT)
    f01.write_text(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


class Replicas:
    """The base URL of each service's replicas in turn: consecutive requests go to each process."""

    def __init__(self, stack: Stack) -> None:
        self._turns: dict[str, Iterator[ServiceProcess]] = {
            name: itertools.cycle(processes) for name, processes in stack.replicas.items()
        }

    def __call__(self, service: str) -> str:
        return next(self._turns[service]).url


# -- a case walked to its approved penalty ------------------------------------------------------


def _ok(answer: httpx.Response, what: str) -> dict[str, Any]:
    assert answer.status_code in (200, 201), (what, answer.status_code, answer.text)
    found: dict[str, Any] = answer.json()
    return found


async def walk_to_approved_penalty(client: httpx.AsyncClient, replicas: Replicas, number: str) -> None:
    """Triage, containment, root cause and responsibility over investigation's API; penalty's
    draft of the determination approved by production operations; HR and finance told of it.
    Every request goes to the next replica of its service."""

    async def case_opened() -> bool:
        answer = await client.get(f"{replicas('investigation')}/api/v1/investigations/{number}", headers=QE)
        return answer.status_code == 200

    await wait_for(case_opened, timeout=PATIENCE, interval=0.5, what=f"case {number} opened")
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "triage",
            {"valid": True, "category": "quality", "severity": "moderate", "responsible_department": DEPARTMENT},
        ),
        ("containment", {"scope": [{"kind": "warehouse", "quantity": 3}], "dispositions": ["sorting"]}),
        ("root_cause", {"occurrence_cause": "夹具磨损 worn fixture", "escape_cause": "抽检漏检 sampling missed it"}),
        (
            "responsibility",
            {
                "parties": [{"kind": "department", "name": DEPARTMENT, "share": "100"}],
                "cause_class": "management_general",
                "findings": [{"code": "5.2.3.2"}],
                "override_reason": "两个副本的测试 the two-replica test",
            },
        ),
    ]
    for step, body in steps:
        url = f"{replicas('investigation')}/api/v1/investigations/{number}/{step}"
        _ok(await client.post(url, json=body, headers=QE), f"{number} {step}")

    async def draft() -> dict[str, Any] | None:
        answer = await client.get(
            f"{replicas('penalty')}/api/v1/assessments", params={"complaint": number}, headers=READER
        )
        found = [a for a in answer.json() if a["determination"] is not None] if answer.status_code == 200 else []
        return found[0] if found else None

    assessment = await wait_for(draft, timeout=PATIENCE, interval=0.5, what=f"{number} assessed")
    assert assessment is not None  # wait_for returns only a truthy value
    url = f"{replicas('penalty')}/api/v1/assessments/{assessment['id']}/approval"
    body = {"reason": "生产运营部签准", "expected_version": assessment["version"]}
    approved = _ok(await client.post(url, json=body, headers=OPS), f"{number} approval")
    assert approved["status"] == "approved", approved

    async def finance_told() -> bool:
        answer = await client.get(
            f"{replicas('notification')}/api/v1/notifications", params={"complaint": number}, headers=READER
        )
        told = {n["recipient"] for n in answer.json() if n["event_type"] == "penalty.finalized"}
        return answer.status_code == 200 and {"role:hr", "role:finance"} <= told

    await wait_for(finance_told, timeout=PATIENCE, interval=0.5, what=f"HR and finance told of {number}")


# -- each process's own counters ----------------------------------------------------------------


class Metrics:
    """One process's Prometheus samples: (sample name, labels) -> value."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = self.samples.get(key, 0.0) + sample.value

    def total(self, name: str, **labels: str) -> int:
        """The sum of a sample over every label set that has `labels`."""
        return int(sum(v for (n, ls), v in self.samples.items() if n == name and set(labels.items()) <= ls))

    def by(self, name: str, *keys: str) -> Counter[tuple[str, ...]]:
        """A sample summed per value of the labels `keys`."""
        found: Counter[tuple[str, ...]] = Counter()
        for (n, ls), value in self.samples.items():
            named = dict(ls)
            if n == name:
                found[tuple(named.get(k, "") for k in keys)] += int(value)
        return found

    def api_requests(self) -> int:
        """Requests this process answered on /api/ routes (not /metrics nor /health)."""
        routes = self.by("cqm_http_requests_total", "route")
        return sum(n for (route,), n in routes.items() if route.startswith("/api/"))


async def scrape(client: httpx.AsyncClient, process: ServiceProcess) -> Metrics:
    answer = await client.get(f"{process.url}/metrics", timeout=10)
    answer.raise_for_status()
    return Metrics(answer.text)
