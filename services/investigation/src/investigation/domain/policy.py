"""The part of a factory's policy that investigation applies (section `investigation`).

Everything a quality engineer may want to change per factory is here, validated on load:
deadlines and how they count (calendar or working time), who is dispatched on site per
severity, the default responsibility splits, the accident classes by loss, the dispute
window and the CAPA closure rule. The values shipped in `deploy/policies/default.yaml` are the
seeds' (DOMAIN.md §3); each names its clause.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from investigation.domain.calendar import WorkingCalendarPolicy


class Anchor(StrEnum):
    """The moment a deadline counts from."""

    REGISTERED = "registered"  # complaint numbered by intake
    RECEIVED = "received"  # complaint received from the customer
    TRIAGED = "triaged"  # QE confirmed and classified the complaint
    ONSITE_ARRIVAL = "onsite_arrival"  # investigator arrived on site
    ONSITE_RETURN = "onsite_return"  # investigator back at the company
    RESPONSIBILITY = "responsibility"  # responsibility determined


class CloseBasis(StrEnum):
    PROVINCE = "province"  # in / out of province (seed 000 §4.2.1)
    REGION = "region"  # domestic / foreign (seed 002 (十))


class Counting(StrEnum):
    CALENDAR = "calendar"  # the seeds' default: "24小时内", "5日内"
    WORKING = "working"  # working time on the factory's calendar (holidays, 调休)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeadlineRule(_Strict):
    hours: Decimal = Field(gt=0, le=24 * 365)
    anchor: Anchor
    source: str = Field(min_length=1)
    counting: Counting = Counting.CALENDAR

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=float(self.hours * 3600))


REQUIRED_MILESTONES = (
    "first_response",
    "handling_proposal",
    "customer_reply",
    "customer_reply_latest",
    "preliminary_report",
    "close_in_province",
    "close_out_of_province",
    "close_domestic",
    "close_foreign",
    "onsite_sheet_return",
    "onsite_work_report",
    "feedback_slip",
    "feedback_slip_difficult",
    "process_abnormality_reply",
    "hazardous_substance_reply",
    "workshop_training",
)


class QcCondition(_Strict):
    """The QC facts a split rule applies to; a fact left out matches either answer."""

    measured: bool | None = None  # 经品管实测实量
    visible_at_once: bool | None = None  # 一眼可见 (缺棱掉角, 露筋, 污染…)
    qc_log_record: bool | None = None  # 质检日志有记录
    crack: Literal["none", "seen_in_factory", "found_outside"] | None = None  # 贯穿裂缝


class SplitRule(_Strict):
    """One row of the default responsibility split (DOMAIN.md §3.5): situation -> role shares."""

    situation: str = Field(min_length=1)
    when: QcCondition
    shares: dict[str, Decimal] = Field(default_factory=dict)  # role -> percent; empty: decided by discussion
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sum_to_100(self) -> Self:
        if self.shares:
            if any(share <= 0 for share in self.shares.values()):
                raise ValueError(f"split rule {self.situation}: every share is positive")
            total = sum(self.shares.values(), Decimal(0))
            if total != 100:
                raise ValueError(f"split rule {self.situation}: shares sum to {total}, not 100")
        return self


class LossClassRule(_Strict):
    """An accident class by loss (seed 000 品質事故處理管理規定 §5.2), checked from the top."""

    name: Literal["extraordinary", "major", "serious", "general"]
    min_loss: Decimal = Field(ge=0)  # CNY, inclusive
    or_when: list[Literal["customer_may_end", "reputation_severe", "image_serious"]] = Field(default_factory=list)
    source: str = Field(min_length=1)
    illustrative: bool = False  # the seed does not print this threshold: the factory must set its own


class InvestigationPolicy(_Strict):
    close_basis: CloseBasis
    deadlines: dict[str, DeadlineRule]
    calendar: WorkingCalendarPolicy = Field(default_factory=WorkingCalendarPolicy)
    # Who is dispatched on site per severity (seed 000 §4.1.1 外派依据; the table is the factory's).
    dispatch: dict[Literal["urgent", "critical", "major", "moderate", "minor"], list[str]] = Field(default_factory=dict)
    # Objection or market-cause claim within this many hours (seed 000 §4.3.3.2.3).
    dispute_window_hours: Decimal = Field(default=Decimal(2), gt=0, le=24 * 30)
    # CAPA closure: this many consecutive lots without the defect (seed 001 "连续三批").
    clean_lots_to_close: int = Field(default=3, ge=1, le=100)
    split_rules: list[SplitRule] = Field(default_factory=list)
    loss_classes: list[LossClassRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        missing = [m for m in REQUIRED_MILESTONES if m not in self.deadlines]
        if missing:
            raise ValueError(f"deadlines missing: {', '.join(missing)}")
        severities = {"urgent", "critical", "major", "moderate", "minor"}
        if self.dispatch and set(self.dispatch) != severities:
            raise ValueError(f"dispatch needs every severity: {', '.join(sorted(severities - set(self.dispatch)))}")
        thresholds = [rule.min_loss for rule in self.loss_classes]
        if thresholds != sorted(thresholds, reverse=True):
            raise ValueError("loss_classes are listed from the highest threshold down")
        if self.loss_classes and self.loss_classes[-1].min_loss != 0:
            raise ValueError("the last loss class starts at 0 so that every loss has a class")
        return self

    @property
    def dispute_window(self) -> timedelta:
        return timedelta(seconds=float(self.dispute_window_hours * 3600))
