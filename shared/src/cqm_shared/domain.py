"""Building blocks of every service's domain model. Pure: no I/O, no framework.

An aggregate owns its transitions: a method checks the current state, changes it and
records a domain event. The unit of work collects those events at commit and turns each into
an audit row and, where the event is public, an outbox CloudEvent, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


class DomainError(Exception):
    """A rule of the domain refused the request (the API answers 409 or 422)."""


class InvalidInput(DomainError, ValueError):
    """Input the domain's own rules refuse, e.g. shares not summing to 100 % (the API answers 422)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError, LookupError):
    """No such aggregate, or one in a factory the caller may not see (never disclosed)."""


class InvalidTransition(DomainError):
    """The aggregate's current state does not allow the action."""

    def __init__(self, entity: str, identity: str, state: str, action: str, reason: str) -> None:
        super().__init__(f"{entity} {identity} is {state}: {action} refused ({reason})")
        self.entity = entity
        self.identity = identity
        self.state = state
        self.action = action
        self.reason = reason


class StaleVersion(DomainError):
    """Someone changed the aggregate since the caller read it (optimistic concurrency)."""

    def __init__(self, entity: str, identity: str, expected: int, actual: int | None) -> None:
        now = "deleted" if actual is None else f"at version {actual}"
        super().__init__(f"{entity} {identity} changed since version {expected}: it is now {now}; reload and retry")
        self.entity = entity
        self.identity = identity
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened to an aggregate, in the service's own terms."""

    action: ClassVar[str] = "change"  # the audit row's action
    at: datetime
    reason: str = ""
    actor: str | None = None  # who, when not the unit of work's principal (e.g. a user named in an event)


@dataclass(frozen=True)
class Change:
    """A recorded event with the audit facts only the aggregate knows (before / after)."""

    event: DomainEvent
    entity: str
    entity_id: str  # the aggregate's audit_id: the complaint number the trail is read by
    factory: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    version: int


class Aggregate:
    """Base of aggregates: a version for optimistic concurrency and recorded changes.

    Subclasses set `entity`, have `identity`, `factory` and `version` attributes and say
    what the audit trail shows of them in `snapshot()`.
    """

    entity: ClassVar[str] = "aggregate"
    version: int
    factory: str

    @property
    def identity(self) -> str:
        raise NotImplementedError

    @property
    def audit_id(self) -> str:
        """The audit trail's `entity_id`: the complaint number the trail is read by."""
        return self.identity

    def snapshot(self) -> dict[str, Any]:
        """What the audit trail keeps as `before` / `after` (JSON-ready)."""
        raise NotImplementedError

    def _pending(self) -> list[Change]:
        pending: list[Change] = self.__dict__.setdefault("_changes", [])
        return pending

    def record(self, event: DomainEvent, *, before: dict[str, Any] | None, after: dict[str, Any] | None = None) -> None:
        """Call after changing state: bumps the version and keeps the change for the commit.

        The audit `after` is the snapshot, unless the change has more to show (`after`).
        """
        self.version += 1
        shown = self.snapshot() if after is None else after
        self._pending().append(Change(event, self.entity, self.audit_id, self.factory, before, shown, self.version))

    def pull_changes(self) -> list[Change]:
        changes = list(self._pending())
        self._pending().clear()
        return changes

    @property
    def changed(self) -> bool:
        return bool(self._pending())
