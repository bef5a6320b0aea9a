"""What an assessment adds to the cost rollup (`stats_cost` of orm.py). Pure.

The cost of poor quality (质量成本, DOMAIN.md §6) is compensation + penalties per factory, month
and responsible department. An assessment's *projection* is the handful of stored facts the
rollup counts; the repository takes the projection it loaded (what is stored) and the one it
writes, and upserts the difference of their contributions in the same transaction. Counting the
difference keeps the rollup equal to the monthly ledger (`handlers._entries`) however often an
assessment is appealed, decided, approved, superseded or voided:

- it counts in its own period while it is draft, appealed or approved, and stays counted there
  once it was replaced after that period closed (its `reversal_period` is set);
- it is reversed (every figure negated) in its `reversal_period`.

Per department: fines (LineKind.FINE) and suppliers' charge-backs (CHARGE_BACK) by the line's
department ('' for a line without one: charge-backs, lines of a breach without a department);
the compensation (the determination's loss amount) split by the parties' shares, each party in
the department its lines name (the organisation directory's name, not an alias), a supplier's
share in ''. Everything in fen (integer hundredths of a yuan, rounded half up as the Money
columns store it), so the split always sums to the loss exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from penalty.domain.model import COUNTED, Assessment
from penalty.domain.terms import LineKind

# (factory, period yyyy-mm, department) -> counters, in COUNTERS order
Key = tuple[str, str, str]
Deltas = dict[Key, tuple[int, ...]]
COUNTERS = ("compensation_fen", "fines_fen", "charge_backs_fen", "lines")
COUNTED_STATUSES = frozenset(s.value for s in COUNTED)
MONEY_KINDS = (LineKind.FINE.value, LineKind.CHARGE_BACK.value)


def fen(value: Decimal) -> int:
    """Yuan to fen, as the Money columns round them (四舍五入)."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def hundredths(value: Decimal) -> int:
    """A share in hundredths of a percent, as the Percent column rounds it."""
    return fen(value)


@dataclass(frozen=True)
class LineFacts:
    kind: str
    department: str | None
    party: str | None
    amount: Decimal


@dataclass(frozen=True)
class PartyFacts:
    kind: str
    name: str
    department: str | None  # the party's department, or its name when the party is a department
    share: Decimal


@dataclass(frozen=True)
class Projection:
    factory: str
    status: str
    period: str
    reversal_period: str | None
    loss_amount: Decimal  # the determination's compensation; 0 for a breach
    parties: tuple[PartyFacts, ...]
    lines: tuple[LineFacts, ...]


def projection(a: Assessment) -> Projection:
    d = a.determination
    return Projection(
        factory=a.factory,
        status=a.status.value,
        period=a.period,
        reversal_period=a.reversal_period,
        loss_amount=d.loss_amount if d is not None else Decimal(0),
        parties=tuple(PartyFacts(p.kind, p.name, p.department_name, p.share) for p in d.parties) if d else (),
        lines=tuple(LineFacts(x.kind.value, x.department, x.party, x.amount) for x in a.lines),
    )


def placements(p: Projection) -> list[tuple[str, int]]:
    """(period, sign): where the ledger counts the assessment (+1) and reverses it (−1)."""
    out = []
    if p.status in COUNTED_STATUSES or p.reversal_period is not None:
        out.append((p.period, 1))
    if p.reversal_period is not None and p.reversal_period != p.period:
        out.append((p.reversal_period, -1))
    return out


def party_department(party: PartyFacts, lines: Iterable[LineFacts]) -> str:
    """The department a party's share of the compensation goes to: '' for a supplier; else the
    department its own lines name (the directory's canonical name), else the one it was given."""
    if party.kind == "supplier":
        return ""
    named = [x.department for x in lines if x.party == party.name and x.department]
    if party.department in named or not named:
        return party.department or ""
    return named[0]


def split(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` in proportion to `weights`, in whole units summing exactly to `total`: each its
    floor, the rest one by one to the largest remainders (ties: in key order)."""
    whole = sum(weights.values())
    if total == 0:
        return {}
    if whole <= 0:
        return {"": total}
    out = {key: total * w // whole for key, w in weights.items()}
    rest = total - sum(out.values())
    for key in sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))[:rest]:
        out[key] += 1
    return out


def compensation(p: Projection) -> dict[str, int]:
    """The loss in fen per department, by the parties' shares."""
    weights: dict[str, int] = {}
    for party in p.parties:
        department = party_department(party, p.lines)
        weights[department] = weights.get(department, 0) + hundredths(party.share)
    return split(fen(p.loss_amount), weights)


def amounts(p: Projection) -> dict[str, tuple[int, ...]]:
    """Per department: compensation, fines, charge-backs (fen) and money lines, unsigned."""
    out: dict[str, list[int]] = {}

    def counters(department: str | None) -> list[int]:
        return out.setdefault(department or "", [0] * len(COUNTERS))

    for department, value in compensation(p).items():
        counters(department)[0] += value
    for line in p.lines:
        if line.kind in MONEY_KINDS:
            row = counters(line.department)
            row[1 if line.kind == LineKind.FINE.value else 2] += fen(line.amount)
            row[3] += 1
    return {department: tuple(values) for department, values in out.items()}


def contributions(p: Projection) -> Deltas:
    """Every rollup counter this assessment adds to."""
    out: dict[Key, list[int]] = {}
    figures = amounts(p)
    for period, sign in placements(p):
        for department, values in figures.items():
            counters = out.setdefault((p.factory, period, department), [0] * len(COUNTERS))
            for i, value in enumerate(values):
                counters[i] += sign * value
    return {key: tuple(values) for key, values in out.items() if any(values)}


def difference(new: Mapping[Key, tuple[int, ...]], old: Mapping[Key, tuple[int, ...]]) -> Deltas:
    """new − old, without the keys that did not change."""
    out: Deltas = {}
    zero = (0,) * len(COUNTERS)
    for key in new.keys() | old.keys():
        delta = tuple(a - b for a, b in zip(new.get(key, zero), old.get(key, zero), strict=True))
        if any(delta):
            out[key] = delta
    return out


def accumulate(into: dict[Key, tuple[int, ...]], deltas: Iterable[tuple[Key, tuple[int, ...]]]) -> None:
    for key, delta in deltas:
        known = into.get(key)
        into[key] = delta if known is None else tuple(a + b for a, b in zip(known, delta, strict=True))
