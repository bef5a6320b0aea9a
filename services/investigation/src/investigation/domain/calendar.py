"""A factory's working-time calendar, for deadlines counted in working time.

DOMAIN.md §3 "Deadlines": the seeds count in calendar hours ("24小时内", "5日内"), but a factory
may count a milestone in working time on its own calendar: working hours, Chinese statutory
holidays and make-up working days (调休) from the maintained `holidays` package, overridable in
the policy file. Pure: no I/O beyond the package's bundled data.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DAY = timedelta(days=1)
# No real calendar has a year of consecutive days off: past this the policy leaves no working
# day (e.g. every weekday is an extra holiday), and counting would never end.
_MAX_DAYS_OFF_IN_A_ROW = 366


def _default_working_hours() -> list[tuple[time, time]]:
    return [(time(8), time(12)), (time(13), time(17))]


def _reject_numbers(value: object, what: str, hint: str) -> None:
    # Unquoted YAML reads 13:00 as the base-60 number 780 and pydantic would then take it as
    # seconds (00:13 UTC): refuse numbers instead of silently shifting a factory's hours.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is a number: {hint}")


class WorkingCalendarPolicy(BaseModel):
    """The `calendar` section of a factory's investigation policy.

    `working_hours` are local wall-clock periods in `timezone`; an end of 00:00 means the
    midnight that ends the day (for a shift running until midnight). Days are decided by
    `WorkingCalendar.is_working_day`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Shanghai"
    working_hours: list[tuple[time, time]] = Field(default_factory=_default_working_hours)
    weekend: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: [5, 6])  # Monday=0
    holiday_source: Literal["china", "none"] = "china"
    extra_holidays: list[date] = Field(default_factory=list)  # the factory's own days off
    extra_working_days: list[date] = Field(default_factory=list)  # make-up days the package lacks
    removed_holidays: list[date] = Field(default_factory=list)  # package days the factory ignores

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as 'Asia/Shanghai'") from None
        return value

    @field_validator("working_hours", mode="before")
    @classmethod
    def _quoted_times(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            for period in value:
                if isinstance(period, list | tuple):
                    for moment in period:
                        _reject_numbers(moment, "time", "quote it, '13:00' (unquoted YAML reads 13:00 as 780)")
        return value

    @field_validator("extra_holidays", "extra_working_days", "removed_holidays", mode="before")
    @classmethod
    def _quoted_dates(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            for day in value:
                _reject_numbers(day, "date", "write it as YYYY-MM-DD")
        return value

    @field_validator("working_hours")
    @classmethod
    def _valid_periods(cls, value: list[tuple[time, time]]) -> list[tuple[time, time]]:
        if not value:
            raise ValueError("at least one working period is needed, e.g. [['08:00', '17:00']]")
        previous_end: timedelta | None = None
        for start, end in value:
            label = f"{start:%H:%M}-{end:%H:%M}"
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError(f"period {label}: give local times without an offset (see timezone)")
            begin, finish = _offset(start), _end_offset(end)
            if begin >= finish:
                raise ValueError(
                    f"period {label}: the start must be before the end; a shift past midnight is two "
                    "periods, e.g. ['22:00', '00:00'] and ['00:00', '06:00']"
                )
            if previous_end is not None and begin < previous_end:
                raise ValueError(f"period {label} overlaps or is out of order: list the periods in time order")
            previous_end = finish
        return value

    @field_validator("weekend")
    @classmethod
    def _valid_weekend(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"weekend {value} repeats a day")
        if len(value) == 7:
            raise ValueError("weekend covers all seven days: no day would ever be a working day")
        return value

    @model_validator(mode="after")
    def _consistent_overrides(self) -> Self:
        both = sorted(set(self.extra_holidays) & set(self.extra_working_days))
        if both:
            days = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"extra_holidays and extra_working_days both list {days}")
        both = sorted(set(self.extra_holidays) & set(self.removed_holidays))
        if both:
            days = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"extra_holidays and removed_holidays both list {days}: is the factory off or not?")
        return self


def _offset(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond)


def _end_offset(moment: time) -> timedelta:
    return _DAY if moment == time(0) else _offset(moment)


