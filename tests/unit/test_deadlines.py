"""Deadlines of a new case from the factory policy (DOMAIN.md §3 "Deadlines")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cqm_shared.policy import PolicyBook
from investigation.domain.model import (
    Case,
    CaseState,
    ComplaintFacts,
    DeadlineState,
    Province,
    Region,
    opening_deadlines,
)
from investigation.domain.policy import InvestigationPolicy
from tests.conftest import POLICY_DIR

RECEIVED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
REGISTERED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policies() -> PolicyBook[InvestigationPolicy]:
    return PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)


def complaint(factory: str = "F01", request: dict[str, str] | None = None, **market: Any) -> ComplaintFacts:
    market = market or {"region": "domestic", "province": "in"}
    return ComplaintFacts(
        number=f"{factory}-2611-0001",
        factory=factory,
        registered_at=REGISTERED,
        received_at=RECEIVED,
        region=Region(market["region"]),
        province=Province(market["province"]) if "province" in market else None,
        phenomenon="crack",
        customer_company="A",
        part_number="P",
        request_kind=request["kind"] if request else None,
    )


def due(record: ComplaintFacts, policy: InvestigationPolicy) -> dict[str, datetime]:
    return {d.milestone: d.due_at for d in opening_deadlines(record, policy)}


def test_first_response_24h_after_registration(policies: PolicyBook[InvestigationPolicy]) -> None:
    # seed 001 §1.2.1: respond within 24 hours
    assert due(complaint(), policies.for_factory("F01"))["first_response"] == REGISTERED + timedelta(hours=24)


def test_handling_proposal_48h_after_receipt(policies: PolicyBook[InvestigationPolicy]) -> None:
    # seed 004 §3.2: quality proposes handling within 48 hours of receipt
    assert due(complaint(), policies.for_factory("F01"))["handling_proposal"] == RECEIVED + timedelta(hours=48)


def test_customer_reply_one_day_at_most_48h(policies: PolicyBook[InvestigationPolicy]) -> None:
    # seed 001 管制程序 §5.6.2: 客诉回复在一天内回复,最迟不超过48小时
    d = due(complaint(), policies.for_factory("F01"))
    assert d["customer_reply"] == RECEIVED + timedelta(days=1)
    assert d["customer_reply_latest"] == RECEIVED + timedelta(hours=48)


@pytest.mark.parametrize(
    "market, days",
    [
        ({"region": "domestic", "province": "in"}, 5),
        ({"region": "domestic", "province": "out"}, 15),
        ({"region": "foreign"}, 15),
        ({"region": "domestic"}, 5),  # unknown province: the stricter deadline
    ],
)
def test_close_in_or_out_of_province(
    policies: PolicyBook[InvestigationPolicy], market: dict[str, str], days: int
) -> None:
    # seed 000 §4.2.1: 自受理之日起本省5日、外省15日内结案 (F01 uses the seed default)
    assert due(complaint(**market), policies.for_factory("F01"))["close"] == REGISTERED + timedelta(days=days)


@pytest.mark.parametrize("region, days", [("domestic", 13), ("foreign", 17)])
def test_close_domestic_or_foreign_policy(policies: PolicyBook[InvestigationPolicy], region: str, days: int) -> None:
    # seed 002 (十): 國內13天國外17天內結案 (F02's policy file chooses this basis)
    record = complaint("F02", region=region)
    assert due(record, policies.for_factory("F02"))["close"] == REGISTERED + timedelta(days=days)


def test_preliminary_report_only_when_a_report_is_requested(policies: PolicyBook[InvestigationPolicy]) -> None:
    # seed 001 §1.4.3: report late -> preliminary report within 3 days
    policy = policies.for_factory("F01")
    assert "preliminary_report" not in due(complaint(), policy)
    record = complaint(request={"kind": "report_8d"})
    assert due(record, policy)["preliminary_report"] == RECEIVED + timedelta(days=3)


def test_deadlines_are_sorted_and_cite_their_clause(policies: PolicyBook[InvestigationPolicy]) -> None:
    deadlines = opening_deadlines(complaint(), policies.for_factory("F01"))
    assert [d.due_at for d in deadlines] == sorted(d.due_at for d in deadlines)
    assert all(d.source.startswith("seed ") for d in deadlines)
    assert all(d.due_at.tzinfo is not None for d in deadlines)
    assert all(d.state is DeadlineState.PENDING and d.met_at is None for d in deadlines)


def test_open_case_records_who_when_why(policies: PolicyBook[InvestigationPolicy]) -> None:
    # DOMAIN.md §3: every transition is recorded with who / when / why
    now = datetime(2026, 11, 20, 6, 1, tzinfo=UTC)
    case = Case.open(complaint(), policies.for_factory("F01"), at=now, by="system", reason="complaint registered")
    assert case.state is CaseState.OPENED
    [opened] = case.history
    assert (opened.actor, opened.at, opened.to_state, opened.reason) == (
        "system",
        now,
        CaseState.OPENED,
        "complaint registered",
    )
