"""Assessments and ledger periods in the penalty database.

An assessment is its `assessments` row, its parties and its line items; `get()` returns exactly
the `Assessment` that was saved (decimals, aware UTC times, enums, tuples). Every change is an
optimistic `UPDATE … WHERE version = :read`; the lines and parties are rewritten only when they
changed. A ledger period is read locked (PostgreSQL `FOR UPDATE`; SQLite's writer holds the
whole database), so closing a month waits for the assessments landing in it.

Each save also adds the change's difference to the cost rollup `stats_cost`, in the same
transaction (see rollups.py): the projection of what was loaded (what the versioned update
proves is still stored) against the projection of what is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import versioned_update
from penalty.adapters import rollups
from penalty.adapters.orm import assessment_lines, assessment_parties, assessments, ledger_periods, stats_cost
from penalty.domain.ledger import CycleDeadline, CycleMilestone, LedgerPeriod, PeriodState
from penalty.domain.model import COUNTED, Appeal, AppealDecision, Assessment, AssessmentStatus
from penalty.domain.terms import (
    AccidentClass,
    Breach,
    Degree,
    Determination,
    Finding,
    LineItem,
    LineKind,
    Party,
    Payee,
    PayeeKind,
    ProductStage,
)
from penalty.service.unit_of_work import AssessmentRepository, PeriodRepository

CHUNK = 500  # ids per `IN (…)` when loading the lines and parties of many assessments

# -- JSON of the small values kept whole -----------------------------------------------------


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime; all times must be timezone-aware")
    return at.astimezone(UTC).isoformat()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _maybe_iso(at: datetime | None) -> str | None:
    return None if at is None else _iso(at)


def _maybe_at(text: str | None) -> datetime | None:
    return None if text is None else _at(text)


def deadline_json(d: CycleDeadline) -> dict[str, Any]:
    return {
        "milestone": d.milestone.value,
        "due_at": _iso(d.due_at),
        "source": d.source,
        "state": d.state,
        "met_at": _maybe_iso(d.met_at),
        "cancelled_at": _maybe_iso(d.cancelled_at),
    }


def deadline_of(data: dict[str, Any]) -> CycleDeadline:
    return CycleDeadline(
        milestone=CycleMilestone(data["milestone"]),
        due_at=_at(data["due_at"]),
        source=data["source"],
        state=data.get("state", "pending"),
        met_at=_maybe_at(data.get("met_at")),
        cancelled_at=_maybe_at(data.get("cancelled_at")),
    )


def appeal_json(a: Appeal) -> dict[str, Any]:
    return {"by": a.by, "at": _iso(a.at), "reason": a.reason, "lines": list(a.lines)}


def appeal_of(data: dict[str, Any]) -> Appeal:
    return Appeal(by=data["by"], at=_at(data["at"]), reason=data["reason"], lines=tuple(data.get("lines", ())))


def decision_json(d: AppealDecision) -> dict[str, Any]:
    return {
        "by": d.by,
        "at": _iso(d.at),
        "upheld": d.upheld,
        "reason": d.reason,
        "amounts": {str(position): str(amount) for position, amount in d.amounts.items()},
    }


def decision_of(data: dict[str, Any]) -> AppealDecision:
    return AppealDecision(
        by=data["by"],
        at=_at(data["at"]),
        upheld=data["upheld"],
        reason=data["reason"],
        amounts={int(position): Decimal(amount) for position, amount in data.get("amounts", {}).items()},
    )


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "occurrences": f.occurrences,
        "pieces": f.pieces,
        "party": f.party,
        "product_stage": f.product_stage.value,
        "degree": f.degree.value,
    }


def finding_of(data: dict[str, Any]) -> Finding:
    return Finding(
        code=data["code"],
        occurrences=data.get("occurrences", 1),
        pieces=data.get("pieces", 0),
        party=data.get("party"),
        product_stage=ProductStage(data.get("product_stage", ProductStage.SERIES.value)),
        degree=Degree(data.get("degree", Degree.GENERAL.value)),
    )


# -- rows ------------------------------------------------------------------------------------


def _assessment_values(a: Assessment) -> dict[str, Any]:
    """Every column of the assessment row but its id."""
    d, b = a.determination, a.breach
    if d is None and b is None:
        raise ValueError(f"assessment {a.id} assesses neither a determination nor a breach")
    return {
        "number": a.number,
        "factory": a.factory,
        "basis": "determination" if d is not None else "breach",
        "status": a.status.value,
        "period": a.period,
        "adjustment": a.adjustment,
        "reversal_period": a.reversal_period,
        "superseded_by": a.superseded_by,
        "policy_version": a.policy_version,
        "warnings": list(a.warnings),
        "deadlines": [deadline_json(x) for x in a.deadlines],
        "appeal": appeal_json(a.appeal) if a.appeal is not None else None,
        "decision": decision_json(a.decision) if a.decision is not None else None,
        "approved_by": a.approved_by,
        "approved_at": a.approved_at,
        "received_at": a.received_at,
        "version": a.version,
        "sequence": d.sequence if d is not None else None,
        "accident_class": d.accident_class.value if d is not None else None,
        "loss_amount": d.loss_amount if d is not None else None,
        "determined_at": d.determined_at if d is not None else None,
        "findings": [finding_json(f) for f in d.findings] if d is not None else None,
        "order_number": d.order_number if d is not None else None,
        "milestone": b.milestone if b is not None else None,
        "round": b.round if b is not None else None,
        "due_at": b.due_at if b is not None else None,
        "breached_at": b.breached_at if b is not None else None,
        "department": b.department if b is not None else None,
    }


def _party_rows(a: Assessment) -> list[dict[str, Any]]:
    if a.determination is None:
        return []
    return [
        {
            "assessment_id": a.id,
            "position": i,
            "kind": p.kind,
            "name": p.name,
            "department": p.department,
            "role": p.role,
            "share": p.share,
        }
        for i, p in enumerate(a.determination.parties)
    ]


def _line_rows(a: Assessment) -> list[dict[str, Any]]:
    return [
        {
            "assessment_id": a.id,
            "position": i,
            "rule_code": x.rule_code,
            "kind": x.kind.value,
            "role": x.role,
            "payee_kind": x.payee.kind.value,
            "payee_id": x.payee.id,
            "payee_name": x.payee.name,
            "department": x.department,
            "party": x.party,
            "basis": x.basis,
            "amount": x.amount,
            "points": x.points,
            "points_ledger": x.points_ledger,
            "illustrative": x.illustrative,
            "original_amount": x.original_amount,
            "note": x.note,
        }
        for i, x in enumerate(a.lines)
    ]


def _line(r: Any) -> LineItem:
    return LineItem(
        rule_code=r.rule_code,
        kind=LineKind(r.kind),
        role=r.role,
        payee=Payee(PayeeKind(r.payee_kind), r.payee_id, r.payee_name),
        department=r.department,
        party=r.party,
        basis=r.basis,
        amount=r.amount,
        points=r.points,
        points_ledger=r.points_ledger,
        illustrative=bool(r.illustrative),
        original_amount=r.original_amount,
        note=r.note,
    )


def _party(r: Any) -> Party:
    return Party(kind=r.kind, name=r.name, share=r.share, department=r.department, role=r.role)


def _assessment(r: Any, parties: Sequence[Party], lines: Sequence[LineItem]) -> Assessment:
    determination = None
    if r.determined_at is not None:
        determination = Determination(
            number=r.number,
            factory=r.factory,
            determined_at=r.determined_at,
            accident_class=AccidentClass(r.accident_class),
            loss_amount=r.loss_amount,
            parties=tuple(parties),
            findings=tuple(finding_of(f) for f in r.findings or ()),
            sequence=r.sequence if r.sequence is not None else 1,
            order_number=r.order_number,
        )
    breach = None
    if r.milestone is not None:
        breach = Breach(
            number=r.number,
            factory=r.factory,
            milestone=r.milestone,
            round=r.round,
            due_at=r.due_at,
            breached_at=r.breached_at,
            department=r.department,
        )
    return Assessment(
        id=r.id,
        number=r.number,
        factory=r.factory,
        status=AssessmentStatus(r.status),
        period=r.period,
        policy_version=r.policy_version,
        lines=tuple(lines),
        warnings=tuple(r.warnings or ()),
        deadlines=tuple(deadline_of(x) for x in r.deadlines or ()),
        received_at=r.received_at,
        determination=determination,
        breach=breach,
        adjustment=bool(r.adjustment),
        reversal_period=r.reversal_period,
        superseded_by=r.superseded_by,
        appeal=appeal_of(r.appeal) if r.appeal is not None else None,
        decision=decision_of(r.decision) if r.decision is not None else None,
        approved_by=r.approved_by,
        approved_at=r.approved_at,
        version=r.version,
    )


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def upsert_statement(table: sa.Table, dialect: str) -> Any:
    """`INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` (PostgreSQL, SQLite ≥ 3.24)."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    counters = [c for c in table.columns if not c.primary_key]
    return insert.on_conflict_do_update(
        index_elements=keys, set_={c.name: c + insert.excluded[c.name] for c in counters}
    )


