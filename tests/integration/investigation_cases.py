"""Investigation cases for the storage and statistics tests: stored through the real unit of work,
driven with the domain's own methods, and the rollups recomputed by plain GROUP BYs.

Times are whole seconds (UTC) so that the raw SQL of cycle times (SQLite: strftime('%s')) is exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqm_shared.clock import FakeClock
from cqm_shared.domain import DomainError
from cqm_shared.uow import Actor, InboxEntry
from investigation.adapters.orm import ROLLUPS, audit_log, tables
from investigation.adapters.unit_of_work import SqlInvestigationUnitOfWork
from investigation.domain.model import Case, ComplaintFacts, Province, Region
from investigation.domain.policy import InvestigationPolicy
from investigation.domain.records import (
    AccidentCause,
    Action,
    ActionKind,
    AffectedScope,
    Category,
    Containment,
    Crack,
    Disposition,
    Dispute,
    DisputeKind,
    FishboneCategory,
    FishboneCause,
    FollowUp,
    LossClass,
    LotCheck,
    Party,
    PartyKind,
    QcFacts,
    RecallDecision,
    Reply,
    ReplyKind,
    Responsibility,
    RootCause,
    RuleFinding,
    Ruling,
    ScopeKind,
    Severity,
    SpecialKind,
    Standardisation,
    Training,
    Triage,
)

QE = "user:qe-1"
INTAKE = Actor("system:/services/intake")
DEPARTMENTS = ("PC workshop 1", "PC workshop 2", "QC", "shipping", "R&D", "purchasing")


def units(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, translate: Any = lambda _event: []
) -> Callable[..., SqlInvestigationUnitOfWork]:
    """The service's unit of work (no public events unless `translate` is given)."""

    def make(actor: Actor = INTAKE, inbox: InboxEntry | None = None) -> SqlInvestigationUnitOfWork:
        return SqlInvestigationUnitOfWork(
            sessions,
            outbox=tables.outbox,
            inbox_table=tables.inbox,
            audit_table=audit_log,
            clock=clock,
            actor=actor,
            source="/services/investigation",
            translate=translate,
            inbox=inbox,
        )

    return make


def facts(number: str, factory: str, received_at: datetime, rng: random.Random | None = None) -> ComplaintFacts:
    rng = rng or random.Random(0)
    return ComplaintFacts(
        number=number,
        factory=factory,
        registered_at=received_at + timedelta(hours=rng.choice((1, 4))),
        received_at=received_at,
        region=rng.choice(list(Region)),
        province=rng.choice([*Province, None]),
        phenomenon="叠合板边角破损 chipped edges",
        customer_company="华东建工集团",
        part_number="PC-100",
        product_model=rng.choice(("YB-PC", None)),
        request_kind=rng.choice(("report_8d", None)),
        batch_return=rng.random() < 0.1,
        quantity_defective=rng.choice((None, 3, 40)),
    )


async def store_new(make: Callable[..., SqlInvestigationUnitOfWork], new: Sequence[Case]) -> None:
    async with make() as uow:
        for case in new:
            uow.cases.add(case)
        await uow.commit()


async def load(make: Callable[..., SqlInvestigationUnitOfWork], number: str) -> Case:
    async with make(Actor("user:reader")) as uow:
        case = await uow.cases.get(number)
    assert case is not None
    case.pull_changes()
    return case


async def change(
    make: Callable[..., SqlInvestigationUnitOfWork], numbers: Sequence[str], step: Callable[[Case], None]
) -> list[Case]:
    """Load the cases in one unit of work, take `step` on each, commit; the cases as saved."""
    async with make(Actor(QE)) as uow:
        found = [await uow.cases.get(n) for n in numbers]
        loaded = [c for c in found if c is not None]
        for case in loaded:
            step(case)
        await uow.commit()
    return loaded


# -- plausible records -----------------------------------------------------------------------


