"""The working-time calendar (DOMAIN.md §3 "Deadlines").

"The seeds count deadlines in calendar hours and days ("24小时内", "5日内"). A factory may choose
working time instead, per milestone, on its own calendar: working hours, Chinese statutory
holidays and make-up working days (调休), taken from a maintained holiday package and overridable
in the policy file."

Unless a test says otherwise the calendar is the default one: Asia/Shanghai (UTC+8, no daylight
saving), 08:00-12:00 and 13:00-17:00, Saturday and Sunday off, China's holidays and 调休 from the
`holidays` package. Every expected moment is worked out by hand in the test's comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from investigation.domain.calendar import WorkingCalendar, WorkingCalendarPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT = WorkingCalendar()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in the factory's time zone (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(**policy: Any) -> WorkingCalendar:
    return WorkingCalendar(WorkingCalendarPolicy.model_validate(policy))


# --- calendar hours vs working time ------------------------------------------------------------


def test_working_time_counts_only_working_hours_where_calendar_time_counts_every_hour() -> None:
    """§3 Deadlines: the seeds' "24小时内" is 24 calendar hours; counted in working time it is three
    working days of 8 h. Monday 2026-03-02 09:00: Mon 7 h (09-12, 13-17), Tue 8 h, Wed 8 h = 23 h,
    the 24th ends Thursday 09:00."""
    start = local(2026, 3, 2, 9)
    assert start + timedelta(hours=24) == local(2026, 3, 3, 9)  # calendar counting: Tuesday 09:00
    assert DEFAULT.add(start, 24) == local(2026, 3, 5, 9) == utc(2026, 3, 5, 1)


def test_a_deadline_started_on_friday_afternoon_skips_the_weekend() -> None:
    """§3 Deadlines: Saturday and Sunday are not working time. Friday 2026-03-06 15:00 + 24 working
    hours: Fri 2 h, Mon 8 h, Tue 8 h = 18 h, Wed 08-12 (22 h) and 13-15 (24 h)."""
    assert DEFAULT.add(local(2026, 3, 6, 15), 24) == local(2026, 3, 11, 15) == utc(2026, 3, 11, 7)


def test_the_result_is_utc_and_a_start_in_any_zone_is_the_same_instant() -> None:
    """Timestamps are stored in UTC; the factory's working hours are its local ones (Asia/Shanghai)."""
    start_utc = utc(2026, 3, 2, 0)  # Monday 08:00 in Shanghai
    start_berlin = start_utc.astimezone(BERLIN)  # the same instant, Sunday 01:00 in Berlin
    for start in (start_utc, start_berlin):
        end = DEFAULT.add(start, 1)
        assert end == utc(2026, 3, 2, 1)
        assert end.tzinfo is UTC


def test_the_working_day_is_the_local_one_not_the_utc_one() -> None:
    """Sunday 2026-03-01 23:00 UTC is Monday 07:00 in Shanghai: counting starts Monday 08:00 local."""
    assert DEFAULT.add(utc(2026, 3, 1, 23), 1) == utc(2026, 3, 2, 1)  # Monday 09:00 local


def test_a_late_shift_west_of_utc_belongs_to_its_local_day() -> None:
    """Working days are local days: in Mexico City (UTC-6) Monday 2026-03-02 23:00 is already
    Tuesday 05:00 UTC, yet it is in Monday's 22:00-24:00 shift: half an hour ends Monday 23:30."""
    evening = calendar(timezone="America/Mexico_City", working_hours=[["22:00", "00:00"]], holiday_source="none")
    assert evening.add(utc(2026, 3, 3, 5), 0.5) == utc(2026, 3, 3, 5, 30)


def test_hours_may_be_a_decimal_a_float_or_a_timedelta() -> None:
    """The policy holds hours as Decimal (DeadlineRule.hours); 1.5 h from Monday 08:00 is 09:30."""
    start = local(2026, 3, 2, 8)
    for hours in (Decimal("1.5"), 1.5, timedelta(minutes=90)):
        assert DEFAULT.add(start, hours) == local(2026, 3, 2, 9, 30)


def test_a_naive_start_or_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.add(datetime(2026, 3, 2, 8), 1)
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add(local(2026, 3, 2, 8), -1)


