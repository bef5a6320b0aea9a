"""Numbering under concurrency: unique and gap-free per factory and month
(DOMAIN.md §2 "Numbering"; seed 002 (八), seed 000 第八条)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from cqm_shared.contracts.complaint import ComplaintForm
from intake.service.handlers import register_complaint
from intake.service.unit_of_work import IntakeUnitOfWork
from tests.conftest import BrokerNamespace
from tests.helpers import auth, running_service, unit_of_work


def form(factory: str = "F01", i: int = 0) -> dict[str, Any]:
    return {
        "factory": factory,
        "channel": "portal",
        "customer": {"company": f"Customer {i}", "contact_name": "Zhang", "email": f"c{i}@example.com"},
        "product": {"part_number": f"PC-{i}", "quantity_shipped": 10, "quantity_defective": 1},
        "phenomenon": "尺寸超差 dimension out of tolerance",
    }


class CyclingClock:
    """A clock whose every reading is the next of a few moments, round and round."""

    def __init__(self, moments: list[datetime]) -> None:
        self._moments: Iterator[datetime] = itertools.cycle(moments)

    def now(self) -> datetime:
        return next(self._moments)


async def test_50_concurrent_posts_get_50_consecutive_numbers(database_url: str, broker_ns: BrokerNamespace) -> None:
    async with running_service("intake", database_url, broker_ns) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", headers=auth()) as client:
            responses = await asyncio.gather(*(client.post("/api/v1/complaints", json=form(i=i)) for i in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    numbers = [r.json()["number"] for r in responses]
    prefixes = {n.rsplit("-", 1)[0] for n in numbers}
    assert len(prefixes) == 1 and prefixes.pop().startswith("F01-")
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 51))


async def test_serials_restart_each_month_per_factory_under_concurrency(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    # 23:00 on 30 November and 00:30 on 1 December, Shanghai time (the factories' zone).
    november = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    december = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    async with running_service("intake", database_url, broker_ns) as app:
        jobs = [
            register_complaint(
                unit_of_work(app, IntakeUnitOfWork, at=moment),
                app.state.policies,
                ComplaintForm.model_validate(form(factory, i)),
                source="/test",
            )
            for i in range(10)
            for factory in ("F01", "F02")
            for moment in (november, december)
        ]
        registrations = await asyncio.gather(*jobs)
    numbers = sorted(r.complaint.number for r in registrations)
    expected = sorted(
        f"{factory}-{period}-{serial:04d}"
        for factory in ("F01", "F02")
        for period in ("2611", "2612")
        for serial in range(1, 11)
    )
    assert numbers == expected


async def test_200_concurrent_requests_across_two_factories_and_a_month_boundary(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    # Requests arrive while the month turns (Shanghai time): the clock gives 23:59:59 on 30 November
    # and 00:00:00 on 1 December in a cycle of three, so both factories get both months.
    november, december = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    clock = CyclingClock([november, december, december])
    async with running_service(
        "intake", database_url, broker_ns, app_kwargs={"clock": clock}, rate_limit_burst=1000
    ) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", headers=auth()) as client:
            answers = await asyncio.gather(
                *(client.post("/api/v1/complaints", json=form(("F01", "F02")[i % 2], i)) for i in range(200))
            )
    assert {a.status_code for a in answers} == {201}
    groups: dict[str, list[int]] = {}
    for answer in answers:
        prefix, serial = answer.json()["number"].rsplit("-", 1)
        groups.setdefault(prefix, []).append(int(serial))
    assert set(groups) == {"F01-2611", "F01-2612", "F02-2611", "F02-2612"}
    for prefix, serials in groups.items():
        assert sorted(serials) == list(range(1, len(serials) + 1)), prefix  # restarts at 1, no gap, no repeat
    assert sum(len(s) for s in groups.values()) == 200
