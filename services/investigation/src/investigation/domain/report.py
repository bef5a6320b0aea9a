"""The 8D report (D0–D8) as data, in two versions: for the customer and for internal use (seed 001).

Independent of the case model: whoever builds a report copies what the case has into these
frozen dataclasses, and the report adapters render them (HTML, PDF) in Chinese or English.
Everything is optional or may be empty, so an unfinished case still renders (shown as "—").

The internal-only data (responsible parties with their shares and people, accident class,
loss, rule codes, penalties, dispute and ruling, history) lives in one `InternalSection`; the
customer version has none, so no template can leak it by mistake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

ReportVersion = Literal["customer", "internal"]
ScopeLocation = Literal["shipped", "wip", "warehouse"]
FishboneCategory = Literal["man", "machine", "material", "method", "measurement", "environment"]

# 人机料法测环, in the order an Ishikawa diagram lists them.
FISHBONE_CATEGORIES: tuple[FishboneCategory, ...] = (
    "man",
    "machine",
    "material",
    "method",
    "measurement",
    "environment",
)


@dataclass(frozen=True, slots=True)
class ScopeLine:
    """D0: suspect product at one place (shipped goods, work in progress, warehouse stock)."""

    location: ScopeLocation
    quantity: int | None = None
    disposition: str | None = None  # a code (rework, concession, scrap, sorting, recall…) or free text
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TeamMember:
    """D1: one member of the 8D team."""

    name: str
    role: str | None = None  # a code (leader, champion, member) or free text
    department: str | None = None


@dataclass(frozen=True, slots=True)
class ProblemDescription:
    """D2: the problem in 5W2H form, with a free description."""

    description: str | None = None
    what: str | None = None
    where: str | None = None
    when: str | None = None
    who: str | None = None
    why: str | None = None
    how: str | None = None
    how_many: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """D3 containment or D5 permanent corrective action."""

    description: str
    owner: str | None = None
    due: date | None = None
    state: str | None = None  # a code (open, in_progress, done, verified, overdue, cancelled) or free text
    completed_on: date | None = None


@dataclass(frozen=True, slots=True)
class RootCause:
    """D4: why it happened (occurrence) and why it was not caught (escape)."""

    occurrence: str | None = None
    escape: str | None = None
    five_whys: tuple[tuple[str, ...], ...] = ()  # one chain per cause: why 1, why 2, …
    fishbone: Mapping[FishboneCategory, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LotResult:
    """D6: one lot checked after the permanent action."""

    lot: str
    checked_at: datetime | date | None = None
    inspected_quantity: int | None = None
    defect_found: bool | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Validation:
    """D6: implementation and validation; closure needs consecutive clean lots (seed 001)."""

    lots: tuple[LotResult, ...] = ()
    verdict: str | None = None  # a code (effective, not_effective, pending) or free text


@dataclass(frozen=True, slots=True)
class StandardisedDocument:
    """D7: a document updated so that the fix stays (work instruction, control plan, FMEA…)."""

    title: str
    code: str | None = None
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class Prevention:
    """D7: prevention of recurrence and the documents that were standardised."""

    text: str | None = None
    documents: tuple[StandardisedDocument, ...] = ()


@dataclass(frozen=True, slots=True)
class Closure:
    """D8: congratulation of the team and closure."""

    closed_at: datetime | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class ResponsibleParty:
    """Internal: a responsible department, person, role or supplier and its share."""

    name: str
    share: Decimal | None = None  # percent
    kind: str | None = None  # a code (department, person, role, supplier) or free text
    person: str | None = None  # the responsible person's name: never shown to the customer
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Penalty:
    """Internal: a penalty that follows from the responsibility."""

    party: str
    amount: Decimal | None = None  # CNY
    measure: str | None = None
    rule_code: str | None = None


@dataclass(frozen=True, slots=True)
class Dispute:
    """Internal: an objection of the responsible department and its ruling."""

    raised_by: str | None = None
    raised_at: datetime | None = None
    reason: str | None = None
    ruling: str | None = None
    ruled_by: str | None = None
    ruled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """Internal: who did what when."""

    at: datetime
    actor: str
    action: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class InternalSection:
    """Everything the customer version leaves out."""

    parties: tuple[ResponsibleParty, ...] = ()
    accident_class: str | None = None  # a code (technical_major, …, communication_error) or free text
    loss_amount: Decimal | None = None  # CNY
    rule_codes: tuple[str, ...] = ()
    penalties: tuple[Penalty, ...] = ()
    dispute: Dispute | None = None
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class EightDReport:
    number: str
    factory: str
    version: ReportVersion
    generated_at: datetime  # given by the caller: the domain reads no clock
    customer_company: str | None = None
    product_model: str | None = None
    part_number: str | None = None
    phenomenon: str | None = None
    received_at: datetime | None = None
    severity: str | None = None  # a code (urgent, critical, major, moderate, minor) or free text
    category: str | None = None  # a code (quality, non_quality) or free text
    # D0
    emergency_response: str | None = None
    scope: tuple[ScopeLine, ...] = ()
    # D1–D8
    team: tuple[TeamMember, ...] = ()
    problem: ProblemDescription = field(default_factory=ProblemDescription)
    containment: tuple[Action, ...] = ()
    root_cause: RootCause = field(default_factory=RootCause)
    corrective_actions: tuple[Action, ...] = ()
    validation: Validation = field(default_factory=Validation)
    prevention: Prevention = field(default_factory=Prevention)
    closure: Closure = field(default_factory=Closure)
    # Internal version only; an internal report without it shows its sections empty.
    internal: InternalSection | None = None

    def __post_init__(self) -> None:
        if self.version == "customer" and self.internal is not None:
            raise ValueError("a customer version carries no internal section: use customer_version()")

    def customer_version(self) -> EightDReport:
        """The same report without the internal-only data."""
        return dataclasses.replace(self, version="customer", internal=None)
