"""The case list (案件列表, the console's "My work" 我的待办): what one line shows, which cases a
filter keeps and in which order. Pure: no I/O.

The repository answers the list from its own columns and indexes; these functions say what the
answer must be, and the in-memory repository of the unit tests answers from them directly.

- A case's *next deadline* is its earliest pending one (DOMAIN.md §3 "Deadlines"), by due time,
  then milestone and round. It is *overdue* when its due time has passed: the list judges that
  by the clock it is given, never by the wall clock.
- Sort `due`: cases by their next deadline, earliest first; the cases without a pending
  deadline come after all the others, newest first. Sort `opened`: newest first.
- Ties are broken by the case number, so every case has one place and a page ends at a
  `Position` (keyset pagination: the next page starts after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from investigation.domain.deadlines import Deadline
from investigation.domain.model import Case
from investigation.domain.records import PartyKind
from investigation.domain.transitions import CaseState

OPEN = "open"  # a pseudo state of the filter: every state but closed and withdrawn
ENDED = frozenset({CaseState.CLOSED, CaseState.WITHDRAWN})


def states_named(names: Iterable[str]) -> frozenset[str]:
    """The case states a `state` filter names, `open` spelled out."""
    found: set[str] = set()
    for name in names:
        found |= {s.value for s in CaseState if s not in ENDED} if name == OPEN else {CaseState(name).value}
    return frozenset(found)


class CaseSort(StrEnum):
    DUE = "due"  # next pending deadline first; the cases without one last, newest first
    OPENED = "opened"  # newest first


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a list shows; every part left None keeps all."""

    factories: frozenset[str] | None = None  # None: every factory
    states: frozenset[str] | None = None
    department: str | None = None  # triage's responsible department, or a party's of the determination
    overdue: bool | None = None  # True: a pending deadline past due; False: none
    due_before: datetime | None = None  # a pending deadline due before this time
    number_prefix: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ends. `due` says in which part of the `due` order: True among the cases with a
    pending deadline (`at` is the next one's due time), False among those without (`at` is the
    opening time). In the `opened` order `at` is always the opening time."""

    due: bool
    at: datetime
    number: str


@dataclass(frozen=True)
class CaseLine:
    """One line of the list."""

    number: str
    factory: str
    state: str
    severity: str | None
    responsible_department: str | None  # triage's (who receives the feedback slip)
    departments: tuple[str, ...]  # the current determination's, sorted
    opened_at: datetime
    next_deadline: Deadline | None
    overdue: bool  # the next deadline is past due
    pending_deadlines: int
    overdue_deadlines: int


def _deadline_order(d: Deadline) -> tuple[datetime, str, int]:
    return d.due_at, d.milestone, d.round


def next_deadline(case: Case) -> Deadline | None:
    return min((d for d in case.deadlines if d.pending), key=_deadline_order, default=None)


def departments_of(case: Case) -> tuple[str, ...]:
    """The departments the current determination names: a party's department, or the party
    itself when it is a department (DOMAIN.md §3.5)."""
    resp = case.records.responsibility
    named = {p.department or (p.name if p.kind is PartyKind.DEPARTMENT else None) for p in resp.parties} if resp else ()
    return tuple(sorted(n for n in named if n))


def line_of(case: Case, now: datetime) -> CaseLine:
    triage = case.records.triage
    pending = [d for d in case.deadlines if d.pending]
    upcoming = next_deadline(case)
    return CaseLine(
        number=case.number,
        factory=case.factory,
        state=case.state.value,
        severity=triage.severity.value if triage else None,
        responsible_department=triage.responsible_department if triage else None,
        departments=departments_of(case),
        opened_at=case.opened_at,
        next_deadline=upcoming,
        overdue=upcoming is not None and upcoming.due_at < now,
        pending_deadlines=len(pending),
        overdue_deadlines=sum(d.due_at < now for d in pending),
    )


def matches(line: CaseLine, f: CaseFilter, now: datetime) -> bool:
    due = line.next_deadline.due_at if line.next_deadline else None
    return (
        (f.factories is None or line.factory in f.factories)
        and (f.states is None or line.state in f.states)
        and (f.department is None or f.department in (line.responsible_department, *line.departments))
        and (f.overdue is None or f.overdue == (due is not None and due < now))
        and (f.due_before is None or (due is not None and due < f.due_before))
        and (f.number_prefix is None or line.number.startswith(f.number_prefix))
    )


def position_of(line: CaseLine, sort: CaseSort) -> Position:
    if sort is CaseSort.DUE and line.next_deadline is not None:
        return Position(True, line.next_deadline.due_at, line.number)
    return Position(False, line.opened_at, line.number)


def comes_after(line: CaseLine, position: Position, sort: CaseSort) -> bool:
    """Whether `line` is listed after `position` in the `sort` order."""
    mine = position_of(line, sort)
    if sort is CaseSort.DUE and mine.due != position.due:
        return position.due  # the part with deadlines comes first
    if sort is CaseSort.DUE and mine.due:
        return (mine.at, mine.number) > (position.at, position.number)
    return (mine.at, mine.number) < (position.at, position.number)  # newest first


def ordered(lines: Iterable[CaseLine], sort: CaseSort) -> list[CaseLine]:
    """`lines` in the list's order."""
    by_opening = sorted(lines, key=lambda x: (x.opened_at, x.number), reverse=True)
    if sort is CaseSort.OPENED:
        return by_opening
    with_due = [(x.next_deadline.due_at, x.number, x) for x in by_opening if x.next_deadline is not None]
    without = [x for x in by_opening if x.next_deadline is None]
    return [x for _, _, x in sorted(with_due, key=lambda item: item[:2])] + without


def page(
    cases: Iterable[Case], f: CaseFilter, *, sort: CaseSort, after: Position | None, limit: int, now: datetime
) -> list[CaseLine]:
    """The list's page from whole cases (the in-memory repository; the SQL one must agree)."""
    lines = [line for line in (line_of(c, now) for c in cases) if matches(line, f, now)]
    found = ordered(lines, sort)
    if after is not None:
        found = [x for x in found if comes_after(x, after, sort)]
    return found[:limit]