def triage(at: datetime, rng: random.Random, **overrides: Any) -> Triage:
    valid = rng.random() < 0.9
    category = Category.QUALITY if rng.random() < 0.8 else rng.choice(list(Category))
    values: dict[str, Any] = {
        "valid": valid,
        "category": category,
        "severity": rng.choice(list(Severity)),
        "our_fault": rng.random() < 0.85,
        "at": at,
        "by": QE,
        "special": rng.choice([None, None, None, *SpecialKind]) if category is Category.QUALITY else None,
        "difficult": rng.random() < 0.2,
        "responsible_department": rng.choice(DEPARTMENTS),
        "arrive_by": at + timedelta(hours=rng.choice((6, 30))) if rng.random() < 0.3 else None,
        "note": "确认成立",
    }
    values.update(overrides)
    return Triage(**values)


def containment(at: datetime) -> Containment:
    return Containment(
        scope=(AffectedScope(ScopeKind.WAREHOUSE, 40, "yard B"), AffectedScope(ScopeKind.SHIPPED, 10)),
        dispositions=(Disposition.SORTING, Disposition.EXCHANGE),
        at=at,
        by=QE,
        actions="isolate the lot in the yard",
        recall=RecallDecision(recall=False, decided_by="user:vp", note="10 pieces, exchange on site"),
        production_stop=True,
    )


def root_cause(at: datetime) -> RootCause:
    return RootCause(
        occurrence_cause="demoulding too early",
        escape_cause="edge not checked at shipping",
        at=at,
        by=QE,
        team=(QE, "workshop_head"),
        problem="chipped edges on 10 slabs",
        why_chains=(("edge chipped", "demoulded at 8 h", "curing plan ignored"),),
        fishbone=(FishboneCause(FishboneCategory.METHOD, "curing time"), FishboneCause(FishboneCategory.MAN, "new")),
        prevention="curing check on every line",
    )


def parties(rng: random.Random) -> tuple[Party, ...]:
    """One to three parties with shares summing to exactly 100 (some without a department)."""
    count = rng.choice((1, 2, 2, 3))
    cuts = sorted(rng.sample(range(1, 100), count - 1))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    names = rng.sample(DEPARTMENTS, count)
    out = []
    for i, (name, share) in enumerate(zip(names, shares, strict=True)):
        if i == 0 and rng.random() < 0.3:
            out.append(Party(PartyKind.DEPARTMENT, name, Decimal(share)))
        elif rng.random() < 0.15:
            out.append(Party(PartyKind.ROLE, f"station leader {i}", Decimal(share), role="station_leader"))
        else:
            out.append(Party(PartyKind.PERSON, f"worker {i}", Decimal(share), department=name, role="operator"))
    return tuple(out)


def determination(at: datetime, rng: random.Random, chosen: tuple[Party, ...] | None = None) -> Responsibility:
    loss = Decimal(rng.randrange(0, 8_000_000)) / 100
    return Responsibility(
        sequence=0,
        parties=chosen or parties(rng),
        cause_class=rng.choice(list(AccidentCause)),
        loss_amount=loss,
        loss_class=rng.choice(list(LossClass)),
        qc_facts=QcFacts(measured=rng.random() < 0.5, qc_log_record=rng.random() < 0.5, crack=rng.choice(list(Crack))),
        at=at,
        by=QE,
        findings=(RuleFinding("5.2.3.1", occurrences=1, pieces=10),),
        override_reason="shares agreed in the quality meeting",
        customer_may_end=rng.random() < 0.1,
    )


def action(at: datetime, kind: ActionKind, due_days: int = 3) -> Action:
    return Action(
        id="",
        kind=kind,
        description="demould after 12 h curing" if kind is ActionKind.PERMANENT else "100 % edge check",
        owner="workshop_head",
        due_at=at + timedelta(days=due_days),
        added_at=at,
        added_by=QE,
    )


def lots(start: datetime, count: int, prefix: str, defective: Sequence[int] = ()) -> tuple[LotCheck, ...]:
    return tuple(
        LotCheck(lot=f"{prefix}{i + 1}", defect_found=i in defective, at=start + timedelta(hours=i), by=QE)
        for i in range(count)
    )


# -- random walks through the state machine --------------------------------------------------