# --- start outside working time, the lunch break -----------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        (local(2026, 3, 2, 6, 30), 2, local(2026, 3, 2, 10)),  # before opening: from 08:00
        (local(2026, 3, 2, 17, 30), 2, local(2026, 3, 3, 10)),  # after closing: from Tuesday 08:00
        (local(2026, 3, 7, 10), 2, local(2026, 3, 9, 10)),  # on a Saturday: from Monday 08:00
        (local(2026, 3, 2, 8), 4, local(2026, 3, 2, 12)),  # ends at the period's end, not after lunch
        (local(2026, 3, 2, 8), 0, local(2026, 3, 2, 8)),
        (local(2026, 3, 2, 6), 0, local(2026, 3, 2, 8)),  # nothing to count: the next working moment
    ],
    ids=["before-opening", "after-closing", "on-saturday", "period-end", "zero", "zero-outside"],
)
def test_a_start_outside_working_time_counts_from_the_next_working_period(
    start: datetime, hours: int, end: datetime
) -> None:
    """§3 Deadlines: only working time counts, so time before the next working period is free."""
    assert DEFAULT.add(start, hours) == end


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        (local(2026, 3, 2, 11), 2, local(2026, 3, 2, 14)),  # 11-12, then 13-14
        (local(2026, 3, 2, 12, 30), 1, local(2026, 3, 2, 14)),  # started at lunch: from 13:00
        (local(2026, 3, 2, 12), 1, local(2026, 3, 2, 14)),  # started as lunch begins
        (local(2026, 3, 2, 16), 2, local(2026, 3, 3, 9)),  # 16-17, then Tuesday 08-09
    ],
)
def test_the_lunch_break_and_the_night_are_not_working_time(start: datetime, hours: int, end: datetime) -> None:
    """§3 Deadlines: working hours 08:00-12:00 and 13:00-17:00 by default."""
    assert DEFAULT.add(start, hours) == end


# --- Chinese statutory holidays and 调休 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 4), True),  # an ordinary Wednesday
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 1, 1), False),  # 元旦
        (date(2026, 1, 2), False),  # Friday off, made up on Sunday 01-04
        (date(2026, 1, 4), True),  # 调休: Sunday worked
        (date(2026, 2, 14), True),  # 调休: Saturday before the Spring Festival worked
        (date(2026, 2, 17), False),  # 春节
        (date(2026, 2, 23), False),  # Monday off, made up on Saturday 02-28
        (date(2026, 2, 28), True),  # 调休: Saturday worked
        (date(2026, 9, 20), True),  # 调休: Sunday before National Day worked
        (date(2026, 10, 1), False),  # 国庆节
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # 调休: Saturday after National Day worked
        (date(2026, 10, 11), False),  # the Sunday after it is an ordinary Sunday
    ],
)
def test_the_2026_state_council_calendar(day: date, working: bool) -> None:
    """§3 Deadlines: Chinese statutory holidays are days off and make-up days (调休) are working days,
    from the holiday package (2026: 国务院办公厅 notice of November 2025)."""
    assert DEFAULT.is_working_day(day) is working


def test_a_make_up_day_in_the_year_before_its_holiday() -> None:
    """§3 Deadlines, 调休: for New Year 2012 Tuesday 01-03 was off and Saturday 2011-12-31 worked;
    the make-up day lies in the year before the holiday it pays for."""
    assert DEFAULT.is_working_day(date(2011, 12, 31))
    assert not DEFAULT.is_working_day(date(2012, 1, 3))


def test_national_day_is_skipped_and_the_make_up_saturday_counts() -> None:
    """§3 Deadlines, 调休: National Day 2026 is Oct 1-7 off and Saturday Oct 10 a working day.
    Wednesday 09-30 16:00 + 24 h: Sep 30 1 h, Oct 8 8 h, Oct 9 8 h = 17 h, Saturday Oct 10 08-12
    (21 h) and 13-16 (24 h). Without the 调休 it would be Monday Oct 12."""
    assert DEFAULT.add(local(2026, 9, 30, 16), 24) == local(2026, 10, 10, 16) == utc(2026, 10, 10, 8)


def test_the_make_up_sunday_before_national_day_counts() -> None:
    """§3 Deadlines, 调休: Sunday 2026-09-20 is worked. Friday 09-18 13:00 + 16 h: Fri 4 h, Sunday 8 h
    (12 h), Monday 08-12 (16 h)."""
    assert DEFAULT.add(local(2026, 9, 18, 13), 16) == local(2026, 9, 21, 12)


def test_the_spring_festival_is_skipped_and_its_make_up_saturday_counts() -> None:
    """§3 Deadlines, 调休: Spring Festival 2026 is Feb 15-23 off, Saturday Feb 14 worked. Friday 02-13
    09:00 + 24 h: Fri 7 h, Sat 8 h (15 h), Tue 02-24 8 h (23 h), Wed 02-25 08-09 (24 h)."""
    assert DEFAULT.add(local(2026, 2, 13, 9), 24) == local(2026, 2, 25, 9) == utc(2026, 2, 25, 1)


