"""The cost of poor quality on SQLite and PostgreSQL: the rollup the assessment repository keeps
in the transaction of every change equals the figures recomputed from the raw rows and the
monthly ledger's totals, and the endpoint answers them.

DOMAIN.md §6: cost of poor quality = compensation + penalties, per factory, month / quarter /
year and responsible department. The penalties are the money lines DOMAIN.md §4 computes (seed
000 §5 per-occurrence fines, §4.3.3.2 loss-proportional fines, §4.3.1.6 the training not held,
seed 001 §5.3.2 suppliers' charge-backs); seed 000 §4.2.2: a closed month is immutable, a later
correction is reversed and recounted in the next open one. Many assessments of two factories go
through the real use cases: assessed, appealed, decided, approved, months closed, superseded and
voided after the close (reversals) and while open.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI

from cqm_shared.db import alembic_config
from cqm_shared.uow import Actor
from penalty.adapters.orm import assessment_lines, assessment_parties, assessments, stats_cost
from penalty.adapters.rule_book import RuleBook
from penalty.adapters.unit_of_work import SqlPenaltyUnitOfWork
from penalty.domain.model import AssessmentStatus
from penalty.domain.terms import AccidentClass, Breach, Determination, Finding, Party
from penalty.service import handlers
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, migrations_dir, running_service, unit_of_work

client = asgi_client
D = Decimal
ADMIN = Actor("user:admin")  # every factory
COUNTED = ("draft", "appealed", "approved")
# F01's directory names 装配车间 / 机加车间 / 品管部 (aliases assembly, machining, quality); F02 has none.
DEPARTMENTS = {
    "F01": ("装配车间", "机加车间", "品管部", "assembly", "machining"),
    "F02": ("一车间", "二车间", "装配车间"),
}
CODES = ("5.2.3.1", "5.2.3.2", "5.2.3.6", "5.2.4", "5.2.6", "5.1.2")
CLASSES = [c for c in AccidentClass if c is not AccidentClass.COMMUNICATION]
Figures = dict[tuple[str, str, str], list[Decimal]]  # (factory, period, department) -> comp, fines, cb, lines


def at(month: int, day: int, hour: int = 2) -> datetime:
    """A moment of 2026 (10:00 in Shanghai by default)."""
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


class Driver:
    """Drives penalty's use cases the way its consumers and API do, each in its own unit of work."""

    def __init__(self, app: FastAPI, seed: int) -> None:
        self.app = app
        self.rules: RuleBook = app.state.rules
        self.rng = random.Random(seed)
        self.sequences: dict[str, int] = {}
        self.cases: dict[tuple[str, int], list[str]] = defaultdict(list)  # (factory, month) -> numbers

    def uow(self, now: datetime) -> SqlPenaltyUnitOfWork:
        return unit_of_work(self.app, SqlPenaltyUnitOfWork, at=now, actor=ADMIN)

    def determination(self, number: str, factory: str, determined_at: datetime) -> Determination:
        rng = self.rng
        names = rng.sample(DEPARTMENTS[factory], rng.choice((1, 2, 2, 3)))
        supplier = rng.random() < 0.3
        shares = [D(rng.randint(1, 60)) for _ in names] + ([D(rng.randint(5, 40))] if supplier else [])
        scale = D(100) / sum(shares)
        shares = [(s * scale).quantize(D("0.01")) for s in shares]
        shares[0] += D(100) - sum(shares)
        parties = [
            Party(kind="person", name=f"工{k}-{name}", share=share, department=name)
            if rng.random() < 0.4
            else Party(kind="department", name=name, share=share)
            for k, (name, share) in enumerate(zip(names, shares, strict=False))
        ]
        if supplier:
            parties.append(Party(kind="supplier", name=f"供应商{rng.randint(1, 3)}", share=shares[-1]))
        findings = tuple(
            Finding(code=code, occurrences=rng.randint(1, 2), party=rng.choice([None, parties[0].name]))
            for code in rng.sample(CODES, rng.randint(0, 2))
        )
        self.sequences[number] = self.sequences.get(number, 0) + 1
        return Determination(
            number=number,
            factory=factory,
            determined_at=determined_at,
            accident_class=rng.choice(CLASSES),
            loss_amount=D(rng.choice((0, rng.randint(1, 2_000_000)))).scaleb(-2),
            parties=tuple(parties),
            findings=findings,
            sequence=self.sequences[number],
        )

    async def assess(self, number: str, factory: str, determined_at: datetime, now: datetime) -> None:
        d = self.determination(number, factory, determined_at)
        await handlers.assess_determination(self.uow(now), self.rules, str(uuid.uuid4()), d, why="determined")

    async def month(self, factory: str, month: int, count: int) -> None:
        for i in range(count):
            number = f"{factory}-26{month:02d}-{i + 1:04d}"
            self.cases[(factory, month)].append(number)
            determined = at(month, 3 + i % 20)
            await self.assess(number, factory, determined, determined + timedelta(minutes=5))

    async def work(self, factory: str, period: str, now: datetime, *, settle: bool) -> None:
        """Appeals and decisions on the period's drafts; with `settle` everything approved."""
        rng = self.rng
        found = await handlers.search(self.uow(now), factory=factory, period=period, status=None, limit=500, offset=0)
        for a in found:
            if a.status is AssessmentStatus.DRAFT and a.decision is None and rng.random() < 0.4:
                a = await handlers.appeal(self.uow(now), a.id, lines=(), reason="申诉", expected_version=None)
            if a.status is AssessmentStatus.APPEALED and (settle or rng.random() < 0.75):
                fines = [i for i, x in enumerate(a.lines) if x.kind.value == "fine" and x.amount > 0]
                upheld = bool(fines) and rng.random() < 0.6
                a = await handlers.decide_appeal(
                    self.uow(now),
                    self.rules,
                    a.id,
                    roles=["admin"],
                    upheld=upheld,
                    amounts={i: (a.lines[i].amount / 2).quantize(D("0.01")) for i in fines[:2]} if upheld else {},
                    reason="GM",
                    expected_version=None,
                )
            if a.status is AssessmentStatus.DRAFT and (settle or rng.random() < 0.5):
                await handlers.approve(
                    self.uow(now), self.rules, a.id, roles=["admin"], reason="签准", expected_version=None
                )

    async def appeal_one(self, factory: str, period: str, now: datetime) -> None:
        found = await handlers.search(
            self.uow(now), factory=factory, period=period, status=AssessmentStatus.DRAFT, limit=500, offset=0
        )
        fresh = [a for a in found if a.decision is None]
        if fresh:
            await handlers.appeal(self.uow(now), fresh[0].id, lines=(), reason="申诉", expected_version=None)

    async def close(self, factory: str, period: str, now: datetime) -> None:
        await self.work(factory, period, now, settle=True)
        await handlers.close_period(self.uow(now), self.rules, factory, period, reason="月结")

    async def redetermine(self, number: str, factory: str, month: int, now: datetime) -> None:
        """A newer determination, still dated in the case's month."""
        await self.assess(number, factory, at(month, 28), now)

    async def void(self, number: str, factory: str, now: datetime) -> None:
        await handlers.void_case(self.uow(now), self.rules, number, factory, why="market cause")

    async def breach(self, number: str, factory: str, department: str, when: datetime) -> None:
        b = Breach(number, factory, "workshop_training", 1, when - timedelta(days=1), when, department)
        await handlers.assess_breach(self.uow(when), self.rules, b, why="training not held")


