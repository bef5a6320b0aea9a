"""Issue 8 drills: poison messages mixed into a flow, and duplicate deliveries, on both databases.

Poison (invalid JSON, an unsupported dataversion, a payload that does not validate) goes to the
queue's DLQ with the reason, at once and once, and the flow around it is processed exactly once.
A complaint.submitted whose form does not validate is not poison: the contract answers it with
complaint.rejected and keeps it (CONTRACT.md), so it must not be dead-lettered.

Duplicates: the same event id published three times at once is processed once, and the same
submission under two event ids (same `source` and `external_ref`, CONTRACT.md) is one complaint;
the unique-key collision between two concurrent duplicates is not a failure, so nothing is
dead-lettered (issue 8, fault 1).
"""

from __future__ import annotations

import json
from typing import Any

from cqm_shared.contracts.envelope import CloudEvent, new_event
from tests.drills.flow import (
    Flow,
    dead_letter_counts,
    determination,
    drain_dead_letters,
    publish_raw,
    query,
    settle,
    submission,
)
from tests.stack import Stack


def raw(event: CloudEvent, **changes: Any) -> tuple[str, bytes, str]:
    """The event as published, with top-level attributes changed (e.g. an unsupported dataversion)."""
    body = json.loads(event.to_json())
    body.update(changes)
    return event.routing_key, json.dumps(body).encode(), str(event.id)


def registered_without_record(token: str) -> CloudEvent:
    """A complaint.registered whose `data` is not a complaint record (investigation and notification read it)."""
    return new_event(
        type="complaint.registered",
        source="/services/intake",
        factory="F01",
        subject=f"{token}-P",
        data={"number": f"{token}-P"},
    )


async def test_poison_is_dead_lettered_with_its_reason_and_the_flow_goes_on(each_stack: Stack) -> None:
    stack = each_stack
    await drain_dead_letters(stack)  # earlier drills on this stack are not this one's business
    flow = Flow()
    valid = [(e.routing_key, e.to_json(), str(e.id)) for e in flow.submission_events(100)]
    valid += [(e.routing_key, e.to_json(), str(e.id)) for e in flow.determination_events(50)]
    not_json = ("complaint.submitted.f01", b'{"specversion": "1.0", "id": ', f"{flow.token}-not-json")
    future = raw(submission(flow.token, 9999), dataversion=99)
    no_record = registered_without_record(flow.token)
    registered_not_json = ("complaint.registered.f01", b"\xff\xfe not json", f"{flow.token}-registered-not-json")
    bad_shares = determination(flow.token, 9999)
    bad_shares_body = json.loads(bad_shares.to_json())
    bad_shares_body["data"]["parties"][0]["share"] = "90"  # shares must sum to 100
    bad_shares_raw = (bad_shares.routing_key, json.dumps(bad_shares_body).encode(), str(bad_shares.id))
    invalid_form = submission(flow.token, 9998, customer={"company": f"{flow.token}-rejected"})  # no contact
    poison = {
        # message id -> (dead-letter queues it must reach, a word its reason must contain)
        not_json[2]: ({"intake.submissions.dlq"}, "invalid"),
        future[2]: ({"intake.submissions.dlq"}, "dataversion"),
        str(no_record.id): ({"investigation.complaints.dlq", "notification.complaints.dlq"}, "data"),
        registered_not_json[2]: ({"investigation.complaints.dlq", "notification.complaints.dlq"}, "invalid"),
        str(bad_shares.id): ({"penalty.responsibility.dlq"}, "100"),
    }
    bad = [not_json, future, raw(no_record), registered_not_json, bad_shares_raw, raw(invalid_form)]
    mixed = list(valid)
    for k, item in enumerate(bad):  # spread through the flow
        mixed.insert(10 + 25 * k, item)
    await publish_raw(stack, mixed)

    result = await settle(stack, flow)
    dead = await drain_dead_letters(stack)
    assert (result.lost, result.doubled) == (0, 0), str(result)
    where: dict[str, list[str]] = {}
    for letter in dead:
        where.setdefault(letter.message_id or "", []).append(letter.queue)
    assert set(where) == set(poison), f"dead-lettered {sorted(where)}, poison {sorted(poison)}"
    for message_id, (queues, word) in poison.items():
        assert sorted(where[message_id]) == sorted(queues), (message_id, where[message_id])  # once per queue
        reasons = [d.reason for d in dead if d.message_id == message_id]
        assert all(word in r.lower() for r in reasons), (message_id, reasons)
    # The invalid form was answered (complaint.rejected) and kept, not dead-lettered.
    kept = "SELECT count(*) FROM rejected_submissions WHERE event_id = :id"
    rejected = await query(stack["intake"].database_url, kept, {"id": str(invalid_form.id)})
    assert rejected[0][0] == 1


async def test_duplicate_deliveries_are_processed_once_and_never_dead_lettered(each_stack: Stack) -> None:
    stack = each_stack
    dead_before = await dead_letter_counts(stack)
    flow = Flow()
    # The same event id three times, published at once.
    thrice = flow.submission_events(30) + flow.determination_events(30)
    messages = [(e.routing_key, e.to_json(), str(e.id)) for e in thrice for _ in range(3)]
    # The same submission (source and external_ref) under two event ids.
    for i in range(30):
        index = flow.submissions
        flow.submissions += 1
        twins = [submission(flow.token, index, external_ref=f"{flow.token}-X{i}") for _ in range(2)]
        messages += [(e.routing_key, e.to_json(), str(e.id)) for e in twins]
    await publish_raw(stack, messages, concurrency=len(messages))

    result = await settle(stack, flow)
    assert (result.lost, result.doubled) == (0, 0), str(result)
    assert await dead_letter_counts(stack) == dead_before, "a duplicate was dead-lettered"