def rollup_rows(changes: Iterable[tuple[rollups.Key, tuple[int, ...]]]) -> list[dict[str, Any]]:
    return [
        {
            "factory": factory,
            "period": period,
            "department": department,
            **dict(zip(rollups.COUNTERS, delta, strict=True)),
        }
        for (factory, period, department), delta in changes
    ]


class SqlAssessmentRepository(AssessmentRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session
        # What is stored of each assessment this unit of work read or wrote: (lines, parties),
        # so a save rewrites them only when they changed (most transitions change neither).
        self._stored: dict[str, tuple[tuple[LineItem, ...], tuple[Party, ...]]] = {}
        # What the cost rollup counts of each as stored, and this flush's changes to it.
        self._projections: dict[str, rollups.Projection] = {}
        self._rollups: rollups.Deltas = {}

    # -- reading ---------------------------------------------------------------------------

    async def get(self, assessment_id: str) -> Assessment | None:
        for added in self._added:
            if added.id == assessment_id:
                return added
        found = await self._select(assessments.c.id == assessment_id)
        return found[0] if found else None

    async def of_case(self, number: str) -> list[Assessment]:
        return await self._select(assessments.c.number == number)

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]:
        where = [assessments.c.number == number]
        if factories is not None:
            where.append(assessments.c.factory.in_(sorted(factories)))
        return await self._select(*where)

    async def search(
        self,
        factories: frozenset[str] | None,
        *,
        factory: str | None = None,
        period: str | None = None,
        status: AssessmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Assessment]:
        a = assessments
        where: list[sa.ColumnElement[bool]] = []
        if factories is not None:
            where.append(a.c.factory.in_(sorted(factories)))
        if factory is not None:
            where.append(a.c.factory == factory)
        if period is not None:
            where.append(a.c.period == period)
        if status is not None:
            where.append(a.c.status == status.value)
        stmt = sa.select(a).where(*where).order_by(a.c.received_at.desc(), a.c.id.desc()).limit(limit).offset(offset)
        return await self._load(list((await self._session.execute(stmt)).all()))

    async def in_ledger(self, factory: str, period: str) -> list[Assessment]:
        a = assessments
        counted = sa.and_(
            a.c.period == period,
            sa.or_(a.c.status.in_(sorted(s.value for s in COUNTED)), a.c.reversal_period.is_not(None)),
        )
        return await self._select(a.c.factory == factory, sa.or_(counted, a.c.reversal_period == period))

    async def _select(self, *where: sa.ColumnElement[bool]) -> list[Assessment]:
        stmt = sa.select(assessments).where(*where).order_by(assessments.c.received_at, assessments.c.id)
        return await self._load(list((await self._session.execute(stmt)).all()))

    async def _load(self, rows: list[sa.Row[Any]]) -> list[Assessment]:
        """The rows' assessments with their parties and lines, tracked by this unit of work (one
        object per assessment: one already loaded is returned as it is now)."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        parties: dict[str, list[Party]] = {}
        lines: dict[str, list[LineItem]] = {}
        p, x = assessment_parties, assessment_lines
        for chunk in _chunks(ids):
            for pr in await self._session.execute(
                sa.select(p).where(p.c.assessment_id.in_(chunk)).order_by(p.c.assessment_id, p.c.position)
            ):
                parties.setdefault(pr.assessment_id, []).append(_party(pr))
            for lr in await self._session.execute(
                sa.select(x).where(x.c.assessment_id.in_(chunk)).order_by(x.c.assessment_id, x.c.position)
            ):
                lines.setdefault(lr.assessment_id, []).append(_line(lr))
        found: list[Assessment] = []
        for r in rows:
            fresh = _assessment(r, parties.get(r.id, ()), lines.get(r.id, ()))
            tracked = self._track(fresh)
            assert tracked is not None
            if tracked is fresh:
                self._remember(fresh)
            found.append(tracked)
        return found

    def _remember(self, a: Assessment) -> None:
        self._stored[a.id] = (a.lines, a.determination.parties if a.determination else ())
        self._projections[a.id] = rollups.projection(a)

    # -- writing ---------------------------------------------------------------------------

    async def flush(self) -> None:
        await super().flush()
        await self._write_rollups()

    async def _insert(self, a: Assessment) -> None:
        await self._session.execute(sa.insert(assessments).values(id=a.id, **_assessment_values(a)))
        if parties := _party_rows(a):
            await self._session.execute(sa.insert(assessment_parties), parties)
        if lines := _line_rows(a):
            await self._session.execute(sa.insert(assessment_lines), lines)
        self._remember(a)
        rollups.accumulate(self._rollups, rollups.contributions(self._projections[a.id]).items())

    async def _update(self, a: Assessment, expected_version: int) -> None:
        await versioned_update(
            self._session,
            assessments,
            assessments.c.id == a.id,
            entity=a.entity,
            identity=a.id,
            expected_version=expected_version,
            values=_assessment_values(a),
        )
        lines, parties = self._stored.get(a.id, (None, None))
        if lines != a.lines:
            await self._session.execute(sa.delete(assessment_lines).where(assessment_lines.c.assessment_id == a.id))
            if rows := _line_rows(a):
                await self._session.execute(sa.insert(assessment_lines), rows)
        if parties != (a.determination.parties if a.determination else ()):
            await self._session.execute(sa.delete(assessment_parties).where(assessment_parties.c.assessment_id == a.id))
            if rows := _party_rows(a):
                await self._session.execute(sa.insert(assessment_parties), rows)
        before = self._projections[a.id]  # as loaded: the versioned update proved it is what was stored
        self._remember(a)
        changed = rollups.difference(rollups.contributions(self._projections[a.id]), rollups.contributions(before))
        rollups.accumulate(self._rollups, changed.items())

    async def _write_rollups(self) -> None:
        """One upsert per changed key, in key order (concurrent writers lock them in one order)."""
        pending, self._rollups = self._rollups, {}
        changes = [(key, delta) for key, delta in sorted(pending.items()) if any(delta)]
        if changes:
            dialect = self._session.get_bind().dialect.name
            await self._session.execute(upsert_statement(stats_cost, dialect), rollup_rows(changes))


class SqlPeriodRepository(PeriodRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, factory: str, period: str, *, lock: bool = True) -> LedgerPeriod | None:
        identity = f"{factory}/{period}"
        for added in self._added:  # added by this unit of work, written at its commit
            if added.identity == identity:
                return added
        known = self._loaded.get(identity)
        if known is not None:  # locked already
            return known[0]
        t = ledger_periods
        stmt = sa.select(t).where(t.c.factory == factory, t.c.period == period)
        row = (await self._session.execute(stmt.with_for_update() if lock else stmt)).first()
        if row is None:
            return None
        return self._track(
            LedgerPeriod(
                factory=row.factory,
                period=row.period,
                state=PeriodState(row.state),
                closed_at=row.closed_at,
                closed_by=row.closed_by,
                totals=dict(row.totals or {}),
                version=row.version,
            )
        )

    async def closed_periods(self, factory: str) -> list[str]:
        t = ledger_periods
        found = await self._session.execute(
            sa.select(t.c.period)
            .where(t.c.factory == factory, t.c.state == PeriodState.CLOSED.value)
            .order_by(t.c.period)
        )
        return list(found.scalars().all())

    @staticmethod
    def _values(p: LedgerPeriod) -> dict[str, Any]:
        return {
            "state": p.state.value,
            "closed_at": p.closed_at,
            "closed_by": p.closed_by,
            "totals": dict(p.totals),
            "version": p.version,
        }

    async def _insert(self, p: LedgerPeriod) -> None:
        await self._session.execute(
            sa.insert(ledger_periods).values(factory=p.factory, period=p.period, **self._values(p))
        )

    async def _update(self, p: LedgerPeriod, expected_version: int) -> None:
        t = ledger_periods
        await versioned_update(
            self._session,
            t,
            sa.and_(t.c.factory == p.factory, t.c.period == p.period),
            entity=p.entity,
            identity=p.identity,
            expected_version=expected_version,
            values=self._values(p),
        )
