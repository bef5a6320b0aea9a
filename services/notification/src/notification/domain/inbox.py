"""The in-app inbox (站内消息): read marks per person. Pure: no I/O.

A notice to a shared inbox (`role:hr`, `department:装配车间`) is read by each person on their
own; the mark says who read what when, and is never taken back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent


@dataclass(frozen=True, kw_only=True)
class NoticeRead(DomainEvent):
    action: ClassVar[str] = "read"
    notification_id: str
    reader: str


@dataclass
class ReadMark(Aggregate):
    entity: ClassVar[str] = "inbox"

    notification_id: str
    reader: str
    read_at: datetime
    number: str
    factory: str
    version: int = 0

    @property
    def identity(self) -> str:
        return f"{self.notification_id}/{self.reader}"

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        return {"notification": self.notification_id, "reader": self.reader, "read_at": self.read_at.isoformat()}

    @classmethod
    def of(cls, notification_id: str, reader: str, number: str, factory: str, at: datetime) -> ReadMark:
        mark = cls(notification_id=notification_id, reader=reader, read_at=at, number=number, factory=factory)
        mark.record(NoticeRead(at=at, notification_id=notification_id, reader=reader, actor=reader), before=None)
        return mark


def addresses_of(subject: str, roles: frozenset[str], people: list[Any]) -> set[str]:
    """Every address a person answers to: their id, their roles' inboxes and, from the factory's
    directory (`people`, the person entries with that id), their departments."""
    out = {subject, *(f"role:{r}" for r in roles)}
    for person in people:
        out |= {f"role:{r}" for r in person.roles}
        out |= {f"department:{d}" for d in person.departments}
        out |= {f"department_head:{d}" for d in person.heads}
        out |= {f"director:{d}" for d in person.directs}
    return out
