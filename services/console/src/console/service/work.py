"""My work (我的待办): what the signed-in person must act on, from the services that know it.

The token names roles and factories, not a person's department, so "assigned to me" is read
from the role: the step a role takes (DOMAIN.md §3, §4) decides which cases and assessments wait
for it. Deadlines due soon and overdue ones with their escalation level (notification's timers),
and the unread notices, complete the page.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from console.service.backends import ServiceApi
from console.service.gathering import Answers, gather_named

DUE_SOON = timedelta(hours=24)

# The case states in which each role has the next step.
CASE_QUEUES: dict[str, list[str]] = {
    "quality_engineer": ["opened", "reopened", "triaged", "contained", "root_caused", "actions_open", "verified"],
    "quality_manager": ["open"],
    "department_head": ["responsibility_determined", "actions_open"],
    "production_operations": ["disputed"],
    "customer_service": ["verified", "replied"],
    "admin": ["open"],
    "auditor": ["open"],
    "general_manager": ["open"],
}
# The assessment states in which each role acts (approval, appeal decision).
PENALTY_QUEUES: dict[str, list[str]] = {
    "quality_manager": ["draft"],
    "general_manager": ["draft", "appealed"],
    "hr": ["draft", "approved"],
    "finance": ["approved"],
    "department_head": ["draft"],
}


def case_states(roles: tuple[str, ...]) -> list[str]:
    states: list[str] = []
    for role in roles:
        for state in CASE_QUEUES.get(role, []):
            if state not in states:
                states.append(state)
    return ["open"] if "open" in states else states


def penalty_states(roles: tuple[str, ...]) -> list[str]:
    states: list[str] = []
    for role in roles:
        states += [s for s in PENALTY_QUEUES.get(role, []) if s not in states]
    return states


async def my_work(api: ServiceApi, roles: tuple[str, ...], now: datetime) -> Answers:
    calls: dict[str, Awaitable[Any]] = {
        "inbox": api.get("notification", "/api/v1/inbox", {"unread": True, "limit": 10}),
        "escalations": api.get("notification", "/api/v1/escalations", {"limit": 50}),
        "due_soon": api.get(
            "investigation",
            "/api/v1/investigations",
            {"state": ["open"], "overdue": False, "due_before": (now + DUE_SOON).isoformat(), "limit": 20},
        ),
        "overdue": api.get(
            "investigation", "/api/v1/investigations", {"state": ["open"], "overdue": True, "limit": 20}
        ),
    }
    states = case_states(roles)
    if states:
        calls["cases"] = api.get("investigation", "/api/v1/investigations", {"state": states, "limit": 20})
    for status in penalty_states(roles):
        calls[f"assessments_{status}"] = api.get("penalty", "/api/v1/assessments", {"status": status, "limit": 20})
    return await gather_named(calls)


def escalation_levels(escalations: Any) -> dict[tuple[str, str], int]:
    """(number, milestone) → the highest escalation level fired, to mark overdue rows."""
    out: dict[tuple[str, str], int] = {}
    for item in (escalations or {}).get("items", []):
        if item.get("level") is not None:
            out[(str(item["number"]), str(item["milestone"]))] = int(item["level"])
    return out
