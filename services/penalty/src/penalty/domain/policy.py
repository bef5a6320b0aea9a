"""The part of a factory's policy that penalty applies (section `penalty`): rules are data.

The rule table is versioned: each version has an effective date and an assessment uses the
version in force when responsibility was determined, recording which. A rule is one of a small,
fixed set of calculation kinds, all in `Decimal`:

- `per_occurrence`: amount per time (次), e.g. 5.2.3.1 head 10, person 50;
- `per_piece`: amount per piece (件), e.g. 5.2.3.7 team 50 / piece;
- `loss_coefficient`: compensation × coefficient (by accident class and role) × share, 4.3.3.2;
- `tiered`: brackets on the party's part of the loss, e.g. 002-2.6 20 % up to 10,000, 10 % above;
- `points`: performance or management points (绩效分 / 管理分), kept apart from money.

A rule may exempt prototypes and new products (样机、开发的新产品除外). The values shipped in
`deploy/policies/default.yaml` are DOMAIN.md §4's, each with its clause; the coefficient tables
the seed refers to but does not print are marked illustrative, and the service says so.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from penalty.domain.terms import AccidentClass, ProductStage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Coefficient = Annotated[Decimal, Field(ge=0, le=1)]
Percent = Annotated[Decimal, Field(gt=0, le=100)]


class Kind(StrEnum):
    PER_OCCURRENCE = "per_occurrence"
    PER_PIECE = "per_piece"
    LOSS_COEFFICIENT = "loss_coefficient"
    TIERED = "tiered"
    POINTS = "points"


class PointsLedger(StrEnum):
    PERFORMANCE = "performance"  # 绩效管理分
    MANAGEMENT = "management"  # 基础管理分


class Payer(_Strict):
    """Who pays under a rule, by role, resolved to people through the organisation directory.

    Roles: responsible_person, department_head, director, general_manager, standard_author,
    team, workshop (the department itself), or any role the directory names.
    """

    role: Annotated[str, Field(min_length=1, max_length=60)]
    amount: Amount | None = None  # per time / per piece
    serious_amount: Amount | None = None  # 情节严重 (4.3.1.3)
    points: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    # The payer's amount divided among roles, e.g. {department_head: 60, director: 40}.
    split: dict[str, Percent] | None = None

    @model_validator(mode="after")
    def _split_sums_to_100(self) -> Self:
        if self.split is not None:
            total = sum(self.split.values(), Decimal(0))
            if total != 100:
                raise ValueError(f"split of {self.role} must sum to 100 %, got {total}")
        return self


class Bracket(_Strict):
    up_to: Amount | None = None  # the last bracket has no upper bound
    rate: Coefficient


class CoefficientTable(_Strict):
    """fine = compensation × coefficient, by accident class (seed 000 §4.2.2) and payer role."""

    source: str
    illustrative: bool = False
    applies_to: Literal["workshop_and_managers", "qc_and_quality"]
    classes: dict[AccidentClass, dict[str, Coefficient]]


class Rule(_Strict):
    title: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]  # the clause, e.g. "seed 000 §5.2.3.1"
    kind: Kind
    payers: list[Payer] = Field(default_factory=list)
    exempt: list[ProductStage] = Field(default_factory=list)
    # Process penalties: the SLA milestone whose breach (`sla.breached`) triggers the rule.
    on_breach: str | None = None
    # Applied to every determination with a loss, without a finding naming it (4.3.3.2).
    automatic: bool = False
    ledger: PointsLedger | None = None  # points rules only
    brackets: list[Bracket] = Field(default_factory=list)  # tiered rules only
    cancels_commission: bool = False  # 002-2.6: the deal's commission is cancelled
    coefficients: list[CoefficientTable] = Field(default_factory=list)  # loss_coefficient only
    qc_roles: list[str] = Field(default_factory=list)  # party roles judged by the QC table

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        k = self.kind
        if k in (Kind.PER_OCCURRENCE, Kind.PER_PIECE) and (
            not self.payers or any(p.amount is None for p in self.payers)
        ):
            raise ValueError(f"a {k} rule needs payers with an amount")
        if k is Kind.POINTS and (self.ledger is None or not self.payers or any(p.points is None for p in self.payers)):
            raise ValueError("a points rule needs a ledger and payers with points")
        if k is Kind.TIERED:
            if not self.brackets or self.brackets[-1].up_to is not None:
                raise ValueError("a tiered rule needs brackets, the last without up_to")
            bounds = [b.up_to for b in self.brackets[:-1] if b.up_to is not None]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                raise ValueError("tiered brackets are listed from the lowest bound up")
            if not self.payers:
                raise ValueError("a tiered rule needs a payer")
        if k is Kind.LOSS_COEFFICIENT and not self.coefficients:
            raise ValueError("a loss_coefficient rule needs its coefficient tables")
        if k is not Kind.LOSS_COEFFICIENT and (self.coefficients or self.automatic):
            raise ValueError("coefficients and automatic belong to loss_coefficient rules")
        return self

    @property
    def illustrative(self) -> bool:
        return any(t.illustrative for t in self.coefficients)


class RuleTable(_Strict):
    """One version of a factory's rule table, in force from `effective_from` (local date)."""

    effective_from: dt.date
    source: str = ""
    rules: dict[Annotated[str, Field(min_length=1, max_length=40)], Rule]


