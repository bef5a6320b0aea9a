"""The dead-letter operator tool (issue 8, point 5), on the real broker and both databases.

Poison messages dead-lettered by a running service are listed with reasons and counts, shown,
replayed to their original queue only (where they are processed, or dead-lettered again), or
discarded with an audit row; browsing loses and reorders nothing; only admins may do it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from cqm_shared.dead_letters import main
from cqm_shared.messaging.consumer import REASON_HEADER
from cqm_shared.messaging.dead_letters import DeadLetterQueues, OriginalQueueMissing
from investigation.adapters.orm import audit_log, cases
from investigation.main import create_app
from tests.conftest import POLICY_DIR, REPO, BrokerNamespace
from tests.helpers import asgi_client, auth, drain_all, publish, running_service, service_settings, wait_for
from tests.integration.events import registered

ATTEMPTS = {"max_delivery_attempts": 2}  # the same in every run: it is part of the queue's declaration
ROUTES = [
    ("GET", "/admin/dead-letters", None),
    ("GET", "/admin/dead-letters/{queue}/messages", None),
    ("GET", "/admin/dead-letters/{queue}/messages/some-id", None),
    ("POST", "/admin/dead-letters/{queue}/replay", {"all": True}),
    ("POST", "/admin/dead-letters/{queue}/messages/some-id/discard", {"reason": "noise"}),
]


@dataclass(frozen=True)
class Poison:
    doomed: str  # F77 has no policy here: the handler fails, is retried, then dead-lettered
    doomed_too: str
    v7: str  # an unsupported dataversion: refused at once
    garbage: bytes  # not JSON, sent without a message id


def queues(ns: BrokerNamespace) -> tuple[str, str]:
    queue = f"{ns.queue_prefix}investigation.complaints"
    return queue, f"{queue}.dlq"


def policies_without_f77(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder)
    return folder


async def poison(ns: BrokerNamespace) -> Poison:
    doomed = registered(number="F77-2611-0001", factory="F77")
    doomed_too = registered(number="F77-2611-0002", factory="F77")
    v7 = json.loads(registered(number="F01-2611-0201").to_json())
    v7["dataversion"] = 7
    garbage = b"{not json at all"
    for event in (doomed, doomed_too):
        await publish(ns, event.routing_key, event.to_json(), message_id=str(event.id))
    await publish(ns, "complaint.registered.f01", json.dumps(v7).encode(), message_id=v7["id"])
    await publish(ns, "complaint.registered.f01", garbage)
    return Poison(str(doomed.id), str(doomed_too.id), v7["id"], garbage)


async def summary_of(c: httpx.AsyncClient, dlq: str) -> dict[str, Any]:
    answer = await c.get("/admin/dead-letters")
    assert answer.status_code == 200, answer.text
    [found] = [s for s in answer.json() if s["queue"] == dlq]
    return dict(found)


async def holding(c: httpx.AsyncClient, dlq: str, count: int) -> dict[str, Any] | None:
    found = await summary_of(c, dlq)
    return found if found["messages"] == count and found["examined"] == count else None


async def items(c: httpx.AsyncClient, queue: str, **params: Any) -> dict[str, Any]:
    answer = await c.get(f"/admin/dead-letters/{queue}/messages", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def count(app: FastAPI, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with app.state.runtime.sessions() as session:
        stmt = sa.select(sa.func.count()).select_from(table).where(*where)
        return int((await session.execute(stmt)).scalar_one())


async def audit_rows(app: FastAPI, entity_id: str) -> list[Any]:
    async with app.state.runtime.sessions() as session:
        stmt = sa.select(audit_log).where(audit_log.c.entity_id == entity_id).order_by(audit_log.c.id)
        return list((await session.execute(stmt)).all())


async def test_dead_letters_are_listed_shown_and_discarded_into_the_audit_trail(
    database_url: str, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    queue, dlq = queues(broker_ns)
    policies = policies_without_f77(tmp_path)
    async with running_service("investigation", database_url, broker_ns, policy_dir=policies, **ATTEMPTS) as app:
        sent = await poison(broker_ns)
        async with asgi_client(app, auth("admin")) as c:
            summary = await wait_for(lambda: holding(c, dlq, 4))
            assert summary["original_queue"] == queue and summary["exists"] and not summary["more"]
            reasons = {r["reason"]: r["count"] for r in summary["reasons"]}
            [failed] = [r for r in reasons if r.startswith("failed after 2 attempts: FactoryPolicyMissing")]
            assert reasons[failed] == 2 and summary["reasons"][0]["reason"] == failed  # most frequent first
            assert sum(reasons.values()) == 4 and len(reasons) == 3
            assert any(r.startswith("invalid event: unsupported dataversion") for r in reasons)

            # Browsing twice gives the same messages in the same order: nothing lost or moved.
            listed = await items(c, dlq)
            assert listed["messages"] == 4 and not listed["more"]
            order = [i["message_id"] for i in listed["items"]]
            assert [i["message_id"] for i in (await items(c, queue))["items"]] == order  # the queue's own name works
            assert {sent.doomed, sent.doomed_too, sent.v7} < set(order) and len(order) == 4
            first, rest = await items(c, dlq, limit=2), await items(c, dlq, offset=2, limit=2)
            assert first["more"] and not rest["more"]
            assert [i["message_id"] for i in first["items"] + rest["items"]] == order

            by_id = {i["message_id"]: i for i in listed["items"]}
            doomed = by_id[sent.doomed]
            assert doomed["event_type"] == "complaint.registered" and doomed["factory"] == "F77"
            assert doomed["attempts"] == 2 and doomed["original_queue"] == queue
            assert doomed["routing_key"] == "complaint.registered.f77" and doomed["dead_lettered_at"]
            [garbage] = [i for i in listed["items"] if i["event_type"] is None]  # the dead-lettering named it
            garbage_id = garbage["message_id"]
            assert garbage["factory"] is None and garbage["attempts"] == 1 and "Invalid JSON" in garbage["reason"]

            shown = (await c.get(f"/admin/dead-letters/{dlq}/messages/{sent.v7}")).json()
            assert shown["body_format"] == "json" and shown["body"]["dataversion"] == 7
            assert shown["headers"][REASON_HEADER] == shown["reason"]
            assert shown["headers"]["x-cqm-original-queue"] == queue
            text = (await c.get(f"/admin/dead-letters/{dlq}/messages/{garbage_id}")).json()
            assert text["body_format"] == "text" and text["body"] == sent.garbage.decode()

            missing = await c.get(f"/admin/dead-letters/{dlq}/messages/no-such-id")
            assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
            for method, path, body in ROUTES[1:]:
                unknown = await c.request(method, path.format(queue="penalty.responsibility.dlq"), json=body)
                assert unknown.status_code == 404, (method, path, unknown.text)
                assert unknown.headers["content-type"] == "application/problem+json"

            # A discard needs a reason, and records it before the message goes.
            for body in ({}, {"reason": ""}, {"reason": "   "}):
                refused = await c.post(f"/admin/dead-letters/{dlq}/messages/{garbage_id}/discard", json=body)
                assert refused.status_code == 422, body
            why = "test traffic from the CRM sandbox 测试数据"
            done = await c.post(f"/admin/dead-letters/{dlq}/messages/{garbage_id}/discard", json={"reason": why})
            assert done.status_code == 200, done.text
            assert done.json() == {"queue": dlq, "message_id": garbage_id, "discarded": 1, "reason": why}
            [row] = await audit_rows(app, garbage_id)
            assert (row.actor, row.action, row.entity, row.factory) == (
                "user:tester",
                "dead_letter.discarded",
                "dead_letter",
                "*",
            )
            assert row.reason == why and row.before["reason"].startswith("invalid event")
            assert row.before["queue"] == dlq and row.before["event_type"] is None
            done = await c.post(f"/admin/dead-letters/{dlq}/messages/{sent.doomed}/discard", json={"reason": "dup"})
            assert done.status_code == 200, done.text
            [row] = await audit_rows(app, sent.doomed)
            assert row.factory == "F77" and row.before["event_type"] == "complaint.registered"
            assert row.before["reason"] == failed and row.after == {"state": "discarded"}

            left = await items(c, dlq)
            assert [i["message_id"] for i in left["items"]] == [m for m in order if m not in (garbage_id, sent.doomed)]
            again = await c.post(f"/admin/dead-letters/{dlq}/messages/{garbage_id}/discard", json={"reason": "twice"})
            assert again.status_code == 404
            assert len(await audit_rows(app, garbage_id)) == 1

        # A caller limited to F01 sees and acts on F01's dead letters only.
        async with asgi_client(app, auth("admin", "F01")) as c:
            assert [i["message_id"] for i in (await items(c, dlq))["items"]] == [sent.v7]
            hidden = await c.get(f"/admin/dead-letters/{dlq}/messages/{sent.doomed_too}")
            assert hidden.status_code == 404
            assert {r["count"] for r in (await summary_of(c, dlq))["reasons"]} == {1}

        # Each call examines a bounded number of messages and says when there are more.
        bounded = DeadLetterQueues.of(app.state.runtime, audit_log, examine_limit=1)
        [small] = [s for s in await bounded.summaries() if s.queue == dlq]
        assert (small.messages, small.examined, small.more) == (2, 1, True)
        async with asgi_client(app, auth("admin")) as c:
            assert (await summary_of(c, dlq))["messages"] == 2  # nothing lost by the bounded look
        assert await count(app, cases) == 0


async def test_only_admins_manage_dead_letters(sqlite_url: str, broker_ns: BrokerNamespace) -> None:
    _, dlq = queues(broker_ns)
    async with running_service("investigation", sqlite_url, broker_ns) as app:
        for role in ("quality_manager", "auditor", "customer_service", "integration"):
            async with asgi_client(app, auth(role)) as c:
                for method, path, body in ROUTES:
                    answer = await c.request(method, path.format(queue=dlq), json=body)
                    assert answer.status_code == 403, (role, method, path, answer.status_code)
        async with asgi_client(app) as c:
            assert (await c.get("/admin/dead-letters")).status_code == 401
        async with asgi_client(app, auth("admin")) as c:
            [summary] = (await c.get("/admin/dead-letters")).json()
            assert summary == {
                "queue": dlq,
                "original_queue": dlq.removesuffix(".dlq"),
                "exists": True,
                "messages": 0,
                "examined": 0,
                "more": False,
                "reasons": [],
            }
            schema = (await c.get("/openapi.json")).json()
            assert "/admin/dead-letters/{queue}/replay" in schema["paths"]


async def test_an_unreachable_broker_answers_503(sqlite_url: str) -> None:
    # The routes need no running service: the app alone, its broker on a closed port.
    closed = BrokerNamespace("amqp://guest:guest@127.0.0.1:1/")
    _, dlq = queues(closed)
    app = create_app(service_settings("investigation", sqlite_url, closed))
    async with asgi_client(app, auth("admin")) as c:
        for method, path, body in ROUTES:
            answer = await c.request(method, path.format(queue=dlq), json=body)
            assert answer.status_code == 503, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) >= 1


async def spend_delivery_limit(ns: BrokerNamespace, queue: str) -> None:
    """What a consumer crashing mid-message does: the broker's delivery limit dead-letters it."""
    connection = await aio_pika.connect(ns.url)
    async with connection:
        channel = await connection.channel()
        source = await channel.get_queue(queue, ensure=False)

        async def dead_lettered() -> bool:
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                return True
            await message.nack(requeue=True)
            return False

        await wait_for(dead_lettered, timeout=10, interval=0.05, what="the broker dead-lettering the message")