def test_a_make_up_day_across_the_new_year() -> None:
    """§3 Deadlines, 调休: 2026-01-01/02 off, Saturday 01-03 off, Sunday 01-04 worked. Wednesday
    2025-12-31 16:00 + 8 h: Dec 31 1 h, Sunday Jan 4 08-12 (5 h) and 13-16 (8 h)."""
    assert DEFAULT.add(local(2025, 12, 31, 16), 8) == local(2026, 1, 4, 16)


def test_a_start_on_a_holiday_counts_from_the_first_working_day_after_it() -> None:
    """§3 Deadlines: Saturday 2026-10-03 is within National Day; counting starts Thursday Oct 8."""
    assert DEFAULT.add(local(2026, 10, 3, 10), 1) == local(2026, 10, 8, 9)


# --- the factory's overrides in the policy file ------------------------------------------------


def test_an_extra_holiday_of_the_factory_is_a_day_off() -> None:
    """§3 Deadlines, overridable in the policy file: the factory closes Friday 2026-03-06.
    Thursday 16:00 + 8 h: Thu 1 h, Monday 08-12 (5 h) and 13-16 (8 h) instead of Friday 16:00."""
    assert DEFAULT.add(local(2026, 3, 5, 16), 8) == local(2026, 3, 6, 16)
    factory = calendar(extra_holidays=["2026-03-06"])
    assert factory.add(local(2026, 3, 5, 16), 8) == local(2026, 3, 9, 16)


def test_an_extra_working_day_of_the_factory_counts() -> None:
    """§3 Deadlines: a make-up day the package does not know: the factory works Saturday 2026-03-07.
    Friday 16:00 + 8 h: Fri 1 h, Saturday 08-12 (5 h) and 13-16 (8 h)."""
    factory = calendar(extra_working_days=["2026-03-07"])
    assert factory.add(local(2026, 3, 6, 16), 8) == local(2026, 3, 7, 16)


def test_overrides_come_before_the_package() -> None:
    """§3 Deadlines: the factory's own days decide first, then the package, then the weekend."""
    factory = calendar(
        extra_working_days=["2026-10-02"],  # works on a statutory holiday
        extra_holidays=["2026-10-10"],  # does not work the package's make-up Saturday
        removed_holidays=["2026-10-01", "2026-09-20"],  # ignores the package on these days
    )
    assert factory.is_working_day(date(2026, 10, 2))
    assert not factory.is_working_day(date(2026, 10, 10))
    assert factory.is_working_day(date(2026, 10, 1))  # a plain Thursday for this factory
    assert not factory.is_working_day(date(2026, 9, 20))  # a plain Sunday: the 调休 is removed too
    assert not factory.is_working_day(date(2026, 10, 3))  # the rest of the holiday still holds


def test_a_removed_holiday_is_worked() -> None:
    """§3 Deadlines: the factory works National Day itself (Oct 1, a Thursday), not the rest.
    Wednesday 09-30 16:00 + 9 h: Sep 30 1 h, Oct 1 8 h."""
    factory = calendar(removed_holidays=["2026-10-01"])
    assert factory.add(local(2026, 9, 30, 16), 9) == local(2026, 10, 1, 17)


def test_without_the_package_only_the_weekend_and_the_factory_days_are_off() -> None:
    """§3 Deadlines: holiday_source "none" for a factory outside China's statutory calendar."""
    factory = calendar(holiday_source="none")
    assert factory.is_working_day(date(2026, 10, 1))
    assert not factory.is_working_day(date(2026, 10, 10))


def test_a_six_day_week() -> None:
    """§3 Deadlines: the factory's own weekend (Sunday only). Saturday 2026-03-07 10:00 + 8 h:
    Sat 6 h (10-12, 13-17), Monday 08-10 (8 h)."""
    factory = calendar(weekend=[6])
    assert factory.add(local(2026, 3, 7, 10), 8) == local(2026, 3, 9, 10)


def test_a_shift_until_midnight_and_a_round_the_clock_factory() -> None:
    """§3 Deadlines, working hours: an end of 00:00 is the midnight that ends the day."""
    nights = calendar(working_hours=[["00:00", "06:00"], ["22:00", "00:00"]], holiday_source="none")
    assert nights.add(local(2026, 3, 2, 23), 2) == local(2026, 3, 3, 1)  # Mon 23-24, Tue 00-01
    always = calendar(working_hours=[["00:00", "00:00"]], weekend=[], holiday_source="none")
    start = utc(2026, 3, 2, 5, 17)
    assert always.add(start, 100) == start + timedelta(hours=100)