class Rounding(_Strict):
    quantum: Decimal = Decimal("0.01")  # to the fen (分)
    mode: Literal["half_up", "half_even", "down"] = "half_up"

    def __call__(self, amount: Decimal) -> Decimal:
        mode = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}[self.mode]
        return amount.quantize(self.quantum, rounding=mode)


class CycleStep(_Strict):
    day: int = Field(ge=1, le=28)  # by this day of the following month
    source: str


class MonthlyCycle(_Strict):
    """Seed 000 §4.2.2: summary by the 15th, workshop proposal by the 18th, approval by the 20th."""

    summary: CycleStep
    workshop_proposal: CycleStep
    approval: CycleStep

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if not self.summary.day <= self.workshop_proposal.day <= self.approval.day:
            raise ValueError("the monthly cycle's days run summary <= workshop_proposal <= approval")
        return self


class Approvers(_Strict):
    """Roles (of the suite's tokens) that take the workflow's decisions."""

    approve: str = "production_operations"  # 生产运营部部长签准 (seed 000 §4.2.2)
    decide_appeal: str = "general_manager"  # 向总经理申诉 (seed 002 篇二 §四.9)


class PenaltyPolicy(_Strict):
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    rounding: Rounding = Field(default_factory=Rounding)
    approvers: Approvers = Field(default_factory=Approvers)
    monthly_cycle: MonthlyCycle
    rule_tables: dict[Annotated[str, Field(min_length=1, max_length=40)], RuleTable] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _distinct_dates(self) -> Self:
        dates = [t.effective_from for t in self.rule_tables.values()]
        if len(set(dates)) != len(dates):
            raise ValueError("two rule table versions take effect on the same date")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def table_at(self, moment: dt.datetime) -> tuple[str, RuleTable]:
        """The version in force at `moment` (the factory's local date)."""
        day = moment.astimezone(self.zone).date()
        in_force = [(t.effective_from, v, t) for v, t in self.rule_tables.items() if t.effective_from <= day]
        if not in_force:
            first = min(t.effective_from for t in self.rule_tables.values())
            raise LookupError(f"no rule table in force on {day} (the first takes effect {first})")
        _, version, table = max(in_force, key=lambda x: x[0])
        return version, table

    @property
    def illustrative_rules(self) -> list[str]:
        """Codes of rules still running on illustrative values, in any version."""
        return sorted({code for t in self.rule_tables.values() for code, r in t.rules.items() if r.illustrative})