async def test_replay_goes_to_the_original_queue_only_by_id_reason_or_all(
    database_url: str, broker_ns: BrokerNamespace, tmp_path: Path
) -> None:
    queue, dlq = queues(broker_ns)
    policies = policies_without_f77(tmp_path)
    async with running_service("investigation", database_url, broker_ns, policy_dir=policies, **ATTEMPTS) as app:
        sent = await poison(broker_ns)
        async with asgi_client(app, auth("admin")) as c:
            await wait_for(lambda: holding(c, dlq, 4))

    # While the service is down, a message runs out of the broker's delivery limit (no x-cqm reason).
    late = registered(number="F01-2611-0300")
    await publish(broker_ns, late.routing_key, late.to_json(), message_id=str(late.id))
    await spend_delivery_limit(broker_ns, queue)
    # The operator adds the missing factory policy, restarts the service and replays.
    shutil.copy(policies / "F01.yaml", policies / "F77.yaml")
    async with running_service("investigation", database_url, broker_ns, policy_dir=policies, **ATTEMPTS) as app:
        # Another queue bound to the same routing keys must not see the replays.
        connection = await aio_pika.connect(broker_ns.url)
        async with connection:
            channel = await connection.channel()
            probe = await channel.declare_queue(f"{broker_ns.queue_prefix}probe", durable=True)
            await probe.bind(broker_ns.exchange, routing_key="complaint.registered.*")

        async def opened(number: str) -> int:
            return await count(app, cases, cases.c.number == number)

        async with asgi_client(app, auth("admin")) as c:
            summary = await wait_for(lambda: holding(c, dlq, 5))
            reasons = {r["reason"]: r["count"] for r in summary["reasons"]}
            assert reasons["delivery limit reached (broker)"] == 1
            broker_letter = (await c.get(f"/admin/dead-letters/{dlq}/messages/{late.id}")).json()
            assert broker_letter["original_queue"] == queue and broker_letter["dead_lettered_at"]
            assert broker_letter["event_type"] == "complaint.registered" and broker_letter["factory"] == "F01"

            one = await c.post(f"/admin/dead-letters/{dlq}/replay", json={"message_id": sent.doomed})
            assert one.status_code == 200, one.text
            assert one.json()["replayed"] == 1 and one.json()["target_queue"] == queue
            assert one.json()["message_ids"] == [sent.doomed]
            await wait_for(lambda: opened("F77-2611-0001"))
            assert await opened("F77-2611-0002") == 0  # the others stayed where they were
            assert (await summary_of(c, dlq))["messages"] == 4

            # Still unreadable: back in the DLQ, now naming who replayed it.
            by_reason = await c.post(f"/admin/dead-letters/{dlq}/replay", json={"reason_contains": "UNSUPPORTED data"})
            assert by_reason.json()["message_ids"] == [sent.v7]

            async def dead_again() -> dict[str, Any] | None:
                shown = await c.get(f"/admin/dead-letters/{dlq}/messages/{sent.v7}")
                found: dict[str, Any] = shown.json()
                return found if shown.status_code == 200 and "x-cqm-replayed-by" in found["headers"] else None

            again = await wait_for(dead_again)
            assert again["headers"]["x-cqm-replayed-by"] == "user:tester"
            assert again["reason"].startswith("invalid event: unsupported dataversion")

            # "all" takes what the queue held when it began: the ones that fail again end up
            # behind them, so it ends.
            everything = await c.post(f"/admin/dead-letters/{dlq}/replay", json={"all": True})
            assert everything.status_code == 200, everything.text
            assert (everything.json()["replayed"], everything.json()["examined"]) == (4, 4)
            assert not everything.json()["more"]
            await wait_for(lambda: opened("F77-2611-0002"))
            await wait_for(lambda: opened("F01-2611-0300"))
            left = await wait_for(lambda: holding(c, dlq, 2))
            assert {r["count"] for r in left["reasons"]} == {1}
            remaining = (await items(c, dlq))["items"]
            assert {i["event_type"] for i in remaining} == {"complaint.registered", None}  # v7 and the garbage
            assert sent.v7 in {i["message_id"] for i in remaining}

            nothing = await c.post(f"/admin/dead-letters/{dlq}/replay", json={"message_id": "no-such-id"})
            assert nothing.status_code == 200 and nothing.json()["replayed"] == 0
            for body in ({}, {"all": False}, {"all": True, "message_id": sent.v7}, {"reason_contains": " "}):
                refused = await c.post(f"/admin/dead-letters/{dlq}/replay", json=body)
                assert refused.status_code == 422, body
        assert await count(app, cases) == 3
        assert await drain_all(broker_ns, f"{broker_ns.queue_prefix}probe") == []


