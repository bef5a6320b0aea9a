"""Who hears of a fired deadline timer (routes `sla.warning` and `sla.breached`). Pure: no I/O.

A route's roles may name, besides the directory's roles, `owner` (the role that must meet the
milestone, from the policy's `timers.owners`), `department_head`, `director` and
`responsible_department` of the holder's responsible department; without a known department
they fall back to the directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from notification.domain.model import Notice
from notification.domain.policy import Facts, NotificationPolicy
from notification.domain.timers import SlaRaised, TimerKind

WARNING = "sla.warning"
BREACHED = "sla.breached"


def _role_address(role: str, department: str | None, policy: NotificationPolicy) -> list[str]:
    if department:
        by_department = {
            "responsible_department": f"department:{department}",
            "department_head": f"department_head:{department}",
            "director": f"director:{department}",
        }
        if role in by_department:
            return [by_department[role]]
    return list(policy.directory.get(role, [f"role:{role}"]))


def sla_notices(raised: SlaRaised, policy: NotificationPolicy, *, at: datetime) -> list[Notice]:
    """The notices of a reminder, a breach or an escalation level."""
    trigger = BREACHED if raised.breached else WARNING
    department = raised.department
    owner = policy.timers.owner_of(raised.milestone)
    named: dict[str, str | Sequence[str]] = {"owner": _role_address(owner, department, policy)}
    for role in ("responsible_department", "department_head", "director"):
        named[role] = _role_address(role, department, policy)
    zone = ZoneInfo(policy.delivery.timezone)
    context = {
        "number": raised.number,
        "factory": raised.factory,
        "milestone": raised.milestone,
        "round": raised.round,
        "due_at": raised.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "level": raised.level,
        "kind": raised.kind.value,
        "department": department,
        "source": raised.source,
        # seconds; the templates word them in each locale
        "overdue": max(0, int((at - raised.due_at).total_seconds())) if raised.breached else None,
        "left": None if raised.breached else max(0, int((raised.due_at - at).total_seconds())),
    }
    urgent = raised.kind is not TimerKind.REMINDER
    facts = Facts(level=raised.level, milestone=raised.milestone)
    return [
        Notice(
            recipient_role=role,
            recipient=who,
            template=trigger,
            context=context,
            urgent=rule.urgent if rule.urgent is not None else urgent,
            rule=rule,
        )
        for role, who, rule in policy.addressed(trigger, named=named, facts=facts)
    ]
