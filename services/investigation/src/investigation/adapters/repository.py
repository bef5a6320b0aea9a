"""Cases in the investigation database: the case row, one row per deadline, the history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import versioned_update
from investigation.adapters.orm import case_deadlines, case_history, cases
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
from investigation.service.unit_of_work import CaseRepository


class SqlCaseRepository(CaseRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def exists(self, number: str) -> bool:
        found = await self._session.execute(sa.select(cases.c.number).where(cases.c.number == number))
        return found.first() is not None

    async def get(self, number: str) -> Case | None:
        row = (await self._session.execute(sa.select(cases).where(cases.c.number == number))).first()
        if row is None:
            return None
        d, h = case_deadlines, case_history
        deadlines = (
            await self._session.execute(sa.select(d).where(d.c.number == number).order_by(d.c.due_at, d.c.milestone))
        ).all()
        history = (await self._session.execute(sa.select(h).where(h.c.number == number).order_by(h.c.id))).all()
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
                ),
                deadlines=tuple(
                    Deadline(
                        milestone=r.milestone,
                        due_at=r.due_at,
                        source=r.source,
                        state=DeadlineState(r.state),
                        met_at=r.met_at,
                        cancelled_at=r.cancelled_at,
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
            )
        )

    async def _insert(self, case: Case) -> None:
        c = case.complaint
        await self._session.execute(
            sa.insert(cases).values(
                number=case.number,
                factory=case.factory,
                state=case.state.value,
                opened_at=case.opened_at,
                updated_at=case.updated_at,
                version=case.version,
                registered_at=c.registered_at,
                received_at=c.received_at,
                market_region=c.region.value,
                market_province=c.province.value if c.province else None,
                request_kind=c.request_kind,
                batch_return=c.batch_return,
                customer_company=c.customer_company,
                part_number=c.part_number,
                product_model=c.product_model,
                phenomenon=c.phenomenon,
            )
        )
        if case.deadlines:
            await self._session.execute(sa.insert(case_deadlines), [_deadline_row(case, d) for d in case.deadlines])
        await self._append_history(case, case.history)

    async def _update(self, case: Case, expected_version: int) -> None:
        await versioned_update(
            self._session,
            cases,
            cases.c.number == case.number,
            entity=case.entity,
            identity=case.number,
            expected_version=expected_version,
            values={"state": case.state.value, "updated_at": case.updated_at, "version": case.version},
        )
        d = case_deadlines
        stored = set((await self._session.execute(sa.select(d.c.milestone).where(d.c.number == case.number))).scalars())
        for deadline in case.deadlines:
            row = _deadline_row(case, deadline)
            if deadline.milestone in stored:
                await self._session.execute(
                    sa.update(d).where(d.c.number == case.number, d.c.milestone == deadline.milestone).values(**row)
                )
            else:
                await self._session.execute(sa.insert(d).values(**row))
        # History is append-only: write the transitions made since the case was stored.
        written = (
            await self._session.execute(
                sa.select(sa.func.count()).select_from(case_history).where(case_history.c.number == case.number)
            )
        ).scalar_one()
        await self._append_history(case, case.history[written:])

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


def _deadline_row(case: Case, d: Deadline) -> dict[str, Any]:
    return {
        "number": case.number,
        "milestone": d.milestone,
        "due_at": d.due_at,
        "state": d.state.value,
        "source": d.source,
        "met_at": d.met_at,
        "cancelled_at": d.cancelled_at,
    }
