"""Reading and writing investigation cases."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.contracts.complaint import ComplaintRecord
from cqm_shared.contracts.events import Deadline
from investigation.adapters.orm import case_history, cases
from investigation.domain.model import Case, CaseState, Transition


async def exists(session: AsyncSession, number: str) -> bool:
    row = await session.execute(sa.select(cases.c.number).where(cases.c.number == number))
    return row.first() is not None


async def add(session: AsyncSession, case: Case) -> None:
    await session.execute(
        sa.insert(cases).values(
            number=case.number,
            factory=case.factory,
            state=case.state.value,
            opened_at=case.opened_at,
            updated_at=case.opened_at,
            complaint=case.complaint.model_dump(mode="json"),
            deadlines=[d.model_dump(mode="json") for d in case.deadlines],
        )
    )
    for t in case.history:
        await session.execute(
            sa.insert(case_history).values(
                number=case.number,
                at=t.at,
                actor=t.actor,
                action=t.action,
                from_state=t.from_state.value if t.from_state else None,
                to_state=t.to_state.value,
                reason=t.reason,
            )
        )


async def get(session: AsyncSession, number: str) -> Case | None:
    row = (await session.execute(sa.select(cases).where(cases.c.number == number))).first()
    if row is None:
        return None
    history = (
        await session.execute(
            sa.select(case_history).where(case_history.c.number == number).order_by(case_history.c.id)
        )
    ).all()
    return Case(
        number=row.number,
        factory=row.factory,
        state=CaseState(row.state),
        opened_at=row.opened_at,
        complaint=ComplaintRecord.model_validate(row.complaint),
        deadlines=[Deadline.model_validate(d) for d in row.deadlines],
        history=[
            Transition(
                at=h.at,
                actor=h.actor,
                action=h.action,
                from_state=CaseState(h.from_state) if h.from_state else None,
                to_state=CaseState(h.to_state),
                reason=h.reason,
            )
            for h in history
        ],
    )
