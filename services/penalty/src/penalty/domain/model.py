"""Penalty assessments (考核). Pure: no I/O.

An assessment is opened for every responsibility determination (DOMAIN.md §4: "Input: a
responsibility determination"). Its line items come from the factory's rule table; until
the rule engine computes them the assessment is `awaiting_rules`, so nothing received is
lost and the determination is visible to HR and finance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cqm_shared.contracts.events import ResponsibilityDetermined


class AssessmentStatus(StrEnum):
    AWAITING_RULES = "awaiting_rules"
    DRAFT = "draft"  # line items computed, pending approval
    FINALIZED = "finalized"


@dataclass(frozen=True)
class LineItem:
    party: str
    rule_code: str
    amount: Decimal  # CNY


@dataclass
class Assessment:
    id: str
    number: str
    factory: str
    status: AssessmentStatus
    determination: ResponsibilityDetermined
    received_at: datetime
    line_items: list[LineItem] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.line_items), Decimal("0"))


def open_assessment(assessment_id: str, determination: ResponsibilityDetermined, *, now: datetime) -> Assessment:
    return Assessment(
        id=assessment_id,
        number=determination.number,
        factory=determination.factory,
        status=AssessmentStatus.AWAITING_RULES,
        determination=determination,
        received_at=now,
    )