async def test_a_replay_is_the_original_message_without_its_dead_letter_headers(
    sqlite_url: str, broker_ns: BrokerNamespace
) -> None:
    queue, dlq = queues(broker_ns)
    v7 = json.loads(registered(number="F01-2611-0401").to_json())
    v7["dataversion"] = 7
    body = json.dumps(v7).encode()
    async with running_service("investigation", sqlite_url, broker_ns, **ATTEMPTS) as app:
        await publish(broker_ns, "complaint.registered.f01", body, message_id=v7["id"])
        async with asgi_client(app, auth("admin")) as c:
            await wait_for(lambda: holding(c, dlq, 1))
    late = registered(number="F01-2611-0402")
    await publish(broker_ns, late.routing_key, late.to_json(), message_id=str(late.id))
    await spend_delivery_limit(broker_ns, queue)

    # With the service stopped, what a replay puts in the original queue can be looked at.
    tool = DeadLetterQueues.of(app.state.runtime, audit_log)
    broker_letter = await tool.show(queue, str(late.id))
    assert broker_letter is not None and broker_letter.reason == "delivery limit reached (broker)"
    assert "x-death" in broker_letter.headers and broker_letter.attempts is None
    runtime = app.state.runtime
    nowhere = DeadLetterQueues(
        url=broker_ns.url,
        queues={dlq: f"{broker_ns.queue_prefix}probe.full"},  # never declared
        sessions=runtime.sessions,
        tables=runtime.tables,
        audit_table=audit_log,
        clock=runtime.clock,
        source="/tests",
    )
    with pytest.raises(OriginalQueueMissing):
        await nowhere.replay(dlq, actor="ops:test")
    result = await tool.replay(dlq, actor="ops:test")
    assert (result.replayed, result.target_queue) == (2, queue)
    replayed = {m.message_id: m for m in await drain_all(broker_ns, queue)}
    assert set(replayed) == {v7["id"], str(late.id)}
    assert replayed[v7["id"]].body == body and replayed[str(late.id)].body == late.to_json()
    for message in replayed.values():
        headers = message.headers or {}
        assert not {h for h in headers if h.startswith(("x-death", "x-first-death", "x-last-death"))}
        assert not {h for h in headers if h.startswith("x-cqm-") and not h.startswith("x-cqm-replayed-")}
        assert headers["x-cqm-replayed-by"] == "ops:test"
        assert datetime.fromisoformat(str(headers["x-cqm-replayed-at"])).tzinfo is not None
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/cloudevents+json"
    assert (await tool.summaries())[0].messages == 0