async def drive(app: FastAPI) -> Driver:
    """September to November 2026 in F01 and F02; reversals in October and November."""
    run = Driver(app, seed=20261121)
    for factory in ("F01", "F02"):
        await run.month(factory, 9, 10)
        await run.work(factory, "2026-09", at(9, 25), settle=False)
        await run.breach(run.cases[(factory, 9)][0], factory, DEPARTMENTS[factory][0], at(9, 26))
        await run.close(factory, "2026-09", at(10, 2))
        october = at(10, 5)
        await run.month(factory, 10, 10)
        for number in run.cases[(factory, 9)][:3]:  # September closed: reversed in October
            await run.redetermine(number, factory, 9, october)
        await run.void(run.cases[(factory, 9)][3], factory, october)
        await run.redetermine(run.cases[(factory, 10)][0], factory, 10, october)  # October open: no reversal
        await run.breach(run.cases[(factory, 10)][1], factory, DEPARTMENTS[factory][1], at(10, 20))
        await run.close(factory, "2026-10", at(11, 2))
        november = at(11, 4)
        await run.month(factory, 11, 8)
        await run.redetermine(run.cases[(factory, 10)][2], factory, 10, november)  # reversed in November
        await run.void(run.cases[(factory, 10)][3], factory, november)
        await run.void(run.cases[(factory, 11)][0], factory, november)  # November open: counts nowhere
        await run.redetermine(run.cases[(factory, 9)][0], factory, 9, november)  # a third determination
        await run.work(factory, "2026-11", at(11, 25), settle=False)  # some stay draft or appealed
        await run.appeal_one(factory, "2026-11", at(11, 26))
    return run


