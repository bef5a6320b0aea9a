"""Intake use cases through the in-memory unit of work (no broker, no database)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.complaint import ComplaintForm, ComplaintStatus, Severity
from cqm_shared.contracts.events import InvestigationTriaged
from cqm_shared.domain import InvalidTransition, NotFound, StaleVersion
from cqm_shared.messaging.consumer import InvalidPayload, Message
from cqm_shared.policy import PolicyBook
from cqm_shared.uow import Actor, AlreadyProcessed, InboxEntry, MemoryStore
from intake.adapters.publishing import to_public
from intake.domain.attachments import AttachmentRefused, describe
from intake.domain.corrections import InvalidAmendment
from intake.domain.model import Attachment, FieldError
from intake.domain.policy import IntakePolicy
from intake.entrypoints.consumers import on_invalid_submission, on_submitted, on_triaged
from intake.service.handlers import (
    SOURCE,
    CorruptAttachment,
    FactoryNotServed,
    Registration,
    Upload,
    amend_complaint,
    attach_file,
    attachment_file,
    attachments_of,
    complaint_counts,
    complaint_of,
    ensure_attachable,
    export_pages,
    history_of,
    register_complaint,
    reject_submission,
    search_complaints,
    set_severity,
    sweep_orphan_files,
    withdraw_complaint,
)
from intake.service.unit_of_work import SearchFilter
from tests.conftest import POLICY_DIR
from tests.unit.fakes import ENGINEER, T0, factory
from tests.unit.intake.fakes import FailingCommitUnitOfWork, MemoryFiles, MemoryIntakeUnitOfWork

POLICIES = PolicyBook(POLICY_DIR, "intake", IntakePolicy)
HEAD_OFFICE = Actor("user:ho", None)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

Make = Callable[..., MemoryIntakeUnitOfWork]


def form(factory_code: str = "F01", i: int = 0, **extra: Any) -> ComplaintForm:
    data: dict[str, Any] = {
        "factory": factory_code,
        "channel": "portal",
        "customer": {"company": f"Customer {i}", "contact_name": "Zhang", "email": f"c{i}@example.com"},
        "product": {"part_number": f"PC-{i}", "quantity_shipped": 10, "quantity_defective": 1},
        "phenomenon": "尺寸超差 dimension out of tolerance",
    }
    data.update(extra)
    return ComplaintForm.model_validate(data)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make(store: MemoryStore, clock: FakeClock) -> Make:
    return factory(MemoryIntakeUnitOfWork, store, clock, translate=to_public, source=SOURCE)


async def register(make: Make, f: ComplaintForm | None = None, *, source: str = SOURCE, actor: Actor = ENGINEER) -> str:
    registration = await register_complaint(make(actor), POLICIES, f or form(), source=source)
    return registration.complaint.number


async def upload(make: Make, files: MemoryFiles, number: str, file: Upload) -> Attachment:
    """As the API does: the complaint is checked (404, 409) before the file is judged, stored and recorded."""
    factory_code = await ensure_attachable(make(), number)
    return await attach_file(make(), files, number, factory_code, file, max_bytes=1024)


class RacedUnitOfWork(MemoryIntakeUnitOfWork):
    """`rival` commits between this unit of work's reads and its commit (once)."""

    rival: Callable[[], Awaitable[None]] | None = None

    async def commit(self) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            await rival()
        await super().commit()


# -- register ----------------------------------------------------------------------------------------


