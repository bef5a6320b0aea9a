"""The part of a factory's policy that intake applies (section `intake`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IntakePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The complaint month of the number is the factory's local month (seed 002 (八)).
    timezone: str = Field(description="IANA zone of the factory, e.g. Asia/Shanghai")
    serial_digits: int = Field(ge=3, le=8)
    # Same customer + order + part within this many days is a repeat (DOMAIN.md §2 intake checks).
    duplicate_window_days: int = Field(ge=0, le=3650)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
