"""Money and time columns on both databases: Money is an exact decimal (never float),
times are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cqm_shared.db import Money, UTCDateTime, create_engine, new_metadata

metadata = new_metadata()
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)


async def test_money_is_exact_and_rounded_half_up_and_times_come_back_in_utc(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            beijing = timezone(timedelta(hours=8))
            await conn.execute(
                sa.insert(ledger),
                [
                    {"id": 1, "amount": Decimal("12345678901.10"), "at": datetime(2026, 11, 21, 8, 0, tzinfo=beijing)},
                    {"id": 2, "amount": Decimal("0.005"), "at": datetime(2026, 11, 21, 0, 0, tzinfo=UTC)},
                    {"id": 3, "amount": Decimal("2.675"), "at": datetime(2026, 11, 21, 0, 0, tzinfo=UTC)},
                ],
            )
            rows = (await conn.execute(sa.select(ledger).order_by(ledger.c.id))).all()
    finally:
        await engine.dispose()
    # a float would give 12345678901.099999... and 2.67; 四舍五入 gives .01 and 2.68
    assert [r.amount for r in rows] == [Decimal("12345678901.10"), Decimal("0.01"), Decimal("2.68")]
    assert all(isinstance(r.amount, Decimal) for r in rows)
    assert rows[0].at == datetime(2026, 11, 21, 0, 0, tzinfo=UTC) and rows[0].at.tzinfo is not None


def test_floats_and_naive_times_are_refused_before_they_reach_the_database() -> None:
    dialect = sa.dialects.sqlite.dialect()
    with pytest.raises(TypeError):
        Money().process_bind_param(1.1, dialect)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 11, 21), dialect)
