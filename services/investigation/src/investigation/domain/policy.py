"""The part of a factory's policy that investigation applies (section `investigation`)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Anchor(StrEnum):
    """The moment a deadline counts from."""

    REGISTERED = "registered"  # complaint numbered by intake
    RECEIVED = "received"  # complaint received from the customer
    ONSITE_ARRIVAL = "onsite_arrival"  # investigator arrived on site
    RESPONSIBILITY = "responsibility"  # responsibility determined


class CloseBasis(StrEnum):
    PROVINCE = "province"  # in / out of province (seed 000 §4.2.1)
    REGION = "region"  # domestic / foreign (seed 002 (十))


class DeadlineRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(gt=0, le=24 * 365)
    anchor: Anchor
    source: str = Field(min_length=1)

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.hours)


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
)


class InvestigationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    close_basis: CloseBasis
    deadlines: dict[str, DeadlineRule]

    @model_validator(mode="after")
    def _complete(self) -> Self:
        missing = [m for m in REQUIRED_MILESTONES if m not in self.deadlines]
        if missing:
            raise ValueError(f"deadlines missing: {', '.join(missing)}")
        return self
