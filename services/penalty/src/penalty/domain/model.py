"""Penalty assessments (考核). Pure: no I/O.

An assessment is opened for every responsibility determination (DOMAIN.md §4: "Input: a
responsibility determination"). Its line items come from the factory's rule table; until
the rule engine computes them the assessment is `awaiting_rules`, so nothing received is
lost and the determination is visible to HR and finance.

The determination is kept in penalty's own terms (`Determination`, `Party`): only what the
rule table needs, translated from the public event at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from cqm_shared.domain import Aggregate, DomainEvent


class AssessmentStatus(StrEnum):
    AWAITING_RULES = "awaiting_rules"
    DRAFT = "draft"  # line items computed, pending approval
    FINALIZED = "finalized"


@dataclass(frozen=True)
class Party:
    """A responsible party and its share of the responsibility (percent)."""

    kind: str  # department / person / role / supplier
    name: str
    share: Decimal
    department: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class Determination:
    """What penalty needs of a responsibility determination (责任判定)."""

    number: str
    factory: str
    determined_at: datetime
    accident_class: str
    loss_amount: Decimal  # CNY
    parties: tuple[Party, ...]
    rule_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        total = sum((p.share for p in self.parties), Decimal("0"))
        if not self.parties or total != Decimal("100"):
            raise ValueError(f"party shares must sum to 100, got {total}")


@dataclass(frozen=True, kw_only=True)
class AssessmentOpened(DomainEvent):
    action: ClassVar[str] = "open_assessment"
    assessment_id: str
    number: str
    factory: str


@dataclass
class Assessment(Aggregate):
    entity: ClassVar[str] = "assessment"

    id: str
    number: str
    factory: str
    status: AssessmentStatus
    determination: Determination
    received_at: datetime
    version: int = 0

    @property
    def identity(self) -> str:
        return self.id

    @property
    def audit_id(self) -> str:
        return self.number

    def snapshot(self) -> dict[str, Any]:
        d = self.determination
        return {
            "id": self.id,
            "status": self.status.value,
            "accident_class": d.accident_class,
            "loss_amount": str(d.loss_amount),
            "parties": [
                {"kind": p.kind, "name": p.name, "department": p.department, "role": p.role, "share": str(p.share)}
                for p in d.parties
            ],
            "rule_codes": list(d.rule_codes),
        }

    @classmethod
    def open(cls, assessment_id: str, determination: Determination, *, at: datetime, reason: str) -> Assessment:
        assessment = cls(
            id=assessment_id,
            number=determination.number,
            factory=determination.factory,
            status=AssessmentStatus.AWAITING_RULES,
            determination=determination,
            received_at=at,
        )
        assessment.record(
            AssessmentOpened(
                at=at,
                reason=reason,
                assessment_id=assessment_id,
                number=determination.number,
                factory=determination.factory,
            ),
            before=None,
        )
        return assessment
