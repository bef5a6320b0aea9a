"""In-memory units of work for the use-case tests: no broker, no database.

Each service's fakes subclass `MemoryUnitOfWork` with `MemoryRepository`s; they keep the
real rules (versions checked, nothing written until commit, inbox claimed once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from cqm_shared.clock import FakeClock
from cqm_shared.uow import Actor, InboxEntry, MemoryStore, MemoryUnitOfWork, Translator

U = TypeVar("U", bound=MemoryUnitOfWork)

T0 = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
ENGINEER = Actor("user:qe-1", frozenset({"F01"}))


def factory(
    cls: type[U], store: MemoryStore, clock: FakeClock, *, translate: Translator, source: str
) -> Callable[..., U]:
    """Like a service's `units_of_work`: one unit of work per call."""

    def make(actor: Actor = ENGINEER, inbox: InboxEntry | None = None, **extra: Any) -> U:
        return cls(store, clock=clock, actor=actor, source=source, translate=translate, inbox=inbox, **extra)

    return make