# -- what the raw rows say -----------------------------------------------------------------------


async def raw_figures(app: FastAPI) -> tuple[Figures, dict[tuple[str, str], Decimal]]:
    """Recomputed from assessments, parties and lines, without the rollup code: fines and
    charge-backs per line department, the compensation per department exactly (loss × share, the
    directory's name of the department), and the compensation per factory and month."""
    rules: RuleBook = app.state.rules
    async with app.state.runtime.sessions() as session:
        rows = (await session.execute(sa.select(assessments))).all()
        parties = (await session.execute(sa.select(assessment_parties))).all()
        lines = (await session.execute(sa.select(assessment_lines))).all()
    parties_of: dict[str, list[Any]] = defaultdict(list)
    lines_of: dict[str, list[Any]] = defaultdict(list)
    for p in parties:
        parties_of[p.assessment_id].append(p)
    for x in lines:
        lines_of[x.assessment_id].append(x)
    figures: Figures = defaultdict(lambda: [D(0), D(0), D(0), D(0)])
    losses: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for a in rows:
        signs = [(a.period, 1)] if a.status in COUNTED or a.reversal_period is not None else []
        if a.reversal_period is not None and a.reversal_period != a.period:
            signs.append((a.reversal_period, -1))
        organisation = rules.for_factory(a.factory).organisation
        for period, sign in signs:
            losses[(a.factory, period)] += sign * (a.loss_amount or 0)
            for p in parties_of[a.id]:
                named = p.department or (p.name if p.kind == "department" else None)
                department = "" if p.kind == "supplier" else (organisation.department(named)[0] or "")
                figures[(a.factory, period, department)][0] += sign * a.loss_amount * p.share / 100
            for x in lines_of[a.id]:
                if x.kind in ("fine", "charge_back"):
                    row = figures[(a.factory, period, x.department or "")]
                    row[1 if x.kind == "fine" else 2] += sign * x.amount
                    row[3] += sign
    return figures, losses


async def stored_rollup(app: FastAPI) -> dict[tuple[str, str, str], tuple[int, ...]]:
    async with app.state.runtime.sessions() as session:
        rows = (await session.execute(sa.select(stats_cost))).all()
    return {
        (r.factory, r.period, r.department): (r.compensation_fen, r.fines_fen, r.charge_backs_fen, r.lines)
        for r in rows
        if any((r.compensation_fen, r.fines_fen, r.charge_backs_fen, r.lines))
    }


def yuan(fen: int) -> Decimal:
    return D(fen).scaleb(-2)