async def test_the_command_line_tool(
    sqlite_url: str, broker_ns: BrokerNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queue, dlq = queues(broker_ns)
    env = {**broker_ns.env(), "DATABASE_URL": sqlite_url, "POLICY_DIR": str(POLICY_DIR), "LOGNAME": "ops-li"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def run(*args: str) -> tuple[int, str, str]:
        status = await asyncio.to_thread(main, ["investigation", *args])
        out, err = capsys.readouterr()
        return status, out, err

    async with running_service("investigation", sqlite_url, broker_ns) as app:
        sent = await poison(broker_ns)  # F77 has no policy: dead-lettered after 5 attempts
        async with asgi_client(app, auth("admin")) as c:
            await wait_for(lambda: holding(c, dlq, 4))

        # As an operator runs it (the summary: reasons with counts).
        command = [sys.executable, "-m", "cqm_shared.dead_letters", "investigation", "list"]
        listed = await asyncio.to_thread(
            subprocess.run, command, env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert listed.returncode == 0, listed.stderr
        assert f"{dlq}: 4 message(s) → {queue}" in listed.stdout
        lines = [line.split(None, 1) for line in listed.stdout.splitlines() if line.startswith("  ")]
        counts = {reason: int(n) for n, reason in lines[1:]}  # after the header row
        assert sorted(counts.values()) == [1, 1, 2]
        assert any(r.startswith("failed after 5 attempts: FactoryPolicyMissing") for r in counts)

        status, out, _ = await run("list", queue)
        assert status == 0 and sent.v7 in out and "F77" in out and "4 message(s)" in out

        status, out, _ = await run("show", dlq, sent.v7)
        assert status == 0 and json.loads(out)["body"]["dataversion"] == 7

        with pytest.raises(SystemExit) as usage:
            await run("discard", dlq, sent.v7)  # --reason is required
        assert usage.value.code == 2
        assert (await run("discard", dlq, sent.v7, "--reason", "  "))[0] == 2
        status, _, err = await run("discard", dlq, sent.v7, "--reason", "sent by a test rig")
        assert status == 0, err
        [row] = await audit_rows(app, sent.v7)
        assert row.actor == "operator:ops-li" and row.reason == "sent by a test rig"
        assert (await run("show", dlq, sent.v7))[0] == 1
        assert (await run("list", "nobody.dlq"))[0] == 1

        status, out, err = await run("replay", dlq, "--reason", "FactoryPolicyMissing", "--actor", "ops:zhang")
        assert status == 0, err
        assert f"replayed 2 of 3 examined to {queue}" in out
        assert (await run("replay", dlq, "--id", "no-such-id"))[0] == 1

        async def back_with_actor() -> bool:
            found = await DeadLetterQueues.of(app.state.runtime, audit_log).show(dlq, sent.doomed)
            return found is not None and found.headers.get("x-cqm-replayed-by") == "ops:zhang"

        await wait_for(back_with_actor, timeout=30)  # still no policy: dead-lettered again

    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/")
    status, _, err = await run("list")
    assert status == 3 and "cannot reach" in err
