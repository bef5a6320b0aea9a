"""Assessments in the penalty database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqm_shared.sql_uow import versioned_update
from penalty.adapters.orm import assessment_parties, assessments
from penalty.domain.model import Assessment, AssessmentStatus, Determination, Party
from penalty.service.unit_of_work import AssessmentRepository


class SqlAssessmentRepository(AssessmentRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def get(self, assessment_id: str) -> Assessment | None:
        row = (await self._session.execute(sa.select(assessments).where(assessments.c.id == assessment_id))).first()
        if row is None:
            return None
        return self._track((await self._load([row]))[0])

    async def for_complaint(self, number: str, factories: frozenset[str] | None) -> list[Assessment]:
        stmt = sa.select(assessments).where(assessments.c.number == number).order_by(assessments.c.received_at)
        if factories is not None:
            stmt = stmt.where(assessments.c.factory.in_(sorted(factories)))
        return await self._load(list((await self._session.execute(stmt)).all()))

    async def _load(self, rows: list[sa.Row[Any]]) -> list[Assessment]:
        if not rows:
            return []
        p = assessment_parties
        party_rows = (
            await self._session.execute(
                sa.select(p)
                .where(p.c.assessment_id.in_([r.id for r in rows]))
                .order_by(p.c.assessment_id, p.c.position)
            )
        ).all()
        parties: dict[str, list[Party]] = {}
        for pr in party_rows:
            parties.setdefault(pr.assessment_id, []).append(
                Party(kind=pr.kind, name=pr.name, share=pr.share, department=pr.department, role=pr.role)
            )
        return [
            Assessment(
                id=r.id,
                number=r.number,
                factory=r.factory,
                status=AssessmentStatus(r.status),
                determination=Determination(
                    number=r.number,
                    factory=r.factory,
                    determined_at=r.determined_at,
                    accident_class=r.accident_class,
                    loss_amount=r.loss_amount,
                    parties=tuple(parties.get(r.id, ())),
                    rule_codes=tuple(r.rule_codes),
                ),
                received_at=r.received_at,
                version=r.version,
            )
            for r in rows
        ]

    async def _insert(self, a: Assessment) -> None:
        d = a.determination
        await self._session.execute(
            sa.insert(assessments).values(
                id=a.id,
                number=a.number,
                factory=a.factory,
                status=a.status.value,
                accident_class=d.accident_class,
                loss_amount=d.loss_amount,
                determined_at=d.determined_at,
                rule_codes=list(d.rule_codes),
                received_at=a.received_at,
                version=a.version,
            )
        )
        await self._session.execute(
            sa.insert(assessment_parties),
            [
                {
                    "assessment_id": a.id,
                    "position": i,
                    "kind": p.kind,
                    "name": p.name,
                    "department": p.department,
                    "role": p.role,
                    "share": p.share,
                }
                for i, p in enumerate(d.parties)
            ],
        )

    async def _update(self, a: Assessment, expected_version: int) -> None:
        await versioned_update(
            self._session,
            assessments,
            assessments.c.id == a.id,
            entity=a.entity,
            identity=a.id,
            expected_version=expected_version,
            values={"status": a.status.value, "version": a.version},
        )
