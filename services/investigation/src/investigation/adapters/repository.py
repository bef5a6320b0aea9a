"""Cases in the investigation database.

A case is its `cases` row (complaint facts, state, the records as JSON), one row per deadline
and the append-only history; `get()` returns exactly the `Case` that was saved. Each save also
keeps the projections in step (queryable columns, parties, actions) and adds the change's
difference to the statistics rollups, in the same transaction (see rollups.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.domain import StaleVersion
from cqm_shared.sql_uow import versioned_update
from investigation.adapters import rollups
from investigation.adapters.orm import ROLLUPS, case_actions, case_deadlines, case_history, case_parties, cases
from investigation.domain import listing
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort, Position
from investigation.domain.model import (
    Case,
    CaseState,
    ComplaintFacts,
    Deadline,
    DeadlineState,
    Province,
    Region,
    Transition,
)
from investigation.domain.records import PartyKind, Records
from investigation.service.unit_of_work import CaseRepository

RECORDS: TypeAdapter[Records] = TypeAdapter(Records)
ROLLUP_TABLES = {table.name: table for table in ROLLUPS}


def _times(value: Any, convert: Callable[[datetime], datetime]) -> Any:
    """`value` with every datetime inside it (nested frozen dataclasses, tuples) converted."""
    if isinstance(value, datetime):
        return convert(value)
    if isinstance(value, tuple):
        return tuple(_times(v, convert) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = {f.name: _times(getattr(value, f.name), convert) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changed)
    return value


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime in the case records; all times must be timezone-aware")
    return at


def records_json(records: Records) -> Any:
    """JSON of the records: Decimals as exact strings, times as ISO 8601 with their offset."""
    _times(records, _aware)
    return RECORDS.dump_python(records, mode="json")


def records_of(data: Any) -> Records:
    """The records back, every time aware UTC (pydantic returns its own fixed-offset zone)."""
    records: Records = _times(RECORDS.validate_python(data or {}), lambda at: at.astimezone(UTC))
    return records


class SqlCaseRepository(CaseRepository):
    """`month_zone` says in which time zone a factory's months begin (the rollups' month of a case)."""

    def __init__(self, session: AsyncSession, month_zone: Callable[[str], tzinfo] = lambda _factory: UTC) -> None:
        super().__init__()
        self._session = session
        self._month_zone = month_zone
        self._rollups: rollups.Deltas = {}  # this flush's changes, written at its end in key order

    async def exists(self, number: str) -> bool:
        found = await self._session.execute(sa.select(cases.c.number).where(cases.c.number == number))
        return found.first() is not None

    async def get(self, number: str) -> Case | None:
        row = (await self._session.execute(sa.select(cases).where(cases.c.number == number))).first()
        if row is None:
            return None
        d, h = case_deadlines, case_history
        deadlines = await self._session.execute(
            sa.select(d).where(d.c.number == number).order_by(d.c.position, d.c.due_at, d.c.milestone, d.c.round)
        )
        history = await self._session.execute(sa.select(h).where(h.c.number == number).order_by(h.c.id))
        return self._track(
            Case(
                number=row.number,
                factory=row.factory,
                state=CaseState(row.state),
                complaint=ComplaintFacts(
                    number=row.number,
                    factory=row.factory,
                    registered_at=row.registered_at,
                    received_at=row.received_at,
                    region=Region(row.market_region),
                    province=Province(row.market_province) if row.market_province else None,
                    phenomenon=row.phenomenon,
                    customer_company=row.customer_company,
                    part_number=row.part_number,
                    product_model=row.product_model,
                    request_kind=row.request_kind,
                    batch_return=bool(row.batch_return),
                    quantity_defective=row.quantity_defective,
                ),
                deadlines=tuple(
                    Deadline(
                        milestone=r.milestone,
                        due_at=r.due_at,
                        source=r.source,
                        state=DeadlineState(r.state),
                        met_at=r.met_at,
                        cancelled_at=r.cancelled_at,
                        round=r.round,
                    )
                    for r in deadlines
                ),
                opened_at=row.opened_at,
                updated_at=row.updated_at,
                history=[
                    Transition(
                        at=t.at,
                        actor=t.actor,
                        action=t.action,
                        from_state=CaseState(t.from_state) if t.from_state else None,
                        to_state=CaseState(t.to_state),
                        reason=t.reason,
                    )
                    for t in history
                ],
                version=row.version,
                records=records_of(row.records),
                round=row.round,
                closed_at=row.closed_at,
                outcome=row.outcome,
            )
        )

    async def flush(self) -> None:
        await super().flush()
        await self._write_rollups()

    # -- the case list -------------------------------------------------------------------------

    async def search(
        self, f: CaseFilter, *, sort: CaseSort, after: Position | None, limit: int, now: datetime
    ) -> list[CaseLine]:
        """The page is cut from the `cases` indexes in the list's order (next due time, or opening
        time, then the number); only its cases' pending deadlines and parties are then read."""
        c = cases
        where = _list_where(f, now)
        newest = (c.c.opened_at.desc(), c.c.number.desc())
        rows: list[Any] = []
        if sort is CaseSort.DUE and (after is None or after.due):
            due = [*where, c.c.next_due_at.is_not(None)]
            if after is not None:
                due.append(_row(c.c.next_due_at, c.c.number) > _values(c.c.next_due_at, after))
            rows = await self._lines(sa.select(*_LINE).where(*due).order_by(c.c.next_due_at, c.c.number).limit(limit))
            after = None
            if len(rows) == limit or f.overdue or f.due_before is not None:
                return await self._complete(rows, now)  # the cases without a pending deadline match neither
            where.append(c.c.next_due_at.is_(None))
        elif sort is CaseSort.DUE:
            where.append(c.c.next_due_at.is_(None))
        if after is not None:
            where.append(_row(c.c.opened_at, c.c.number) < _values(c.c.opened_at, after))
        rows += await self._lines(sa.select(*_LINE).where(*where).order_by(*newest).limit(limit - len(rows)))
        return await self._complete(rows, now)

    async def _lines(self, statement: sa.Select[Any]) -> list[Any]:
        return list((await self._session.execute(statement)).all())

    async def _complete(self, rows: Sequence[Any], now: datetime) -> list[CaseLine]:
        """The lines of a page: each case's pending deadlines and determination's departments."""
        numbers = [r.number for r in rows]
        if not numbers:
            return []
        d, p = case_deadlines, case_parties
        pending: dict[str, list[Deadline]] = {n: [] for n in numbers}
        for dl in await self._session.execute(
            sa.select(d.c.number, d.c.milestone, d.c.round, d.c.due_at, d.c.source).where(
                d.c.number.in_(numbers), d.c.state == DeadlineState.PENDING.value
            )
        ):
            pending[dl.number].append(Deadline(dl.milestone, dl.due_at, dl.source, round=dl.round))
        departments: dict[str, set[str]] = {n: set() for n in numbers}
        for party in await self._session.execute(
            sa.select(p.c.number, p.c.kind, p.c.name, p.c.department).where(p.c.number.in_(numbers))
        ):
            named = party.department or (party.name if party.kind == PartyKind.DEPARTMENT.value else None)
            if named:
                departments[party.number].add(named)
        out = []
        for r in rows:
            mine = pending[r.number]
            upcoming = min(mine, key=lambda x: (x.due_at, x.milestone, x.round), default=None)
            out.append(
                CaseLine(
                    number=r.number,
                    factory=r.factory,
                    state=r.state,
                    severity=r.severity,
                    responsible_department=r.responsible_department,
                    departments=tuple(sorted(departments[r.number])),
                    opened_at=r.opened_at,
                    next_deadline=upcoming,
                    overdue=upcoming is not None and upcoming.due_at < now,
                    pending_deadlines=len(mine),
                    overdue_deadlines=sum(x.due_at < now for x in mine),
                )
            )
        return out

    # -- insert ------------------------------------------------------------------------------

    async def _insert(self, case: Case) -> None:
        month = rollups.month_of(case.opened_at, self._month_zone(case.factory))
        await self._session.execute(sa.insert(cases).values(number=case.number, **_case_values(case, month)))
        if case.deadlines:
            await self._session.execute(
                sa.insert(case_deadlines),
                [_deadline_row(case, month, d, i) for i, d in enumerate(case.deadlines)],
            )
        if parties := _party_rows(case):
            await self._session.execute(sa.insert(case_parties), parties)
        if actions := _action_rows(case):
            await self._session.execute(sa.insert(case_actions), actions)
        await self._append_history(case, case.history)
        rollups.accumulate(self._rollups, rollups.contributions(rollups.projection(case, month)).items())

    # -- update ------------------------------------------------------------------------------

    async def _update(self, case: Case, expected_version: int) -> None:
        number = case.number
        # Locked first (PostgreSQL: FOR UPDATE; SQLite: the writer holds the database), so the
        # stored projection read here is the one this update replaces.
        stored = (
            await self._session.execute(
                sa.select(
                    cases.c.version,
                    cases.c.opened_month,
                    cases.c.opened_at,
                    cases.c.closed_at,
                    cases.c.outcome,
                    cases.c.cause_class,
                    cases.c.loss_class,
                    cases.c.loss_amount,
                )
                .where(cases.c.number == number)
                .with_for_update()
            )
        ).first()
        if stored is None or stored.version != expected_version:
            raise StaleVersion(case.entity, number, expected_version, None if stored is None else stored.version)
        month: int = stored.opened_month
        await versioned_update(
            self._session,
            cases,
            cases.c.number == number,
            entity=case.entity,
            identity=number,
            expected_version=expected_version,
            values=_case_values(case, month),
        )
        old_deadlines = await self._write_deadlines(case, month)
        old_parties = await self._write_parties(case)
        await self._write_actions(case)
        # History is append-only: write the transitions made since the case was stored.
        written = (
            await self._session.execute(
                sa.select(sa.func.count()).select_from(case_history).where(case_history.c.number == number)
            )
        ).scalar_one()
        await self._append_history(case, case.history[written:])

        before = rollups.Projection(
            factory=case.factory,
            month=month,
            opened_at=stored.opened_at,
            closed_at=stored.closed_at,
            outcome=stored.outcome,
            cause_class=stored.cause_class,
            loss_class=stored.loss_class,
            loss_amount=stored.loss_amount,
            parties=old_parties,
            deadlines=old_deadlines,
        )
        after = rollups.projection(case, month)
        changed = rollups.difference(rollups.contributions(after), rollups.contributions(before))
        rollups.accumulate(self._rollups, changed.items())

    async def _write_deadlines(self, case: Case, month: int) -> tuple[rollups.DeadlineFacts, ...]:
        """Insert new deadline rows, update the changed ones; returns what was stored before."""
        d = case_deadlines
        stored = {
            (r.milestone, r.round): r._asdict()
            for r in await self._session.execute(sa.select(d).where(d.c.number == case.number))
        }
        fresh = {(dl.milestone, dl.round): _deadline_row(case, month, dl, i) for i, dl in enumerate(case.deadlines)}
        inserts = [row for key, row in fresh.items() if key not in stored]
        if inserts:
            await self._session.execute(sa.insert(d), inserts)
        for (milestone, round_), row in fresh.items():
            if (milestone, round_) in stored and stored[(milestone, round_)] != row:
                await self._session.execute(
                    sa.update(d)
                    .where(d.c.number == case.number, d.c.milestone == milestone, d.c.round == round_)
                    .values(**row)
                )
        gone = [key for key in stored if key not in fresh]  # the domain never drops one; kept exact anyway
        for milestone, round_ in gone:
            await self._session.execute(
                sa.delete(d).where(d.c.number == case.number, d.c.milestone == milestone, d.c.round == round_)
            )
        return tuple(
            rollups.DeadlineFacts(r["milestone"], r["state"], r["due_at"], r["met_at"]) for r in stored.values()
        )

    async def _write_parties(self, case: Case) -> tuple[rollups.PartyFacts, ...]:
        """Rewrite the parties when the determination changed; returns what was stored before."""
        p = case_parties
        stored = [r._asdict() for r in await self._session.execute(sa.select(p).where(p.c.number == case.number))]
        fresh = _party_rows(case)
        if _party_set(stored) != _party_set(fresh):
            await self._session.execute(sa.delete(p).where(p.c.number == case.number))
            if fresh:
                await self._session.execute(sa.insert(p), fresh)
        return tuple(rollups.PartyFacts(r["kind"], r["name"], r["department"], r["share"]) for r in stored)

    async def _write_actions(self, case: Case) -> None:
        a = case_actions
        stored = {r.id: r._asdict() for r in await self._session.execute(sa.select(a).where(a.c.number == case.number))}
        fresh = {row["id"]: row for row in _action_rows(case)}
        inserts = [row for key, row in fresh.items() if key not in stored]
        if inserts:
            await self._session.execute(sa.insert(a), inserts)
        for key, row in fresh.items():
            if key in stored and stored[key] != row:
                await self._session.execute(sa.update(a).where(a.c.number == case.number, a.c.id == key).values(**row))
        for key in stored.keys() - fresh.keys():
            await self._session.execute(sa.delete(a).where(a.c.number == case.number, a.c.id == key))

    async def _append_history(self, case: Case, transitions: list[Transition]) -> None:
        if not transitions:
            return
        await self._session.execute(
            sa.insert(case_history),
            [
                {
                    "number": case.number,
                    "at": t.at,
                    "actor": t.actor,
                    "action": t.action,
                    "from_state": t.from_state.value if t.from_state else None,
                    "to_state": t.to_state.value,
                    "reason": t.reason,
                }
                for t in transitions
            ],
        )

    # -- rollups -------------------------------------------------------------------------------

    async def _write_rollups(self) -> None:
        """One upsert per changed key, tables and keys in a fixed order (no lock-order deadlocks)."""
        pending, self._rollups = self._rollups, {}
        by_table: dict[str, list[tuple[tuple[str | int, ...], tuple[int, ...]]]] = {}
        for (name, key), delta in sorted(pending.items()):
            if any(delta):
                by_table.setdefault(name, []).append((key, delta))
        dialect = self._session.get_bind().dialect.name
        for table in ROLLUPS:
            changes = by_table.get(table.name)
            if changes:
                await self._session.execute(upsert_statement(table, dialect), _rollup_rows(table, changes))