def random_step(case: Case, policy: InvestigationPolicy, rng: random.Random, at: datetime) -> str | None:
    """Take one step the case allows now, with plausible random input; None when it was refused."""
    allowed = case.allowed_steps()
    weights = [0.02 if s == "withdraw" else 0.05 if s in ("amend", "onsite", "follow_up") else 1.0 for s in allowed]
    if not allowed:
        return None
    step = rng.choices(allowed, weights)[0]
    try:
        _take(case, step, policy, rng, at)
    except DomainError:
        return None
    return step


def _take(case: Case, step: str, policy: InvestigationPolicy, rng: random.Random, at: datetime) -> None:
    resp = case.records.responsibility
    if step == "triage":
        case.triage(triage(at, rng), policy)
    elif step == "containment":
        case.contain(containment(at))
    elif step == "root_cause":
        case.analyse(root_cause(at))
    elif step == "responsibility":
        case.determine(determination(at, rng), policy)
    elif step == "dispute":
        assert resp is not None
        when = resp.at + timedelta(minutes=rng.choice((30, 90, 200)))  # 200: after the 2 h window
        kind = rng.choice(list(DisputeKind))
        case.dispute(Dispute(kind, "PC workshop 1", "the QC log was wrong", when, "user:head", 0), policy)
    elif step == "ruling":
        upheld = rng.random() < 0.6
        objection = case.records.disputes[-1].kind is DisputeKind.OBJECTION
        new = parties(rng) if upheld and objection else ()
        case.rule(Ruling(upheld=upheld, at=at, by="user:ops", reason="ruled"), policy, new_parties=new)
    elif step == "actions":
        kinds = rng.sample(list(ActionKind), rng.choice((1, 2)))
        case.add_actions([action(at, k, due_days=rng.choice((1, 3, 10))) for k in kinds])
    elif step == "verification":
        pending = [a.id for a in case.records.actions if not a.verified]
        defective = [0] if rng.random() < 0.2 else []
        case.verify(rng.choice(pending), lots(at, rng.choice((1, 3, 4)), f"{at:%m%d%H%M%S}-", defective), policy)
    elif step == "standardisation":
        case.standardise(Standardisation(("WI-PC-012",), at, QE))
    elif step == "reply":
        reply_kind = ReplyKind.FINAL if rng.random() < 0.7 else ReplyKind.PRELIMINARY
        case.reply(Reply(reply_kind, "8D result", at, "user:cs-1", channel="email"))
    elif step == "follow_up":
        accepted = rng.random() < 0.8
        case.follow_up(FollowUp(satisfied=accepted, accepted=accepted, at=at, by="user:cs-1"))
    elif step == "close":
        case.close(at=at, by=QE)
    elif step == "reopen":
        case.reopen(policy, at=at, by="user:cs-1", reason="the customer does not accept the result")
    elif step == "onsite":
        o = case.records.onsite
        order = [("arrived", o.arrived_at), ("sheet_returned", o.sheet_returned_at), ("returned", o.returned_at)]
        what = next((name for name, done in order if done is None), "report_sent")
        case.record_onsite(what, policy, at=at, by=QE)
    elif step == "training":
        case.record_training(Training(at=at, by="workshop_head", attendees=12))
    elif step == "amend":
        province = rng.choice([*Province, None])
        case.amend(
            replace(case.complaint, province=province, phenomenon="corrected"),
            policy,
            at=at,
            by="system",
            reason="amended",
        )
    elif step == "withdraw":
        case.withdraw(at=at, by="system", reason="complaint.withdrawn")
    else:
        raise AssertionError(f"no random input for step {step}")