async def test_register_numbers_audits_and_publishes(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    registration = await register_complaint(make(), POLICIES, form(), source=SOURCE)
    complaint = registration.complaint
    assert registration.created
    assert complaint.number == "F01-2611-0001"  # 08:30 UTC on 21 November 2026 is November in Shanghai
    assert (complaint.version, complaint.status, complaint.details.registered_at) == (
        1,
        ComplaintStatus.REGISTERED,
        clock.now(),
    )
    assert complaint.details.received_at == clock.now()  # not given: the registration time
    assert str(complaint.details.defect_rate) == "10.00"
    [row] = store.audit
    assert (row.action, row.entity, row.entity_id, row.factory, row.actor, row.at) == (
        "register",
        "complaint",
        "F01-2611-0001",
        "F01",
        ENGINEER.id,
        clock.now(),
    )
    assert row.before is None and row.after is not None and row.after["number"] == "F01-2611-0001"
    assert row.reason == f"received via {SOURCE}"
    [event] = store.published("complaint.registered")
    assert (event.source, event.subject, event.factory, event.routing_key) == (
        SOURCE,
        "F01-2611-0001",
        "F01",
        "complaint.registered.f01",
    )
    assert event.data["number"] == "F01-2611-0001" and event.data["status"] == "registered"
    assert len(store.outbox) == 1
    second = await register(make)
    assert second == "F01-2611-0002"


async def test_serials_restart_each_month_in_the_factorys_zone(make: Make, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC))  # 23:59:59 on 30 November in Shanghai
    assert await register(make, form("F01", 1)) == "F01-2611-0001"
    assert await register(make, form("F01", 2)) == "F01-2611-0002"
    clock.advance(timedelta(seconds=1))  # 00:00:00 on 1 December
    assert await register(make, form("F01", 3)) == "F01-2612-0001"
    assert await register(make, form("F02", 4)) == "F02-2612-0001"
    assert await register(make, form("F01", 5)) == "F01-2612-0002"


async def test_a_failed_registration_gives_its_serial_back(store: MemoryStore, clock: FakeClock, make: Make) -> None:
    failing = factory(FailingCommitUnitOfWork, store, clock, translate=to_public, source=SOURCE)
    with pytest.raises(ConnectionError):
        await register_complaint(failing(), POLICIES, form(), source=SOURCE)
    assert store.tables.get("complaints", {}) == {} and store.audit == [] and store.outbox == []
    assert await register(make) == "F01-2611-0001"  # no gap


async def test_repeats_link_to_the_first_of_the_chain_within_the_window(make: Make, clock: FakeClock) -> None:
    def same(company: str, part: str = "PC-1") -> ComplaintForm:
        return form(
            customer={"company": company, "contact_name": "王", "phone": "13800000000"},
            product={"part_number": part, "order_number": "SO-1"},
        )

    first = await register(make, same("华东建工 Ltd."))
    clock.advance(timedelta(days=3))
    again = await register(make, same("华东建工ＬＴＤ"))  # full width, other punctuation: the same customer
    clock.advance(timedelta(days=7))
    third = await register(make, same("华东建工 ltd"))
    other_part = await register(make, same("华东建工 Ltd.", part="PC-2"))
    clock.advance(timedelta(days=35))  # outside the 30-day window (policy)
    later = await register(make, same("华东建工 Ltd."))

    async def repeat_of(number: str) -> str | None:
        return (await complaint_of(make(), number)).details.repeat_of

    assert await repeat_of(first) is None
    assert await repeat_of(again) == first
    assert await repeat_of(third) == first
    assert await repeat_of(other_part) is None
    assert await repeat_of(later) is None


async def test_a_senders_reference_names_one_complaint_per_sender(make: Make, store: MemoryStore) -> None:
    crm = "https://crm.example.com"
    f = form(external_ref="CRM-2026-004711")
    first = await register_complaint(make(), POLICIES, f, source=crm)
    again = await register_complaint(make(), POLICIES, f, source=crm)
    assert first.created and not again.created
    assert again.complaint.number == first.complaint.number
    assert len(store.table("complaints")) == 1 and len(store.audit) == 1 and len(store.outbox) == 1
    other_sender = await register_complaint(make(), POLICIES, f, source="https://erp.example.com")
    assert other_sender.created and other_sender.complaint.number != first.complaint.number


async def test_a_concurrent_registration_of_the_same_reference_is_answered_with_its_complaint(
    store: MemoryStore, clock: FakeClock, make: Make
) -> None:
    crm = "https://crm.example.com"
    f = form(external_ref="CRM-2026-004711")
    entry = InboxEntry("e-1", "intake.submissions", "complaint.submitted")
    uow = factory(RacedUnitOfWork, store, clock, translate=to_public, source=SOURCE)(Actor("system:crm"), entry)
    won: list[Registration] = []

    async def rival() -> None:
        won.append(await register_complaint(make(), POLICIES, f, source=crm))

    uow.rival = rival
    registration = await register_complaint(uow, POLICIES, f, source=crm)  # its insert fails, then it retries
    assert not registration.created and registration.complaint.number == won[0].complaint.number
    assert len(store.table("complaints")) == 1 and len(store.audit) == 1 and len(store.outbox) == 1
    assert ("e-1", "intake.submissions") in store.inbox  # the consumed event is processed: no redelivery spent


