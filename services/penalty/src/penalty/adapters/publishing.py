"""Domain events of penalty -> the public events it publishes (CONTRACT.md event table).

Opening an assessment is internal (audited, not published): `penalty.assessed` carries the
computed line items, which the rule engine adds.
"""

from __future__ import annotations

from collections.abc import Sequence

from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    return ()
