"""Penalty's own terms for what it receives and what it produces. Pure values, no I/O.

A determination (责任判定) and an SLA breach arrive as public events and are translated into
these at the edge; line items (考核明细) are what the rule engine makes of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cqm_shared.domain import InvalidInput


class AccidentClass(StrEnum):
    """Accident class by cause (seed 000 §4.2.2)."""

    TECHNICAL_MAJOR = "technical_major"
    TECHNICAL_GENERAL = "technical_general"
    MANAGEMENT_MAJOR = "management_major"
    MANAGEMENT_GENERAL = "management_general"
    COMMUNICATION = "communication"

    @property
    def management(self) -> bool:
        return self in (AccidentClass.MANAGEMENT_MAJOR, AccidentClass.MANAGEMENT_GENERAL)


class ProductStage(StrEnum):
    SERIES = "series"
    PROTOTYPE = "prototype"  # 样机
    NEW_PRODUCT = "new_product"  # 开发的新产品


class Degree(StrEnum):
    GENERAL = "general"  # 情节一般
    SERIOUS = "serious"  # 情节严重


@dataclass(frozen=True)
class Party:
    """A responsible party and its share of the responsibility (percent)."""

    kind: str  # department / person / role / supplier
    name: str
    share: Decimal
    department: str | None = None
    role: str | None = None

    @property
    def internal(self) -> bool:
        return self.kind != "supplier"

    @property
    def department_name(self) -> str | None:
        return self.department or (self.name if self.kind == "department" else None)


@dataclass(frozen=True)
class Finding:
    """A rule code of the table with its counts, as the investigation found it."""

    code: str
    occurrences: int = 1
    pieces: int = 0
    party: str | None = None  # the party it concerns; None: every internal party
    product_stage: ProductStage = ProductStage.SERIES
    degree: Degree = Degree.GENERAL


@dataclass(frozen=True)
class Determination:
    """What penalty needs of a responsibility determination (责任判定)."""

    number: str
    factory: str
    determined_at: datetime
    accident_class: AccidentClass
    loss_amount: Decimal  # CNY: the compensation (客诉赔偿额)
    parties: tuple[Party, ...]
    findings: tuple[Finding, ...] = ()
    sequence: int = 1  # a newer determination of the same case supersedes an older one
    order_number: str | None = None

    def __post_init__(self) -> None:
        total = sum((p.share for p in self.parties), Decimal("0"))
        if not self.parties or total != Decimal("100"):
            raise InvalidInput(f"party shares must sum to 100, got {total}", field="parties")
        if self.loss_amount < 0:
            raise InvalidInput("the loss amount is negative", field="loss_amount")

    @property
    def rule_codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.findings))


@dataclass(frozen=True)
class Breach:
    """An SLA milestone missed (`sla.breached`): the process penalties of seed 000 §4.3."""

    number: str
    factory: str
    milestone: str
    round: int
    due_at: datetime
    breached_at: datetime
    department: str | None = None  # the responsible department, when the event names it


class LineKind(StrEnum):
    FINE = "fine"  # money, internal ledger
    POINTS = "points"  # 绩效分 / 管理分, never money
    CHARGE_BACK = "charge_back"  # a supplier's share: outside the internal ledger
    EXEMPT = "exempt"  # the rule exempts the case (prototype, new product): shown, zero
    COMMISSION_CANCELLED = "commission_cancelled"  # 取消该笔业务的提成 (002-2.6)


class PayeeKind(StrEnum):
    PERSON = "person"
    DEPARTMENT = "department"
    SUPPLIER = "supplier"
    ROLE = "role"  # not resolved: HR finds the person


@dataclass(frozen=True)
class Payee:
    kind: PayeeKind
    id: str  # person id, department or supplier name, or the role
    name: str

    @property
    def unresolved(self) -> bool:
        return self.kind is PayeeKind.ROLE


@dataclass(frozen=True)
class LineItem:
    """One line of an assessment: who, under which rule, on what basis, how much."""

    rule_code: str
    kind: LineKind
    role: str  # the rule's payer role
    payee: Payee
    department: str | None
    party: str | None  # the responsible party the line derives from
    basis: str  # how it was computed, e.g. "3 pieces × 50"
    amount: Decimal = Decimal("0")  # money (CNY)
    points: Decimal = Decimal("0")
    points_ledger: str | None = None  # performance / management
    illustrative: bool = False  # computed from illustrative values (coefficients not in the seed)
    original_amount: Decimal | None = None  # before an appeal decision changed it
    note: str = ""

    @property
    def unresolved(self) -> bool:
        return self.payee.unresolved

    def negated(self) -> LineItem:
        """The reversal of this line (an adjustment in a later period)."""
        return LineItem(
            rule_code=self.rule_code,
            kind=self.kind,
            role=self.role,
            payee=self.payee,
            department=self.department,
            party=self.party,
            basis=f"reversal: {self.basis}",
            amount=-self.amount,
            points=-self.points,
            points_ledger=self.points_ledger,
            illustrative=self.illustrative,
            note="adjustment",
        )


@dataclass(frozen=True)
class Computation:
    """What the rule engine made of an input: the same input always gives the same result."""

    table_version: str
    lines: tuple[LineItem, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def illustrative(self) -> bool:
        return any(line.illustrative for line in self.lines)