def test_working_hours_in_another_time_zone_follow_its_daylight_saving() -> None:
    """§3 Deadlines: the working hours are the factory's wall clock. Berlin moves to summer time on
    Sunday 2026-03-29: Friday 03-27 16:00 CET (15:00 UTC) + 2 h is Fri 1 h and Monday 08-09 CEST,
    07:00 UTC (it would be 08:00 UTC had the clock not moved)."""
    berlin = calendar(timezone="Europe/Berlin", holiday_source="none")
    assert berlin.add(utc(2026, 3, 27, 15), 2) == utc(2026, 3, 30, 7)
    assert berlin.add(datetime(2026, 3, 2, 8, tzinfo=BERLIN), 8) == utc(2026, 3, 2, 16)  # 17:00 CET
    # On the day the clock moves (02:00 CET -> 03:00 CEST) 08:00 is already summer time: 06:00 UTC.
    every_day = calendar(timezone="Europe/Berlin", weekend=[], holiday_source="none")
    assert every_day.add(utc(2026, 3, 29, 0), 1) == utc(2026, 3, 29, 7)


# --- long durations ----------------------------------------------------------------------------


def test_a_year_of_working_hours_is_computed_by_whole_days() -> None:
    """§3 Deadlines: up to a year (the policy's limit is 24 x 365 h). Without holidays, 2080 h are
    260 working days, exactly 52 weeks of five days: Monday 2026-03-02 08:00 ends on the Friday of
    the 52nd week, 2027-02-26 at 17:00."""
    plain = calendar(holiday_source="none")
    start = local(2026, 3, 2, 8)
    assert plain.add(start, 2080) == local(2027, 2, 26, 17)
    assert plain.working_time_between(start, local(2027, 2, 26, 17)) == timedelta(hours=2080)


def test_the_longest_deadline_agrees_with_counting_hour_by_hour() -> None:
    """§3 Deadlines: 24 x 365 working hours on the Chinese calendar (holidays, 调休, several years),
    checked against a slow count of whole working hours on the same days."""
    hours = 24 * 365
    start = local(2026, 3, 2, 8)
    slot, counted = start, 0
    while counted < hours:  # one step per hour: the reference, not the implementation
        wall = slot.astimezone(SHANGHAI)
        if DEFAULT.is_working_day(wall.date()) and (8 <= wall.hour < 12 or 13 <= wall.hour < 17):
            counted += 1
        slot += timedelta(hours=1)
    end = DEFAULT.add(start, Decimal(hours))
    assert end == slot
    assert DEFAULT.working_time_between(start, end) == timedelta(hours=hours)


def test_a_calendar_without_any_working_day_is_reported_not_looped() -> None:
    """A policy whose extra holidays leave no working day for over a year cannot give a deadline."""
    closed = calendar(holiday_source="none", extra_holidays=[date(2026, 3, 1) + timedelta(days=n) for n in range(400)])
    with pytest.raises(ValueError, match="no working day"):
        closed.add(local(2026, 3, 2, 8), 1)
    assert closed.working_time_between(local(2026, 3, 2), local(2027, 3, 31)) == timedelta(0)  # 394 days off


# --- working time between two moments (on-time statistics) -------------------------------------


def test_working_time_between_two_moments() -> None:
    """§3 Deadlines: how much working time a milestone took. Friday 2026-03-06 15:00 to Monday
    10:00 is Fri 2 h and Mon 2 h; backwards it is negative; over National Day 2026 only Sep 30
    16-17 and Oct 8 08-09 count."""
    assert DEFAULT.working_time_between(local(2026, 3, 6, 15), local(2026, 3, 9, 10)) == timedelta(hours=4)
    assert DEFAULT.working_time_between(local(2026, 3, 9, 10), local(2026, 3, 6, 15)) == timedelta(hours=-4)
    assert DEFAULT.working_time_between(local(2026, 9, 30, 16), local(2026, 10, 8, 9)) == timedelta(hours=2)
    assert DEFAULT.working_time_between(local(2026, 3, 2, 12), local(2026, 3, 2, 13)) == timedelta(0)  # lunch


