"""Complaint numbers: factory + year + month + serial, restarting monthly
(DOMAIN.md §2; seed 002 (八), seed 000 第八条)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.domain.model import complaint_number, numbering_period
from intake.domain.policy import IntakePolicy

POLICY = IntakePolicy(timezone="Asia/Shanghai", serial_digits=4, duplicate_window_days=30)


def test_number_reads_factory_year_month_serial() -> None:
    # DOMAIN.md §2 example: F01-2611-0007 = factory F01, 2026-11, 7th complaint of that month
    period = numbering_period(datetime(2026, 11, 21, 8, 0, tzinfo=UTC), POLICY)
    assert complaint_number("F01", period, 7, POLICY) == "F01-2611-0007"


def test_month_is_the_factory_local_month() -> None:
    # 16:30 UTC on 30 November is already 1 December in Shanghai: December's numbering.
    assert numbering_period(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), POLICY) == "2612"
    assert numbering_period(datetime(2026, 11, 30, 15, 59, tzinfo=UTC), POLICY) == "2611"


def test_serials_past_the_padding_still_unique() -> None:
    assert complaint_number("F01", "2611", 12345, POLICY) == "F01-2611-12345"


def test_naive_time_and_zero_serial_refused() -> None:
    with pytest.raises(ValueError):
        numbering_period(datetime(2026, 11, 1), POLICY)
    with pytest.raises(ValueError):
        complaint_number("F01", "2611", 0, POLICY)


def test_unknown_time_zone_refused_on_load() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        IntakePolicy(timezone="Mars/Olympus", serial_digits=4, duplicate_window_days=30)
