"""Deadlines of a case counted in working time (DOMAIN.md §3 "Deadlines").

"The seeds count deadlines in calendar hours and days ("24小时内", "5日内"). A factory may choose
working time instead, per milestone, on its own calendar: working hours, Chinese statutory
holidays and make-up working days (调休), taken from a maintained holiday package and overridable
in the policy file."

The policy here is F01's with `customer_reply` (seed 001 管制程序 §5.6.2, 24 h after receipt) counted
in working time; everything else stays calendar time. F01's calendar: Asia/Shanghai (UTC+8),
08:00-12:00 and 13:00-17:00, Saturday and Sunday off, China's holidays and 调休 from the `holidays`
package. 2026 in that package: Spring Festival Feb 15-23 off with Saturday Feb 14 and Saturday
Feb 28 worked; National Day Oct 1-7 off with Sunday Sep 20 and Saturday Oct 10 worked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import holidays
import pytest

from investigation.domain.model import Case, CaseState
from investigation.domain.policy import Counting, InvestigationPolicy
from tests.unit.investigation.case_builders import DAY, HOUR, complaint, policy, reply, triage_record


def working_policy(**calendar: Any) -> InvestigationPolicy:
    """F01's policy, `customer_reply` counted in working time (validated like a policy file)."""
    data = policy("F01").model_dump()
    data["deadlines"]["customer_reply"]["counting"] = "working"
    data["calendar"].update(calendar)
    return InvestigationPolicy.model_validate(data)


def open_case(received: datetime, pol: InvestigationPolicy) -> Case:
    facts = complaint(received_at=received, registered_at=received + HOUR)
    return Case.open(facts, pol, at=received + HOUR, by="system:/services/intake", reason="complaint.registered")


def due(case: Case, milestone: str, round: int | None = None) -> datetime:
    found = case.deadline(milestone, round)
    assert found is not None, f"no {milestone} deadline"
    return found.due_at


def test_the_package_knows_the_2026_days_used_below() -> None:
    """The expectations below rest on the package's 2026 China calendar (holidays and 调休)."""
    china = holidays.country_holidays("CN", years=2026)
    assert {date(2026, 10, d) for d in (1, 2, 3, 5, 6, 7)} <= set(china)
    assert {date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)} <= set(china)
    assert {date(2026, 2, 14), date(2026, 9, 20), date(2026, 10, 10)} <= set(china.weekend_workdays)


def test_the_policy_counts_only_the_customer_reply_in_working_time() -> None:
    pol = working_policy()
    assert pol.deadlines["customer_reply"].counting is Counting.WORKING
    assert pol.deadlines["customer_reply_latest"].counting is Counting.CALENDAR
    assert policy("F01").deadlines["customer_reply"].counting is Counting.CALENDAR  # the shipped one is untouched


def test_a_complaint_received_on_the_eve_of_national_day_is_due_after_the_holiday() -> None:
    """Received Wednesday 2026-09-30 16:00 in Shanghai (08:00 UTC). 24 working hours: Sep 30 16-17
    (1 h); Oct 1-7 off (holiday, Oct 4 a Sunday); Thu Oct 8 (9 h), Fri Oct 9 (17 h); Saturday Oct 10
    is a make-up working day (调休): 08-12 (21 h), 13-16 (24 h). Due Saturday Oct 10 16:00 local =
    08:00 UTC. The latest reply (48 h) stays calendar time: Oct 2 08:00 UTC, inside the holiday."""
    received = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)
    case = open_case(received, working_policy())
    assert due(case, "customer_reply") == datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
    assert due(case, "customer_reply_latest") == received + 2 * DAY
    assert due(case, "first_response") == received + HOUR + DAY  # calendar time (seed 001 §1.2.1)
    # in calendar time (the shipped policy) it would have been during the holiday
    assert due(open_case(received, policy("F01")), "customer_reply") == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def test_the_make_up_working_day_counts() -> None:
    """Received Friday 2026-02-13 16:00 in Shanghai (08:00 UTC), the eve of the Spring Festival break.
    Fri 16-17 (1 h); Saturday Feb 14 is a make-up working day (9 h); Feb 15 Sunday, Feb 16-20 and
    Feb 23 holidays, Feb 21-22 weekend; Tue Feb 24 (17 h); Wed Feb 25 08-12 (21 h), 13-16 (24 h).
    Due Wednesday Feb 25 16:00 local = 08:00 UTC. A factory that does not work that Saturday (an
    extra holiday in its policy) is due a day later, Thursday Feb 26 08:00 UTC."""
    received = datetime(2026, 2, 13, 8, 0, tzinfo=UTC)
    assert due(open_case(received, working_policy()), "customer_reply") == datetime(2026, 2, 25, 8, 0, tzinfo=UTC)
    without = working_policy(extra_holidays=[date(2026, 2, 14)])
    assert due(open_case(received, without), "customer_reply") == datetime(2026, 2, 26, 8, 0, tzinfo=UTC)


def test_the_sunday_make_up_day_before_national_day_counts() -> None:
    """Received Saturday 2026-09-19 10:00 in Shanghai (02:00 UTC): Saturday is off, Sunday Sep 20 is
    a make-up working day: 08-12, 13-17 (8 h); Mon Sep 21 (16 h); Tue Sep 22 (24 h at 17:00).
    Due Tuesday Sep 22 17:00 local = 09:00 UTC."""
    received = datetime(2026, 9, 19, 2, 0, tzinfo=UTC)
    assert due(open_case(received, working_policy()), "customer_reply") == datetime(2026, 9, 22, 9, 0, tzinfo=UTC)


def test_a_reopened_round_counts_its_customer_reply_in_working_time_too() -> None:
    """Seed 002 (九) 9 and DOMAIN.md §3 "Deadlines": round 2's customer reply counts from the
    reopening on the same calendar. Reopened Wednesday 2026-09-30 16:00 local: due Saturday
    Oct 10 16:00 local (08:00 UTC), as for a receipt at that moment."""
    pol = working_policy()
    case = open_case(datetime(2026, 9, 28, 2, 0, tzinfo=UTC), pol)
    case.triage(triage_record(at=datetime(2026, 9, 28, 3, 0, tzinfo=UTC), our_fault=False), pol)
    case.reply(reply(datetime(2026, 9, 28, 4, 0, tzinfo=UTC)))
    assert case.state is CaseState.REPLIED
    reopened_at = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)
    case.reopen(pol, at=reopened_at, by="user:cs-1", reason="the customer does not accept")
    assert due(case, "customer_reply", 2) == datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
    assert due(case, "customer_reply_latest", 2) == reopened_at + 2 * DAY


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Monday 2026-03-02 09:00 local: Mon 7 h, Tue 8 h, Wed 8 h (23 h), Thu 08-09: Thu 09:00 local
        (datetime(2026, 3, 2, 1, 0, tzinfo=UTC), datetime(2026, 3, 5, 1, 0, tzinfo=UTC)),
        # Friday 2026-03-06 20:00 local (after hours): Mon, Tue, Wed full days: Wed 17:00 local
        (datetime(2026, 3, 6, 12, 0, tzinfo=UTC), datetime(2026, 3, 11, 9, 0, tzinfo=UTC)),
    ],
)
def test_ordinary_weeks(received: datetime, expected: datetime) -> None:
    """DOMAIN.md §3 "Deadlines": 24 working hours are three working days of 8 h."""
    assert due(open_case(received, working_policy()), "customer_reply") == expected
    assert expected - received > timedelta(hours=24)