async def test_an_unknown_factory_is_refused_before_anything_is_written(make: Make, store: MemoryStore) -> None:
    with pytest.raises(FactoryNotServed):
        await register_complaint(make(), POLICIES, form("F09"), source=SOURCE)
    assert store.tables == {} and store.audit == []


# -- amend (划改), withdraw ---------------------------------------------------------------------------


async def test_amend_keeps_a_revision_with_before_and_after_and_publishes(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    number = await register(make)
    clock.advance(timedelta(hours=1))
    product = {"part_number": "PC-0", "quantity_shipped": 10, "quantity_defective": 3}
    complaint, revision = await amend_complaint(
        make(), number, {"product": product, "phenomenon": "裂缝 crack"}, reason="客户更正 customer corrected"
    )
    changes = {c.field: (c.before, c.after) for c in revision.changes}
    assert changes["product.quantity_defective"] == (1, 3)
    assert "product.part_number" not in changes  # unchanged leaves are not listed
    assert changes["phenomenon"] == ("尺寸超差 dimension out of tolerance", "裂缝 crack")
    assert changes["defect_rate"] == ("10.00", "30.00")
    assert (complaint.version, revision.revision, revision.actor, revision.at) == (2, 1, ENGINEER.id, clock.now())
    assert revision.record_before.product.quantity_defective == 1
    current, revisions = await history_of(make(), number)
    assert current.details.product.quantity_defective == 3 and current.version == 2
    assert [(r.revision, r.action) for r in revisions] == [(1, "amend")]
    row = store.audit[-1]
    assert (row.action, row.entity_id, row.reason) == ("amend", number, "客户更正 customer corrected")
    assert row.before is not None and row.before["product"]["quantity_defective"] == 1
    assert row.after is not None and row.after["product"]["quantity_defective"] == 3
    [event] = store.published("complaint.amended")
    assert event.subject == number and event.data["revision"] == 1 and event.data["actor"] == ENGINEER.id
    assert {"field": "product.quantity_defective", "before": 1, "after": 3} in event.data["changes"]
    assert event.data["record"]["product"]["quantity_defective"] == 3


@pytest.mark.parametrize(
    "changes",
    [{}, {"factory": "F02"}, {"product": {"part_number": "P", "quantity_shipped": 1, "quantity_defective": 2}}],
)
async def test_an_invalid_amendment_changes_nothing(make: Make, store: MemoryStore, changes: dict[str, Any]) -> None:
    number = await register(make)
    with pytest.raises(InvalidAmendment):
        await amend_complaint(make(), number, changes, reason="x")
    assert (await complaint_of(make(), number)).version == 1 and len(store.audit) == 1


async def test_withdraw_then_amend_or_withdraw_again_is_refused_naming_the_state(
    make: Make, store: MemoryStore
) -> None:
    number = await register(make)
    withdrawn = await withdraw_complaint(make(), number, reason="客户撤回 withdrawn")
    assert withdrawn.status is ComplaintStatus.WITHDRAWN and withdrawn.details.withdrawn_reason == "客户撤回 withdrawn"
    [event] = store.published("complaint.withdrawn")
    assert (event.data["reason"], event.data["actor"], event.data["number"]) == (
        "客户撤回 withdrawn",
        ENGINEER.id,
        number,
    )
    with pytest.raises(InvalidTransition) as amend_refused:
        await amend_complaint(make(), number, {"current_state": "x"}, reason="x")
    assert (amend_refused.value.state, amend_refused.value.action) == ("withdrawn", "amend")
    with pytest.raises(InvalidTransition) as withdraw_refused:
        await withdraw_complaint(make(), number, reason="again")
    assert (withdraw_refused.value.state, withdraw_refused.value.action) == ("withdrawn", "withdraw")
    _, revisions = await history_of(make(), number)
    assert [r.action for r in revisions] == ["withdraw"]
    assert {(c.field, c.before, c.after) for c in revisions[0].changes} == {
        ("status", "registered", "withdrawn"),
        ("withdrawn_reason", None, "客户撤回 withdrawn"),
    }
    assert [r.action for r in store.audit] == ["register", "withdraw"]


async def test_a_stale_if_match_version_is_refused(make: Make, store: MemoryStore) -> None:
    number = await register(make)
    await amend_complaint(make(), number, {"current_state": "sorted"}, reason="first", expected_version=1)
    with pytest.raises(StaleVersion) as stale:
        await amend_complaint(make(), number, {"current_state": "scrapped"}, reason="late", expected_version=1)
    assert (stale.value.expected, stale.value.actual) == (1, 2)
    with pytest.raises(StaleVersion):
        await withdraw_complaint(make(), number, reason="late", expected_version=1)
    assert (await complaint_of(make(), number)).details.current_state == "sorted"
    assert [r.action for r in store.audit] == ["register", "amend"]


async def test_two_editors_of_one_version_do_not_overwrite_each_other(make: Make, store: MemoryStore) -> None:
    number = await register(make)
    first, second = make(), make()
    async with first:
        a = await first.complaints.get(number)
        assert a is not None
        async with second:
            b = await second.complaints.get(number)
            assert b is not None
            a.amend({"current_state": "A"}, reason="a", actor="user:a", at=T0)
            await first.commit()
            b.amend({"current_state": "B"}, reason="b", actor="user:b", at=T0)
            with pytest.raises(StaleVersion):
                await second.commit()
    assert (await complaint_of(make(), number)).details.current_state == "A"
    assert len(store.published("complaint.amended")) == 1


async def test_another_factorys_complaint_is_not_found(make: Make) -> None:
    number = await register(make, form("F02"), actor=HEAD_OFFICE)
    with pytest.raises(NotFound):
        await complaint_of(make(ENGINEER), number)
    with pytest.raises(NotFound):
        await amend_complaint(make(ENGINEER), number, {"current_state": "x"}, reason="x")
    assert (await complaint_of(make(HEAD_OFFICE), number)).factory == "F02"


# -- severity from triage ----------------------------------------------------------------------------


async def test_severity_from_triage_is_a_revision_in_the_history(make: Make, store: MemoryStore) -> None:
    number = await register(make)
    system = Actor("system:/services/investigation")
    await set_severity(make(system), number, Severity.MAJOR, actor="user:qe-9", why="investigation.triaged e-1")
    await set_severity(make(system), number, Severity.MAJOR, actor="user:qe-9", why="investigation.triaged e-2")
    current, revisions = await history_of(make(), number)
    assert current.details.severity is Severity.MAJOR and current.version == 2
    [revision] = revisions  # the same severity again changes nothing
    assert (revision.action, revision.actor, revision.reason) == ("severity", "user:qe-9", "investigation.triaged e-1")
    assert [(c.field, c.before, c.after) for c in revision.changes] == [("severity", None, "major")]
    row = store.audit[-1]
    assert (row.action, row.actor) == ("severity", "user:qe-9")
    assert row.before is not None and row.before["severity"] is None
    assert row.after is not None and row.after["severity"] == "major"
    assert store.published("complaint.amended") == []  # kept and audited, not published
    with pytest.raises(NotFound):
        await set_severity(make(system), "F01-2611-0099", Severity.MINOR, actor=None, why="x")


async def test_the_triage_consumer_sets_the_severity(make: Make) -> None:
    number = await register(make)
    triage = InvestigationTriaged(
        number=number, factory="F01", triaged_at=T0, valid=True, category="quality", severity=Severity.CRITICAL
    )
    message = Message("e-7", "investigation.triaged", "/services/investigation", "F01", number, T0, 1, triage)
    system = Actor("system:/services/investigation")
    await on_triaged(make(system, InboxEntry("e-7", "intake.investigations", "investigation.triaged")), message)
    _, [revision] = await history_of(make(), number)
    assert revision.actor == "system:/services/investigation" and revision.reason == "investigation.triaged e-7"


# -- attachments -------------------------------------------------------------------------------------


async def test_attach_stores_the_bytes_then_records_and_audits_them(
    make: Make, store: MemoryStore, clock: FakeClock
) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    attachment = await upload(make, files, number, Upload(PNG, "../../裂缝 photo.png", "image/png"))
    assert attachment.storage_key == f"F01/{number}/{attachment.id}"
    assert files.files[attachment.storage_key][0] == PNG
    assert (attachment.filename, attachment.content_type, attachment.size) == ("裂缝 photo.png", "image/png", len(PNG))
    assert [a.id for a in await attachments_of(make(), number)] == [attachment.id]
    row = store.audit[-1]
    assert (row.action, row.entity_id, row.reason) == ("attach", number, "attachment 裂缝 photo.png")
    assert row.before is not None and "attached" not in row.before
    assert row.after is not None and row.after["attached"] == [
        {
            "id": attachment.id,
            "number": number,
            "filename": "裂缝 photo.png",
            "content_type": "image/png",
            "size": len(PNG),
            "sha256": attachment.sha256,
            "storage_key": attachment.storage_key,
            "uploaded_by": ENGINEER.id,
        }
    ]
    assert (await complaint_of(make(), number)).version == 2
    assert store.published("complaint.amended") == [] and len(store.outbox) == 1  # registered only


async def test_only_the_attach_row_shows_the_file_recorded(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    """A later change in the same unit of work audits the record, not the pending attachment."""
    number = await register(make)
    attachment = describe(
        attachment_id="a-1",
        number=number,
        factory="F01",
        data=PNG,
        filename="p.png",
        media_type="image/png",
        at=clock.now(),
        by=ENGINEER.id,
    )
    async with make() as uow:
        complaint = await uow.complaints.get(number)
        assert complaint is not None
        complaint.attach(attachment, at=clock.now())
        complaint.set_severity(Severity.MINOR, reason="triage", actor="user:qe-9", at=clock.now())
        await uow.commit()
    attach, severity = store.audit[-2:]
    assert attach.after is not None and [a["sha256"] for a in attach.after["attached"]] == [attachment.sha256]
    assert severity.before is not None and severity.after is not None
    assert "attached" not in severity.before and "attached" not in severity.after


async def test_a_refused_upload_stores_nothing(make: Make, store: MemoryStore, clock: FakeClock) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    for file, status in [
        (Upload(b"", "empty.png", "image/png"), 422),
        (Upload(PNG + b"\x00" * 2048, "big.png", "image/png"), 413),
        (Upload(b"MZ\x90\x00 an executable", "x.png", "image/png"), 415),
        (Upload(PNG, "x.jpg", "image/jpeg"), 415),
    ]:
        with pytest.raises(AttachmentRefused) as refused:
            await upload(make, files, number, file)
        assert refused.value.status == status
    with pytest.raises(NotFound):  # the complaint is checked before the file
        await upload(make, files, "F01-2611-0099", Upload(b"", "x", None))
    await withdraw_complaint(make(), number, reason="withdrawn")
    with pytest.raises(InvalidTransition) as closed:
        await upload(make, files, number, Upload(PNG, "x.png", "image/png"))
    assert closed.value.action == "attach"
    assert files.puts == [] and await attachments_of(make(), number) == []


async def test_stored_bytes_are_deleted_when_the_record_fails(store: MemoryStore, clock: FakeClock, make: Make) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    failing = factory(FailingCommitUnitOfWork, store, clock, translate=to_public, source=SOURCE)
    with pytest.raises(ConnectionError):
        await upload(failing, files, number, Upload(PNG, "x.png", None))
    assert len(files.puts) == 1 and files.files == {}  # stored, then deleted again
    assert await attachments_of(make(), number) == []


async def test_the_record_rechecks_the_complaint_in_the_one_unit_of_work_it_opens(
    store: MemoryStore, clock: FakeClock, make: Make
) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    factory_code = await ensure_attachable(make(), number)
    opened: list[str] = []

    class Counted(MemoryIntakeUnitOfWork):
        async def _begin(self) -> None:
            opened.append(number)
            await super()._begin()

    counted = factory(Counted, store, clock, translate=to_public, source=SOURCE)
    await attach_file(counted(), files, number, factory_code, Upload(PNG, "a.png", None), max_bytes=1024)
    assert len(opened) == 1  # the check came before (ensure_attachable): only the record reads it again
    await withdraw_complaint(make(), number, reason="withdrawn meanwhile")
    with pytest.raises(InvalidTransition):
        await attach_file(make(), files, number, factory_code, Upload(PNG, "b.png", None), max_bytes=1024)
    assert len(files.puts) == 2 and len(files.files) == 1  # the second file was stored, then deleted again
    assert len(await attachments_of(make(), number)) == 1


async def test_a_download_is_checked_against_its_checksum(make: Make, clock: FakeClock) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    assert await ensure_attachable(make(), number) == "F01"
    attachment = await upload(make, files, number, Upload(PNG, "x.png", None))
    found, data = await attachment_file(make(), files, number, attachment.id)
    assert found == attachment and data == PNG
    with pytest.raises(NotFound):
        await attachment_file(make(), files, number, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):  # another factory's user
        await attachment_file(make(Actor("user:f02", frozenset({"F02"}))), files, number, attachment.id)
    files.files[attachment.storage_key] = (PNG[:-1] + b"\x00", clock.now())  # altered where it is stored
    with pytest.raises(CorruptAttachment):
        await attachment_file(make(), files, number, attachment.id)
    await withdraw_complaint(make(), number, reason="withdrawn")
    with pytest.raises(InvalidTransition):
        await ensure_attachable(make(), number)


async def test_the_sweep_deletes_old_files_without_a_row(make: Make, clock: FakeClock) -> None:
    files = MemoryFiles(clock)
    number = await register(make)
    kept = await upload(make, files, number, Upload(PNG, "x.png", None))
    await files.put(f"F01/{number}/crashed-before-recording", PNG, "image/png")
    clock.advance(timedelta(hours=2))
    await files.put(f"F01/{number}/upload-in-flight", PNG, "image/png")
    clock.advance(timedelta(minutes=5))
    dry = await sweep_orphan_files(make(), files, grace=timedelta(hours=1), dry_run=True)
    assert dry == [f"F01/{number}/crashed-before-recording"] and len(files.files) == 3
    swept = await sweep_orphan_files(make(), files, grace=timedelta(hours=1), batch=1)
    assert swept == dry
    assert set(files.files) == {kept.storage_key, f"F01/{number}/upload-in-flight"}


# -- submissions from other systems -------------------------------------------------------------------


async def test_a_rejection_is_kept_audited_and_answered_once(make: Make, store: MemoryStore) -> None:
    errors = [FieldError("customer", "customer.phone or customer.email is required", "value_error")]
    entry = InboxEntry("e-1", "intake.submissions", "complaint.submitted")

    async def reject() -> None:
        await reject_submission(
            make(Actor("system:https://crm.example.com"), entry),
            event_id="e-1",
            source="https://crm.example.com",
            factory="F01",
            data={"external_ref": "CRM-BAD-1"},
            errors=errors,
        )

    await reject()
    with pytest.raises(AlreadyProcessed):  # redelivered: refused when its unit of work opens
        await reject()
    assert list(store.table("rejected_submissions")) == ["e-1"]
    [event] = store.published("complaint.rejected")
    assert (event.factory, event.subject, event.routing_key) == ("F01", None, "complaint.rejected.f01")
    assert event.data == {
        "original_event_id": "e-1",
        "external_ref": "CRM-BAD-1",
        "errors": [{"field": "customer", "message": "customer.phone or customer.email is required"}],
    }
    [row] = store.audit
    assert (row.action, row.entity, row.entity_id, row.actor) == (
        "reject",
        "submission",
        "e-1",
        "system:https://crm.example.com",
    )


def submitted(f: ComplaintForm, *, event_factory: str = "F01", event_id: str = "e-9") -> Message[ComplaintForm]:
    return Message(event_id, "complaint.submitted", "https://crm.example.com", event_factory, None, T0, 1, f)


async def test_the_submission_consumer_registers_or_answers_rejected(make: Make, store: MemoryStore) -> None:
    handle = on_submitted(POLICIES)
    crm = Actor("system:https://crm.example.com")
    await handle(make(crm), submitted(form(external_ref="CRM-1"), event_id="e-1"))
    [registered] = store.published("complaint.registered")
    assert registered.data["external_ref"] == "CRM-1" and store.audit[0].actor == crm.id
    await handle(make(crm), submitted(form("F02"), event_id="e-2"))  # the form names another factory
    await handle(make(crm), submitted(form("F09"), event_factory="F09", event_id="e-3"))
    answers = {e.data["original_event_id"]: e for e in store.published("complaint.rejected")}
    assert answers["e-2"].data["errors"] == [{"field": "factory", "message": "differs from the event's factory F01"}]
    assert answers["e-3"].data["errors"] == [{"field": "factory", "message": "unknown factory F09"}]
    assert answers["e-3"].factory == "F09"
    invalid = InvalidPayload(
        "e-4",
        "complaint.submitted",
        "https://crm.example.com",
        "F01",
        T0,
        {"external_ref": "CRM-BAD"},
        [{"field": "customer", "message": "Field required", "type": "missing"}],
    )
    await on_invalid_submission(make(crm), invalid)
    assert answers.keys() | {"e-4"} == {e.data["original_event_id"] for e in store.published("complaint.rejected")}
    assert len(store.table("complaints")) == 1 and len(store.table("rejected_submissions")) == 3


async def test_the_inbox_makes_a_redelivered_submission_register_once(make: Make, store: MemoryStore) -> None:
    handle = on_submitted(POLICIES)
    entry = InboxEntry("e-1", "intake.submissions", "complaint.submitted")
    await handle(make(Actor("system:crm"), entry), submitted(form()))
    with pytest.raises(AlreadyProcessed):  # the second claim of one event id fails, nothing is written
        await handle(make(Actor("system:crm"), entry), submitted(form(i=2)))
    assert len(store.table("complaints")) == 1


# -- export ------------------------------------------------------------------------------------------


async def test_export_reads_every_complaint_in_keyset_pages(make: Make, clock: FakeClock) -> None:
    numbers = []
    for i in range(7):
        numbers.append(await register(make, form("F01", i)))
        clock.advance(timedelta(minutes=1))
    await register(make, form("F02"), actor=HEAD_OFFICE)
    pages = [
        [c.number for c in page]
        async for page in export_pages(make(), SearchFilter(factories=ENGINEER.factories), page_size=3)
    ]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [n for p in pages for n in p] == numbers


async def test_free_text_searches_what_the_database_indexes(make: Make) -> None:
    """Not only the phenomenon: the number, customer, part… (`search_text`), as the SQL search."""
    number = await register(make, form("F01", 3))
    everything = SearchFilter(factories=None)
    for text in ("customer 3", "pc-3", number.lower(), "尺寸超差"):
        found = await search_complaints(make(), replace(everything, text=text), after=None, limit=5, ascending=True)
        assert [c.number for c in found] == [number], text


async def test_search_walks_a_keyset_cursor_and_counts_keep_repeats_and_withdrawn_apart(
    make: Make, clock: FakeClock
) -> None:
    def repeat(i: int) -> ComplaintForm:
        return form(
            "F01",
            i,
            customer={"company": "Acme", "contact_name": "x", "phone": "13800000000"},
            product={"part_number": "PC-1", "order_number": "SO-1"},
        )

    numbers = []
    for i in range(3):
        numbers.append(await register(make, repeat(i)))  # the 2nd and 3rd are repeats of the 1st
        clock.advance(timedelta(minutes=1))
    numbers.append(await register(make, form("F01", 7)))
    await withdraw_complaint(make(), numbers[3], reason="x")
    everything = SearchFilter(factories=None)
    seen: list[str] = []
    after = None
    while True:
        page = await search_complaints(make(), everything, after=after, limit=2, ascending=False)
        seen += [c.number for c in page]
        if len(page) < 2:
            break
        after = (page[-1].details.registered_at, page[-1].number)
    assert seen == list(reversed(numbers))
    originals = SearchFilter(factories=None, include_repeats=False)
    assert [c.number for c in await search_complaints(make(), originals, after=None, limit=10, ascending=True)] == [
        numbers[0],
        numbers[3],
    ]
    assert await complaint_counts(make(), everything) == {
        "complaints": 1,
        "repeats": 2,
        "withdrawn": 1,
        "by_month": {"2026-11": 1},
        "by_channel": {"portal": 1},
    }
