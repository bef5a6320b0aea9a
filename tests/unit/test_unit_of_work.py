"""The unit of work's rules, on the in-memory implementation the use-case tests rely on.

The same rules hold for the SQL unit of work (tests/integration/test_unit_of_work.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from cqm_shared.clock import FakeClock
from cqm_shared.domain import Aggregate, DomainEvent, InvalidTransition, StaleVersion
from cqm_shared.uow import (
    Actor,
    AlreadyProcessed,
    InboxEntry,
    MemoryRepository,
    MemoryStore,
    MemoryUnitOfWork,
    PublicEvent,
)
from tests.unit.fakes import T0


@dataclass(frozen=True, kw_only=True)
class Renamed(DomainEvent):
    action: ClassVar[str] = "rename"
    name: str


@dataclass
class Widget(Aggregate):
    entity: ClassVar[str] = "widget"
    key: str
    factory: str
    name: str
    version: int = 0

    @property
    def identity(self) -> str:
        return self.key

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name}

    def rename(self, name: str, *, at: Any, reason: str) -> None:
        if name == self.name:
            raise InvalidTransition(self.entity, self.key, "named " + self.name, "rename", "same name")
        before = self.snapshot()
        self.name = name
        self.record(Renamed(at=at, reason=reason, name=name), before=before)


class RenamedPayload(BaseModel):
    key: str
    name: str


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    if isinstance(event, Renamed):
        return [PublicEvent("widget.renamed", "F01", "w-1", RenamedPayload(key="w-1", name=event.name))]
    return []


class Widgets(MemoryRepository[Widget]):
    table_name = "widgets"


class WidgetUnitOfWork(MemoryUnitOfWork):
    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.widgets = Widgets(store, self.staged)

    def repositories(self) -> tuple[Widgets]:
        return (self.widgets,)


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.table("widgets")["w-1"] = Widget("w-1", "F01", "old", version=1)
    return s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def uow(store: MemoryStore, clock: FakeClock, inbox: InboxEntry | None = None) -> WidgetUnitOfWork:
    return WidgetUnitOfWork(
        store, clock=clock, actor=Actor("user:qe-1"), source="/services/test", translate=to_public, inbox=inbox
    )


async def rename(u: WidgetUnitOfWork, name: str, *, commit: bool = True, expected: int | None = None) -> None:
    async with u:
        widget = await u.widgets.get("w-1")
        assert widget is not None
        u.expect_version(widget, expected)
        widget.rename(name, at=u.clock.now(), reason="typo")
        if commit:
            await u.commit()


async def test_commit_writes_state_audit_row_and_public_event_together(store: MemoryStore, clock: FakeClock) -> None:
    await rename(uow(store, clock), "new")
    assert store.table("widgets")["w-1"].name == "new"
    assert store.table("widgets")["w-1"].version == 2
    [row] = store.audit
    assert (row.actor, row.at, row.action, row.entity_id, row.factory, row.reason) == (
        "user:qe-1",
        T0,
        "rename",
        "w-1",
        "F01",
        "typo",
    )
    assert (row.before, row.after) == ({"name": "old"}, {"name": "new"})
    [event] = store.outbox
    assert (event.type, event.source, event.subject, event.factory, event.time) == (
        "widget.renamed",
        "/services/test",
        "w-1",
        "F01",
        T0,
    )
    assert event.data == {"key": "w-1", "name": "new"}


async def test_leaving_without_commit_rolls_everything_back(store: MemoryStore, clock: FakeClock) -> None:
    await rename(uow(store, clock), "new", commit=False)
    assert store.table("widgets")["w-1"].name == "old"
    assert store.audit == [] and store.outbox == []


async def test_an_error_inside_the_block_rolls_back(store: MemoryStore, clock: FakeClock) -> None:
    with pytest.raises(InvalidTransition) as refused:
        await rename(uow(store, clock), "old")
    assert (refused.value.state, refused.value.action) == ("named old", "rename")
    assert store.audit == [] and store.table("widgets")["w-1"].version == 1


async def test_a_stale_version_from_the_caller_is_refused(store: MemoryStore, clock: FakeClock) -> None:
    """Two engineers read version 1; the second one's change must not overwrite the first's."""
    await rename(uow(store, clock), "first", expected=1)
    with pytest.raises(StaleVersion) as stale:
        await rename(uow(store, clock), "second", expected=1)
    assert (stale.value.expected, stale.value.actual) == (1, 2)
    assert store.table("widgets")["w-1"].name == "first"


async def test_concurrent_units_of_work_on_one_aggregate_conflict_at_commit(
    store: MemoryStore, clock: FakeClock
) -> None:
    a, b = uow(store, clock), uow(store, clock)
    async with a, b:
        wa, wb = await a.widgets.get("w-1"), await b.widgets.get("w-1")
        assert wa is not None and wb is not None
        wa.rename("from a", at=clock.now(), reason="a")
        wb.rename("from b", at=clock.now(), reason="b")
        await a.commit()
        with pytest.raises(StaleVersion):
            await b.commit()
    assert store.table("widgets")["w-1"].name == "from a"
    assert [r.reason for r in store.audit] == ["a"]


async def test_the_audit_time_is_the_injected_clock(store: MemoryStore, clock: FakeClock) -> None:
    clock.advance(timedelta(days=40))
    await rename(uow(store, clock), "later")
    assert store.audit[0].at == T0 + timedelta(days=40)
    assert store.outbox[0].time == T0 + timedelta(days=40)


async def test_an_inbox_entry_is_claimed_once(store: MemoryStore, clock: FakeClock) -> None:
    entry = InboxEntry("evt-1", "test.widgets", "widget.requested")
    await rename(uow(store, clock, entry), "once")
    with pytest.raises(AlreadyProcessed):
        await rename(uow(store, clock, entry), "twice")
    assert store.table("widgets")["w-1"].name == "once"
    assert store.inbox == {("evt-1", "test.widgets")}


async def test_a_concurrent_duplicate_that_committed_first_fails_this_commit(
    store: MemoryStore, clock: FakeClock
) -> None:
    """Both deliveries passed the inbox check; the claim at commit (the database's primary key) decides."""
    store.table("widgets")["w-2"] = Widget("w-2", "F01", "other", version=1)
    entry = InboxEntry("evt-1", "test.widgets", "widget.requested")
    first, second = uow(store, clock, entry), uow(store, clock, entry)
    async with first, second:
        a, b = await first.widgets.get("w-1"), await second.widgets.get("w-2")
        assert a is not None and b is not None
        a.rename("first", at=clock.now(), reason="a")
        b.rename("second", at=clock.now(), reason="b")
        await first.commit()
        with pytest.raises(KeyError):
            await second.commit()
    assert (store.table("widgets")["w-1"].name, store.table("widgets")["w-2"].name) == ("first", "other")
    assert [r.reason for r in store.audit] == ["a"]
