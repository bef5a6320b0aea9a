"""What a case adds to the statistics rollups (the `stats_*` tables of orm.py). Pure.

A case's *projection* is the handful of facts the rollups count; the repository builds the one
stored before a change (from the rows) and the one after it (from the `Case`), and upserts the
difference. Counting the difference keeps every rollup equal to a GROUP BY over the rows, however
many times a case changes, reopens or has its determination replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from investigation.domain.model import Case
from investigation.domain.records import Party, PartyKind

MAX_CYCLE_DAYS = 365  # the last bucket of stats_cycle_days holds "a year or more"
WITHDRAWN = "withdrawn"  # a withdrawn case was not handled to its end: no cycle time

# (table name, key columns' values) -> the counters' increments, in the table's column order
Key = tuple[str, tuple[str | int, ...]]
Deltas = dict[Key, tuple[int, ...]]


@dataclass(frozen=True)
class DeadlineFacts:
    milestone: str
    state: str
    due_at: datetime
    met_at: datetime | None


@dataclass(frozen=True)
class PartyFacts:
    kind: str
    name: str
    department: str | None
    share: Decimal

    @property
    def department_key(self) -> str:
        """As `Responsibility.departments` names it; '' for a party without a department."""
        return self.department or (self.name if self.kind == PartyKind.DEPARTMENT.value else "")


@dataclass(frozen=True)
class Projection:
    factory: str
    month: int  # yyyymm of opening
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    cause_class: str | None
    loss_class: str | None
    loss_amount: Decimal | None
    parties: tuple[PartyFacts, ...]
    deadlines: tuple[DeadlineFacts, ...]


def month_of(at: datetime, zone: tzinfo) -> int:
    local = at.astimezone(zone)
    return local.year * 100 + local.month


def hundredths(value: Decimal) -> int:
    """Money in fen, shares in hundredths of a percent: as the Money/Percent columns round them."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def party_facts(party: Party) -> PartyFacts:
    return PartyFacts(party.kind.value, party.name, party.department, party.share)


def projection(case: Case, month: int) -> Projection:
    resp = case.records.responsibility
    return Projection(
        factory=case.factory,
        month=month,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        cause_class=resp.cause_class.value if resp else None,
        loss_class=resp.loss_class.value if resp else None,
        loss_amount=resp.loss_amount if resp else None,
        parties=tuple(party_facts(p) for p in resp.parties) if resp else (),
        deadlines=tuple(DeadlineFacts(d.milestone, d.state.value, d.due_at, d.met_at) for d in case.deadlines),
    )


def milestone_group(milestone: str) -> str:
    """`action:A3` counts as `action`: one line for all corrective actions."""
    return milestone.split(":", 1)[0]


def cycle_seconds(opened_at: datetime, closed_at: datetime) -> int:
    return (closed_at - opened_at) // timedelta(seconds=1)


def cycle_days(seconds: int) -> int:
    return min(max(seconds // 86400, 0), MAX_CYCLE_DAYS)


def contributions(p: Projection) -> Deltas:
    """Every rollup counter this case adds to."""
    out: dict[Key, list[int]] = {}

    def add(table: str, key: tuple[str | int, ...], *values: int) -> None:
        counters = out.setdefault((table, (p.factory, p.month, *key)), [0] * len(values))
        for i, value in enumerate(values):
            counters[i] += value

    seconds = cycle_seconds(p.opened_at, p.closed_at) if p.closed_at is not None else 0
    add("stats_cases", (p.outcome or "",), 1, seconds)
    if p.closed_at is not None and p.outcome != WITHDRAWN:
        add("stats_cycle_days", (cycle_days(seconds),), 1)
    for d in p.deadlines:
        if d.state == "met" and d.met_at is not None:
            on_time = d.met_at <= d.due_at
            add("stats_deadlines", (milestone_group(d.milestone),), int(on_time), int(not on_time), 0)
        elif d.state == "cancelled":
            add("stats_deadlines", (milestone_group(d.milestone),), 0, 0, 1)
    shares: dict[str, int] = {}
    for party in p.parties:
        shares[party.department_key] = shares.get(party.department_key, 0) + hundredths(party.share)
    for department, share in shares.items():
        add("stats_departments", (department,), 1, share)
    loss = hundredths(p.loss_amount) if p.loss_amount is not None else 0
    if p.cause_class is not None:
        add("stats_accidents", ("cause", p.cause_class), 1, loss)
    if p.loss_class is not None:
        add("stats_accidents", ("loss", p.loss_class), 1, loss)
    return {key: tuple(values) for key, values in out.items()}


def difference(new: Mapping[Key, tuple[int, ...]], old: Mapping[Key, tuple[int, ...]]) -> Deltas:
    """new − old, without the keys that did not change."""
    out: Deltas = {}
    for key in new.keys() | old.keys():
        after, before = new.get(key), old.get(key)
        width = len(after or before or ())
        delta = tuple(a - b for a, b in zip(after or (0,) * width, before or (0,) * width, strict=True))
        if any(delta):
            out[key] = delta
    return out


def accumulate(into: dict[Key, tuple[int, ...]], deltas: Iterable[tuple[Key, tuple[int, ...]]]) -> None:
    for key, delta in deltas:
        known = into.get(key)
        into[key] = delta if known is None else tuple(a + b for a, b in zip(known, delta, strict=True))
