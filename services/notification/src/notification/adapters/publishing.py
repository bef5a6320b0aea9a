"""Domain events of notification -> the public events it publishes (CONTRACT.md event table).

A dispatch is internal (audited, not published): `notification.delivered` comes with the
delivery channels.
"""

from __future__ import annotations

from collections.abc import Sequence

from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    return ()