_LINE = (
    cases.c.number,
    cases.c.factory,
    cases.c.state,
    cases.c.severity,
    cases.c.responsible_department,
    cases.c.opened_at,
    cases.c.next_due_at,
)


def _row(*columns: sa.ColumnElement[Any]) -> sa.Tuple:
    """A row value: `(a, b) > (x, y)` lets both databases seek the index to a keyset position."""
    return sa.tuple_(*columns)


def _values(time: sa.Column[Any], after: Position) -> sa.Tuple:
    return sa.tuple_(sa.literal(after.at, time.type), sa.literal(after.number, cases.c.number.type))


def _list_where(f: CaseFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    c, p = cases, case_parties
    where: list[sa.ColumnElement[bool]] = []
    if f.factories is not None:
        where.append(c.c.factory.in_(sorted(f.factories)))
    if f.states is not None:
        where.append(c.c.state.in_(sorted(f.states)))
    if f.department is not None:
        named = sa.or_(
            p.c.department == f.department,
            sa.and_(p.c.kind == PartyKind.DEPARTMENT.value, p.c.name == f.department),
        )
        where.append(
            sa.or_(
                c.c.responsible_department == f.department,
                sa.exists().where(p.c.number == c.c.number, named),
            )
        )
    if f.overdue is True:
        where.append(c.c.next_due_at < now)
    elif f.overdue is False:
        where.append(sa.or_(c.c.next_due_at.is_(None), c.c.next_due_at >= now))
    if f.due_before is not None:
        where.append(c.c.next_due_at < f.due_before)
    if f.number_prefix is not None:
        # exact on both databases (LIKE ignores case on SQLite, a collation may reorder text)
        where.append(sa.func.substr(c.c.number, 1, len(f.number_prefix)) == f.number_prefix)
    return where


def upsert_statement(table: sa.Table, dialect: str) -> Any:
    """`INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` (PostgreSQL, SQLite ≥ 3.24)."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    counters = [c for c in table.columns if not c.primary_key]
    return insert.on_conflict_do_update(
        index_elements=keys, set_={c.name: c + insert.excluded[c.name] for c in counters}
    )


def _rollup_rows(
    table: sa.Table, changes: Sequence[tuple[tuple[str | int, ...], tuple[int, ...]]]
) -> list[dict[str, Any]]:
    keys = [c.name for c in table.primary_key.columns]
    counters = [c.name for c in table.columns if not c.primary_key]
    return [dict(zip(keys, key, strict=True)) | dict(zip(counters, delta, strict=True)) for key, delta in changes]


def _case_values(case: Case, month: int) -> dict[str, Any]:
    """Every column of the case row but its number."""
    c = case.complaint
    triage = case.records.triage
    resp = case.records.responsibility
    return {
        "factory": case.factory,
        "state": case.state.value,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "version": case.version,
        "registered_at": c.registered_at,
        "received_at": c.received_at,
        "market_region": c.region.value,
        "market_province": c.province.value if c.province else None,
        "request_kind": c.request_kind,
        "batch_return": c.batch_return,
        "customer_company": c.customer_company,
        "part_number": c.part_number,
        "product_model": c.product_model,
        "phenomenon": c.phenomenon,
        "quantity_defective": c.quantity_defective,
        "round": case.round,
        "closed_at": case.closed_at,
        "outcome": case.outcome,
        "records": records_json(case.records),
        "opened_month": month,
        "severity": triage.severity.value if triage else None,
        "category": triage.category.value if triage else None,
        "valid": triage.valid if triage else None,
        "responsible_department": triage.responsible_department if triage else None,
        "cause_class": resp.cause_class.value if resp else None,
        "loss_class": resp.loss_class.value if resp else None,
        "loss_amount": resp.loss_amount if resp else None,
        "next_due_at": upcoming.due_at if (upcoming := listing.next_deadline(case)) else None,
    }


def _deadline_row(case: Case, month: int, d: Deadline, position: int) -> dict[str, Any]:
    return {
        "number": case.number,
        "milestone": d.milestone,
        "round": d.round,
        "position": position,
        "due_at": d.due_at,
        "state": d.state.value,
        "source": d.source,
        "met_at": d.met_at,
        "cancelled_at": d.cancelled_at,
        "factory": case.factory,
        "opened_month": month,
    }


def _party_rows(case: Case) -> list[dict[str, Any]]:
    resp = case.records.responsibility
    if resp is None:
        return []
    return [
        {
            "number": case.number,
            "kind": p.kind.value,
            "name": p.name,
            "sequence": resp.sequence,
            "department": p.department,
            "role": p.role,
            "share": p.share,
        }
        for p in resp.parties
    ]


def _party_set(rows: Sequence[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """Rows as compared: shares as the column rounds them."""
    return {
        (r["kind"], r["name"], r["sequence"], r["department"], r["role"], rollups.hundredths(r["share"])) for r in rows
    }


def _action_rows(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "number": case.number,
            "id": a.id,
            "kind": a.kind.value,
            "owner": a.owner,
            "due_at": a.due_at,
            "verified_at": a.verified_at,
            "round": a.round,
        }
        for a in case.records.actions
    ]