async def test_the_rollup_is_the_raw_rows_the_ledger_and_the_endpoint(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    async with running_service("penalty", database_url, broker_ns) as app:
        run = await drive(app)
        stored = await stored_rollup(app)
        raw, losses = await raw_figures(app)
        stored_assessments = await handlers.search(
            run.uow(at(12, 1)), factory=None, period=None, status=None, limit=500, offset=0
        )

        # the workflow went where it should: every kind of change happened
        kinds = {(a.status.value, a.reversal_period is not None) for a in stored_assessments}
        assert {("approved", False), ("superseded", True), ("void", True), ("superseded", False)} <= kinds
        assert {("void", False), ("draft", False), ("appealed", False)} <= kinds
        assert any(a.adjustment for a in stored_assessments) and any(
            a.decision and a.decision.upheld for a in stored_assessments
        )
        assert any(x.kind.value == "charge_back" for a in stored_assessments for x in a.lines)

        # 1. the rollup is what the raw rows say
        keys = {k for k, v in raw.items() if any(v)} | set(stored)
        assert len(keys) > 20
        for key in sorted(keys):
            comp, fines, charge_backs, lines = stored.get(key, (0, 0, 0, 0))
            exact = raw[key]
            assert (yuan(fines), yuan(charge_backs), D(lines)) == (exact[1], exact[2], exact[3]), key
            # the compensation split to the fen: within a fen of the exact share per assessment
            assert abs(yuan(comp) - exact[0]) <= D("0.01") * len(stored_assessments), key
        months = {(f, p) for f, p, _ in keys}
        for factory, period in sorted(months):
            in_month = [v for (f, p, _), v in stored.items() if (f, p) == (factory, period)]
            assert yuan(sum(v[0] for v in in_month)) == losses[(factory, period)], (factory, period)

        # 2. the rollup is the ledger, month by month
        for factory, period in sorted(months):
            book = (await handlers.ledger(run.uow(at(12, 1)), run.rules, factory, period)).totals
            rows = {d: v for (f, p, d), v in stored.items() if (f, p) == (factory, period)}
            month_comp, month_fines, month_cb = (yuan(sum(v[i] for v in rows.values())) for i in range(3))
            assert (month_comp, month_fines, month_cb, month_comp + month_fines + month_cb) == (
                book.compensation,
                book.fines,
                book.charge_backs,
                book.cost_of_poor_quality,
            ), (factory, period)
            assert {d: yuan(v[1]) for d, v in rows.items() if d and v[1]} == {
                d: t.fines for d, t in book.departments.items() if t.fines
            }, (factory, period)
        assert {p for _, p in months} == {"2026-09", "2026-10", "2026-11"}

        # 3. the endpoint answers the same
        async with client(app, auth("finance", "F01")) as c:
            by_department = await c.get(
                "/api/v1/stats/penalties/cost",
                params={"grain": "month", "by": "department", "from": "2026-09", "to": "2026-12", "factory": "F01"},
            )
            mine = await c.get("/api/v1/stats/penalties/cost", params={"from": "2026-01", "to": "2026-12"})
            hidden = await c.get("/api/v1/stats/penalties/cost", params={"factory": "F02"})
            wrong = await c.get("/api/v1/stats/penalties/cost", params={"grain": "week", "from": "2026-13"})
        async with client(app, auth("general_manager", "*")) as c:
            quarters = await c.get(
                "/api/v1/stats/penalties/cost", params={"grain": "quarter", "from": "2026-01", "to": "2026-12"}
            )
            unknown = await c.get("/api/v1/stats/penalties/cost", params={"factory": "F09"})
        async with client(app, auth("quality_engineer", "F01")) as c:
            refused = await c.get("/api/v1/stats/penalties/cost")

        assert by_department.status_code == 200, by_department.text
        body = by_department.json()
        assert (body["grain"], body["by"], body["from"], body["to"], body["factory"]) == (
            "month",
            "department",
            "2026-09",
            "2026-12",
            "F01",
        )
        answered = {(r["period"], r["department"] or ""): r for r in body["rows"]}
        expected = {(p, d): v for (f, p, d), v in stored.items() if f == "F01"}
        assert set(answered) == set(expected)
        for answer, r in answered.items():
            comp, fines, charge_backs, lines = expected[answer]
            assert (r["compensation"], r["fines"], r["charge_backs"], r["lines"]) == (
                f"{yuan(comp):.2f}",
                f"{yuan(fines):.2f}",
                f"{yuan(charge_backs):.2f}",
                lines,
            )
            assert D(r["penalties"]) == yuan(fines + charge_backs)
            assert D(r["total"]) == yuan(comp + fines + charge_backs)
        f01_total = yuan(sum(sum(v[:3]) for (f, _, _), v in stored.items() if f == "F01"))
        assert D(body["totals"]["total"]) == f01_total

        assert mine.status_code == 200 and D(mine.json()["totals"]["total"]) == f01_total  # F01's only
        assert "department" not in mine.json()["rows"][0]
        assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
        assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
        assert unknown.status_code == 404 and refused.status_code == 403

        assert quarters.status_code == 200, quarters.text
        q = quarters.json()
        assert [r["period"] for r in q["rows"]] == ["2026-Q3", "2026-Q4"]
        everything = yuan(sum(sum(v[:3]) for v in stored.values()))
        assert D(q["totals"]["total"]) == everything == sum((D(r["total"]) for r in q["rows"]), D(0))
        september = yuan(sum(sum(v[:3]) for (_, p, _), v in stored.items() if p == "2026-09"))
        assert D(q["rows"][0]["total"]) == september


async def test_migration_0005_counts_the_assessments_stored_before_it(
    database_url: str, broker_ns: BrokerNamespace
) -> None:
    """The rollup a database had before 0005 is counted by 0005 from the rows, as the repository
    would have kept it: down to 0004 (no rollup) and up again gives the same rows."""
    async with running_service("penalty", database_url, broker_ns) as app:
        await drive(app)
        kept = await stored_rollup(app)
    folder = migrations_dir("penalty")
    await asyncio.to_thread(command.downgrade, alembic_config(folder, database_url), "0004")
    await asyncio.to_thread(command.upgrade, alembic_config(folder, database_url), "0005")
    async with running_service("penalty", database_url, broker_ns) as app:
        assert await stored_rollup(app) == kept and len(kept) > 20