def later(at: datetime, rng: random.Random) -> datetime:
    """A while after `at`: minutes to days, so that some deadlines are met late."""
    seconds = rng.choice((60, 1800, 3 * 3600, 20 * 3600, 3 * 86400, 9 * 86400))
    return at + timedelta(seconds=rng.randrange(seconds // 2, seconds))


# -- the rollups recomputed from the rows ---------------------------------------------------------


def _cycle_seconds(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(FLOOR(EXTRACT(EPOCH FROM c.closed_at - c.opened_at)) AS BIGINT)"
    return "(CAST(strftime('%s', c.closed_at) AS INTEGER) - CAST(strftime('%s', c.opened_at) AS INTEGER))"


def _cents(dialect: str, column: str) -> str:
    number = column if dialect == "postgresql" else f"CAST({column} AS REAL)"
    return f"CAST(ROUND(COALESCE(SUM({number}), 0) * 100) AS BIGINT)"


def raw_queries(dialect: str) -> dict[str, str]:
    """Per rollup table, a GROUP BY over cases, deadlines and parties giving (key…, counters…)."""
    seconds = _cycle_seconds(dialect)
    clamp = "LEAST(GREATEST({x}, 0), 365)" if dialect == "postgresql" else "MIN(MAX({x}, 0), 365)"
    days = clamp.format(x=f"({seconds}) / 86400")
    department = "COALESCE(p.department, CASE WHEN p.kind = 'department' THEN p.name END, '')"
    milestone = "CASE WHEN d.milestone LIKE 'action:%' THEN 'action' ELSE d.milestone END"
    return {
        "stats_cases": (
            "SELECT c.factory, c.opened_month, COALESCE(c.outcome, ''), COUNT(*),"
            f" COALESCE(SUM(CASE WHEN c.closed_at IS NULL THEN 0 ELSE {seconds} END), 0)"
            " FROM cases c GROUP BY c.factory, c.opened_month, COALESCE(c.outcome, '')"
        ),
        "stats_cycle_days": (
            f"SELECT c.factory, c.opened_month, {days}, COUNT(*) FROM cases c"
            " WHERE c.closed_at IS NOT NULL AND c.outcome <> 'withdrawn'"
            f" GROUP BY c.factory, c.opened_month, {days}"
        ),
        "stats_deadlines": (
            f"SELECT c.factory, c.opened_month, {milestone},"
            " SUM(CASE WHEN d.state = 'met' AND d.met_at <= d.due_at THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN d.state = 'met' AND d.met_at > d.due_at THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN d.state = 'cancelled' THEN 1 ELSE 0 END)"
            " FROM case_deadlines d JOIN cases c ON c.number = d.number WHERE d.state <> 'pending'"
            f" GROUP BY c.factory, c.opened_month, {milestone}"
        ),
        "stats_departments": (
            f"SELECT c.factory, c.opened_month, {department}, COUNT(DISTINCT c.number), {_cents(dialect, 'p.share')}"
            f" FROM case_parties p JOIN cases c ON c.number = p.number GROUP BY c.factory, c.opened_month, {department}"
        ),
        "stats_accidents": (
            f"SELECT c.factory, c.opened_month, 'cause', c.cause_class, COUNT(*), {_cents(dialect, 'c.loss_amount')}"
            " FROM cases c WHERE c.cause_class IS NOT NULL GROUP BY c.factory, c.opened_month, c.cause_class"
            " UNION ALL"
            f" SELECT c.factory, c.opened_month, 'loss', c.loss_class, COUNT(*), {_cents(dialect, 'c.loss_amount')}"
            " FROM cases c WHERE c.loss_class IS NOT NULL GROUP BY c.factory, c.opened_month, c.loss_class"
        ),
    }


Figures = dict[str, dict[tuple[Any, ...], tuple[int, ...]]]


def _split(table: sa.Table, rows: Sequence[Sequence[Any]]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    width = len(table.primary_key.columns)
    out = {tuple(r[:width]): tuple(int(v) for v in r[width:]) for r in rows}
    return {k: v for k, v in out.items() if any(v)}  # a rollup row counted down to zero is no row


async def rollup_figures(sessions: async_sessionmaker[AsyncSession]) -> Figures:
    async with sessions() as session:
        return {t.name: _split(t, (await session.execute(sa.select(t))).all()) for t in ROLLUPS}


async def raw_figures(sessions: async_sessionmaker[AsyncSession]) -> Figures:
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        queries = raw_queries(dialect)
        return {t.name: _split(t, (await session.execute(sa.text(queries[t.name]))).all()) for t in ROLLUPS}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
