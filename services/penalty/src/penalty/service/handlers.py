"""Use cases of penalty: each runs in one unit of work."""

from __future__ import annotations

from penalty.domain.model import Assessment, Determination
from penalty.service.unit_of_work import PenaltyUnitOfWork


async def open_assessment(
    uow: PenaltyUnitOfWork, assessment_id: str, determination: Determination, *, why: str
) -> None:
    """An assessment for a responsibility determination (once per determination event)."""
    async with uow:
        if await uow.assessments.get(assessment_id) is not None:
            return
        uow.assessments.add(Assessment.open(assessment_id, determination, at=uow.clock.now(), reason=why))
        await uow.commit()


async def assessments_of(uow: PenaltyUnitOfWork, number: str) -> list[Assessment]:
    async with uow:
        return await uow.assessments.for_complaint(number, uow.actor.factories)