@functools.lru_cache(maxsize=256)
def _china_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, make-up working days) of `year` in the package's China calendar.

    The package records a make-up day when it populates the year whose holiday it makes up for,
    which may be the year before or after (a Saturday in late December for a January break), so
    the neighbouring years are populated too.
    """
    china = holidays.country_holidays("CN", years=(year - 1, year, year + 1))
    days_off = frozenset(d for d in china if d.year == year)
    make_up = frozenset(d for d in china.weekend_workdays if d.year == year)
    return days_off, make_up


def _duration(hours: float | Decimal | timedelta) -> timedelta:
    if isinstance(hours, timedelta):
        duration = hours
    elif isinstance(hours, Decimal):
        # Exact to the microsecond: float(Decimal) could drift on long durations.
        duration = timedelta(microseconds=int((hours * 3_600_000_000).to_integral_value()))
    else:
        duration = timedelta(hours=hours)
    if duration < timedelta(0):
        raise ValueError(f"a duration of working time cannot be negative: {hours}")
    return duration


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class WorkingCalendar:
    """Working days and working time of one factory, from its `WorkingCalendarPolicy`."""

    def __init__(self, policy: WorkingCalendarPolicy | None = None) -> None:
        self.policy = policy if policy is not None else WorkingCalendarPolicy()
        self._zone = ZoneInfo(self.policy.timezone)
        self._periods = tuple((_offset(s), _end_offset(e)) for s, e in self.policy.working_hours)
        self._weekend = frozenset(self.policy.weekend)
        self._extra_holidays = frozenset(self.policy.extra_holidays)
        self._extra_working_days = frozenset(self.policy.extra_working_days)
        self._removed_holidays = frozenset(self.policy.removed_holidays)
        self._china = self.policy.holiday_source == "china"

    def is_working_day(self, day: date) -> bool:
        """Whether the factory works on `day` (a local date), the factory's overrides first."""
        if day in self._extra_working_days:
            return True
        if day in self._extra_holidays:
            return False
        if self._china and day not in self._removed_holidays:
            days_off, make_up = _china_year(day.year)
            if day in days_off:
                return False
            if day in make_up:
                return True
        return day.weekday() not in self._weekend

    def add(self, start: datetime, hours: float | Decimal | timedelta) -> datetime:
        """The UTC moment when `hours` of working time have elapsed after `start`.

        Time before the first working period counts from its start; a duration that ends exactly
        at a period's end returns that end (a 4 h deadline from 08:00 is 12:00, not 13:00).
        """
        remaining = _duration(hours)
        current = _aware(start, "start")
        for begin, end in self._periods_from(current):
            begin = max(begin, current)
            available = end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _periods_from never ends")  # pragma: no cover

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a` (e.g. how late a reply was)."""
        first, last = _aware(a, "a"), _aware(b, "b")
        if last < first:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        for begin, end in self._periods_from(first, until=last):
            if begin >= last:
                break
            total += min(end, last) - max(begin, first)
        return total

    def _periods_from(self, moment: datetime, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """The UTC working periods that end after `moment`, in order, up to the day of `until`.

        One step per day, days off skipped at once; the periods are local wall-clock times, so a
        daylight-saving change keeps 08:00 at 08:00.
        """
        day = moment.astimezone(self._zone).date()
        days_off_in_a_row = 0
        while True:
            midnight = datetime.combine(day, time(0), tzinfo=self._zone)
            if until is not None and midnight >= until:
                return
            if self.is_working_day(day):
                days_off_in_a_row = 0
                for begin_offset, end_offset in self._periods:
                    # Wall-clock arithmetic on the local midnight, then to UTC.
                    begin = (midnight + begin_offset).astimezone(UTC)
                    end = (midnight + end_offset).astimezone(UTC)
                    if end > moment and end > begin:
                        yield begin, end
            else:
                days_off_in_a_row += 1
                if until is None and days_off_in_a_row > _MAX_DAYS_OFF_IN_A_ROW:
                    raise ValueError(
                        f"no working day in the {_MAX_DAYS_OFF_IN_A_ROW} days before {day.isoformat()}: "
                        "check the calendar policy's extra_holidays"
                    )
            day += _DAY
