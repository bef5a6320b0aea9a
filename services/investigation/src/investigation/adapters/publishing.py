"""Domain events of investigation -> the public events it publishes (CONTRACT.md event table)."""

from __future__ import annotations

from collections.abc import Sequence

from cqm_shared.contracts import events as public
from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent
from investigation.domain.model import CaseOpened, Deadline


def deadline(d: Deadline) -> public.Deadline:
    return public.Deadline(milestone=d.milestone, due_at=d.due_at, source=d.source, state=d.state.value)


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    if isinstance(event, CaseOpened):
        opened = public.InvestigationOpened(
            number=event.number,
            factory=event.factory,
            state=event.state.value,
            opened_at=event.at,
            deadlines=[deadline(d) for d in event.deadlines],
            version=event.version,
        )
        return (PublicEvent(public.INVESTIGATION_OPENED, event.factory, event.number, opened),)
    return ()