def test_adding_the_working_time_between_two_working_moments_gives_the_later_one() -> None:
    start = local(2026, 2, 13, 9)
    for later in (local(2026, 2, 14, 10), local(2026, 2, 25, 14, 30), local(2026, 10, 10, 16, 45)):
        assert DEFAULT.add(start, DEFAULT.working_time_between(start, later)) == later


# --- the policy file --------------------------------------------------------------------------


def test_the_defaults() -> None:
    """§3 Deadlines: Asia/Shanghai, 08:00-12:00 and 13:00-17:00, Saturday and Sunday, the package."""
    policy = WorkingCalendarPolicy()
    assert policy.timezone == "Asia/Shanghai"
    assert policy.working_hours == [(time(8), time(12)), (time(13), time(17))]
    assert policy.weekend == [5, 6]
    assert policy.holiday_source == "china"


def test_a_policy_file_section_with_quoted_times() -> None:
    """§3 Deadlines, overridable in the policy file (YAML)."""
    section = yaml.safe_load(
        """
        timezone: Asia/Shanghai
        working_hours: [["08:30", "12:00"], ["13:30", "17:30"]]
        weekend: [6]
        extra_holidays: [2026-03-06]
        extra_working_days: [2026-03-08]
        removed_holidays: [2026-10-01]
        """
    )
    policy = WorkingCalendarPolicy.model_validate(section)
    assert policy.working_hours == [(time(8, 30), time(12)), (time(13, 30), time(17, 30))]
    assert policy.extra_holidays == [date(2026, 3, 6)]
    factory = WorkingCalendar(policy)
    assert factory.add(local(2026, 3, 2, 8), 1) == local(2026, 3, 2, 9, 30)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ({"timezone": "Asia/Beijing"}, "timezone", "unknown time zone 'Asia/Beijing'"),
        ({"working_hours": []}, "working_hours", "at least one working period"),
        ({"working_hours": [["12:00", "08:00"]]}, "working_hours", "12:00-08:00: the start must be before the end"),
        (
            {"working_hours": [["08:00", "12:00"], ["11:00", "17:00"]]},
            "working_hours",
            "11:00-17:00 overlaps or is out of order",
        ),
        (
            {"working_hours": [["13:00", "17:00"], ["08:00", "12:00"]]},
            "working_hours",
            "08:00-12:00 overlaps or is out of order",
        ),
        ({"working_hours": [["08:00+08:00", "12:00"]]}, "working_hours", "without an offset"),
        ({"working_hours": [["8 o'clock", "12:00"]]}, "working_hours", "time"),
        ({"weekend": [7]}, "weekend", "less than or equal to 6"),
        ({"weekend": [5, 5]}, "weekend", "repeats a day"),
        ({"weekend": [0, 1, 2, 3, 4, 5, 6]}, "weekend", "no day would ever be a working day"),
        ({"holiday_source": "japan"}, "holiday_source", "'china' or 'none'"),
        ({"extra_holidays": ["2026-02-30"]}, "extra_holidays", "date"),
        ({"holidays": ["2026-10-01"]}, "holidays", "Extra inputs are not permitted"),
        (
            {"extra_holidays": ["2026-10-10"], "extra_working_days": ["2026-10-10"]},
            "",
            "extra_holidays and extra_working_days both list 2026-10-10",
        ),
        (
            {"extra_holidays": ["2026-10-09"], "removed_holidays": ["2026-10-09"]},
            "",
            "extra_holidays and removed_holidays both list 2026-10-09",
        ),
    ],
)
def test_an_invalid_policy_is_refused_with_a_clear_message(section: dict[str, Any], field: str, message: str) -> None:
    """§3 Deadlines: the calendar is the factory's, validated on load; the error names the field
    (or, for a contradiction between fields, both fields)."""
    with pytest.raises(ValidationError) as refused:
        WorkingCalendarPolicy.model_validate(section)
    assert message in str(refused.value)
    [error] = refused.value.errors()
    assert error["loc"][:1] == ((field,) if field else ())


def test_unquoted_yaml_times_are_refused_not_misread() -> None:
    """YAML 1.1 reads an unquoted 13:00 as the base-60 number 780, which pydantic would take as
    00:13 UTC: the policy must refuse it, not shift the factory's afternoon."""
    section = yaml.safe_load("working_hours: [[08:00, 12:00], [13:00, 17:00]]")
    assert section["working_hours"][1] == [780, 1020]
    with pytest.raises(ValidationError, match="quote it") as refused:
        WorkingCalendarPolicy.model_validate(section)
    assert refused.value.errors()[0]["loc"] == ("working_hours",)
