"""Two replicas of every service side by side on one RabbitMQ and one PostgreSQL (issue 13).

Eight processes (`running_stack("postgresql", replicas=2)`): the two of each service share its
database and its queues. The whole flow runs through them:

- 40 complaints posted over HTTP, to each intake replica in turn, and 100 `complaint.submitted`
  and 20 `investigation.responsibility_determined` published from outside (tests/drills/flow.py);
- 10 of the cases walked over investigation's API (each request to the next replica) through
  triage, containment, root cause and responsibility; penalty assesses the determination, its
  draft is approved over penalty's API, notification tells HR and finance;
- deadlines short enough to fall due meanwhile (replica_flow.SHORT): every open case's first
  response (with its reminders and three escalation levels) and the walked cases' workshop
  training, whose breach penalty assesses too. Both notification replicas claim the same due
  timers (`FOR UPDATE SKIP LOCKED` under a lease).

Then, from the databases, the broker and each process's own /metrics, nothing is lost or doubled:
every complaint registered once, a case per complaint, an assessment per determination and per
breach, every due timer fired exactly once (one `fire`, one `sla.*` event, its notices), every
event a consumer commits in its inbox once and processed by exactly one replica (the processed
counts of both replicas add up to the inbox), every outbox row published once (the relays'
published counts add up to the outbox, none left), no duplicate delivery, no dead letter. And
each replica did its share: it answered API requests, consumed, relayed and (notification)
fired timers, each counted by its own process. Both stop cleanly, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cqm_shared.contracts.envelope import CloudEvent
from tests.drills import infra
from tests.drills.flow import QUEUES, Flow, Tally, dead_letter_counts, publish, query, settle
from tests.e2e.replica_flow import (
    CS,
    PATIENCE,
    SHORT_MILESTONES,
    Metrics,
    Replicas,
    scrape,
    short_deadline_policies,
    walk_to_approved_penalty,
)
from tests.polling import wait_for
from tests.stack import SERVICES, Stack, running_stack

OVER_HTTP = 40
ON_BROKER = 100
DETERMINATIONS = 20
WALKED = 10
COMPLAINTS = OVER_HTTP + ON_BROKER
# What each consumer must hold in its inbox: (consumer, producer, event types the producer
# staged in its outbox). Events from outside are added by the test.
DELIVERIES = (
    ("investigation.complaints", "intake", ("complaint.registered",)),
    ("notification.complaints", "intake", ("complaint.registered",)),
    (
        "notification.investigations",
        "investigation",
        ("investigation.opened", "investigation.triaged", "investigation.responsibility_determined"),
    ),
    ("penalty.responsibility", "investigation", ("investigation.responsibility_determined",)),
    ("notification.penalties", "penalty", ("penalty.assessed", "penalty.finalized")),
)


def test_two_replicas_of_every_service_share_the_work_without_doubling_or_losing_any(tmp_path: Path) -> None:
    env = {
        "POLICY_DIR": str(short_deadline_policies(tmp_path / "policies")),
        # Both relays and both timer workers poll often: they meet on the same rows.
        "RELAY_POLL_INTERVAL": "0.2",
        "WORKER_POLL_INTERVAL": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    began = time.monotonic()
    # running_stack is synchronous (it creates the databases with asyncio.run): the flow runs inside.
    with running_stack("postgresql", replicas=2, extra_env=env) as stack:
        started = time.monotonic() - began
        try:
            summary = asyncio.run(_flow_through_both_replicas(stack))
        finally:
            codes = stack.stop()
            _keep_logs(stack, tmp_path / "logs")
            logs = {process.label: process.log() for process in stack.processes()}
    print(f"\nstack started in {started:.0f} s; {summary}; {time.monotonic() - began:.0f} s in all; logs in {tmp_path}")
    assert len(codes) == 2 * len(SERVICES), codes
    troubled = [label for label, log in logs.items() if "Traceback" in log]
    assert not troubled, "a traceback in " + "; ".join(f"{label}:\n{logs[label][-4000:]}" for label in troubled)
    assert all(code in (0, -15) for code in codes.values()), f"exit codes after SIGTERM: {codes}"


async def _flow_through_both_replicas(stack: Stack) -> str:
    flow = Flow(token=f"replicas{uuid.uuid4().hex[:6]}")
    replicas = Replicas(stack)
    over_http = flow.submission_events(OVER_HTTP)
    outside = flow.submission_events(ON_BROKER) + flow.determination_events(DETERMINATIONS)
    async with httpx.AsyncClient(timeout=30) as client:
        numbers, _ = await asyncio.gather(_post(client, replicas, over_http), publish(stack, outside))
        walked = numbers[:WALKED]
        await asyncio.gather(*(walk_to_approved_penalty(client, replicas, number) for number in walked))
        await _wait_for_timers_and_breaches(stack, walked)
        tally = await settle(stack, flow, timeout=PATIENCE, quiet=3.0)
        metrics = {p.label: await scrape(client, p) for p in stack.processes()}

    counted = _check_flow(tally)
    dead = await dead_letter_counts(stack)
    assert len(dead) == len(QUEUES) and not any(dead.values()), f"dead letters: {dead}"
    await _check_walked_cases(stack, walked)
    fired = await _check_each_due_timer_fired_once(stack, metrics)
    published = await _check_each_event_published_and_consumed_once(stack, metrics, outside)
    told = await _check_each_event_told_once(stack)
    worked = await _check_every_replica_worked(stack, metrics)
    return f"{counted}; {fired}; {published}; {told}; (API requests, processed, published) per process {worked}"


def _check_flow(tally: Tally) -> str:
    """Every complaint registered once, a case each, both told; an assessment per outside determination.

    Not `tally.doubled`: its `extra_dispatches` count every further `sla.*` dispatch of a case, and
    here each due timer rightly raises one of its own (checked timer by timer below)."""
    doubled = {
        "complaints": tally.complaint_rows - tally.complaints,
        "cases": tally.case_rows - tally.cases,
        "assessments": tally.assessment_rows - tally.assessments,
    }
    described = (
        f"lost={tally.lost} doubled={sum(doubled.values())} {doubled} | complaints {tally.complaints}/{COMPLAINTS}, "
        f"cases {tally.cases}, told of registration {tally.notified_registered} and opening {tally.notified_opened}, "
        f"assessments {tally.assessments}/{DETERMINATIONS}, outbox pending {tally.pending_outbox}"
    )
    assert tally.lost == 0 and not any(doubled.values()), described
    assert tally.complaints == COMPLAINTS and tally.assessments == DETERMINATIONS and tally.outbox_empty, described
    return described


async def _post(client: httpx.AsyncClient, replicas: Replicas, events: list[CloudEvent]) -> list[str]:
    """Each complaint posted to the next intake replica, eight at a time; their numbers."""
    gate = asyncio.Semaphore(8)

    async def one(event: CloudEvent) -> str:
        async with gate:
            answer = await client.post(f"{replicas('intake')}/api/v1/complaints", json=event.data, headers=CS)
        assert answer.status_code == 201, answer.text
        number: str = answer.json()["number"]
        return number

    return list(await asyncio.gather(*(one(e) for e in events)))


async def _wait_for_timers_and_breaches(stack: Stack, walked: list[str]) -> None:
    """Until every short deadline's timers are done: the open cases' first responses scheduled and
    fired (the walked ones' met by triage), the walked cases' training breaches assessed."""
    notification, penalty = stack["notification"].database_url, stack["penalty"].database_url
    short = ", ".join(f"'{m}'" for m in SHORT_MILESTONES)
    progress_sql = (
        f"SELECT count(DISTINCT number) FILTER (WHERE milestone = 'first_response'), "
        f"count(*) FILTER (WHERE state = 'pending' AND milestone IN ({short})) FROM timers"
    )

    async def done() -> tuple[int, int, int] | None:
        [(scheduled, pending)] = await query(notification, progress_sql)
        breaches = {r[0] for r in await query(penalty, "SELECT number FROM assessments WHERE basis = 'breach'")}
        state = (int(scheduled), int(pending), len(breaches & set(walked)))
        return state if scheduled >= COMPLAINTS - WALKED and pending == 0 and state[2] == WALKED else None

    await wait_for(done, timeout=PATIENCE, interval=1.0, what="(cases with first-response timers, pending, breaches)")


async def _check_walked_cases(stack: Stack, walked: list[str]) -> None:
    """Each walked case: its determination assessed once (approved) and its training breach once."""
    rows = await query(stack["penalty"].database_url, "SELECT number, basis, status, milestone FROM assessments")
    per_case: dict[str, Counter[tuple[str, str, str | None]]] = {n: Counter() for n in walked}
    for number, basis, status, milestone in rows:
        if number in per_case:
            per_case[number][(basis, status, milestone)] += 1
    expected = Counter({("determination", "approved", None): 1, ("breach", "draft", "workshop_training"): 1})
    wrong = {n: dict(found) for n, found in per_case.items() if found != expected}
    assert not wrong, f"walked cases' assessments, expected one approved determination and one breach each: {wrong}"


async def _check_each_due_timer_fired_once(stack: Stack, metrics: dict[str, Metrics]) -> str:
    """Every timer due is fired, exactly once: one `fire` audit row, one `sla.*` event (told apart
    by its fired_at), notices of its own; the replicas' firings add up to the fired timers."""
    url = stack["notification"].database_url
    timers = await query(url, "SELECT id, number, milestone, round, kind, level, state, fired_at FROM timers")
    fired = {t[0]: t for t in timers if t[6] == "fired"}
    overdue = await query(url, "SELECT id FROM timers WHERE state = 'pending' AND fire_at < now() - interval '1 s'")
    # Cancelled (their deadline met) when already due: a replica may have claimed them first.
    cancelled = int((await query(url, "SELECT count(*) FROM timers WHERE fire_at <= cancelled_at"))[0][0])
    assert not overdue and all(t[7] is not None for t in fired.values()), f"{len(overdue)} due timers never fired"
    # The breach and three escalation levels, at least, of the first response of each case left
    # open and of the training of each walked case.
    least = 4 * (COMPLAINTS - WALKED) + 4 * WALKED
    assert len(fired) >= least, f"only {len(fired)} timers fired, expected at least {least}"

    audits = await query(
        url, "SELECT after->>'timer', count(*) FROM audit_log WHERE entity = 'timer' AND action = 'fire' GROUP BY 1"
    )
    fires = {timer: int(n) for timer, n in audits}
    twice = {t: n for t, n in fires.items() if n != 1}
    assert not twice and set(fires) == set(fired), (
        f"fire audit rows: {len(fires)} timers for {len(fired)} fired, more than one for {twice}"
    )

    def key(number: str, milestone: str, round_: int, breached: bool, level: int, at: datetime) -> tuple[Any, ...]:
        return (number, milestone, round_, breached, level, at)

    expected = Counter(key(t[1], t[2], t[3], t[4] != "reminder", t[5], t[7]) for t in fired.values())
    bodies = [json.loads(b) for (b,) in await query(url, "SELECT body FROM outbox WHERE event_type LIKE 'sla.%'")]
    raised = Counter(
        key(
            e["data"]["number"],
            e["data"]["milestone"],
            e["data"]["round"],
            e["type"] == "sla.breached",
            e["data"]["level"],
            datetime.fromisoformat(e["data"]["at"]),
        )
        for e in bodies
    )
    assert raised == expected, (
        f"{len(bodies)} sla.* events for {len(fired)} fired timers; doubled {sum((raised - expected).values())}, "
        f"missing {sum((expected - raised).values())}"
    )
    told = {r[0] for r in await query(url, "SELECT DISTINCT event_id FROM notifications WHERE event_type LIKE 'sla.%'")}
    assert told == set(fired), f"{len(set(fired) - told)} fired timers told nobody, {len(told - set(fired))} unknown"

    labels = [p.label for p in stack.replicas["notification"]]
    firings = {p: metrics[p].total("cqm_notification_lateness_seconds_count", worker="timers") for p in labels}
    claims = {p: metrics[p].total("cqm_notification_worker_items_total", worker="timers") for p in labels}
    assert sum(firings.values()) == len(fired), f"firings per replica {firings} for {len(fired)} fired timers"
    # A claimed timer is fired, or was cancelled meanwhile (a walked case's triage); none claimed twice.
    assert len(fired) <= sum(claims.values()) <= len(fired) + cancelled, f"claims {claims}, {len(fired)} fired"
    assert all(firings.values()), f"a notification replica fired no timer: {firings}"
    return (
        f"{len(fired)} timers fired once each (per replica {firings}, claimed {claims}, {cancelled} cancelled when due)"
    )


async def _check_each_event_published_and_consumed_once(
    stack: Stack, metrics: dict[str, Metrics], outside: list[CloudEvent]
) -> str:
    """Every outbox row published once, by one relay; every event a consumer needs in its inbox
    (once: its key), processed by exactly one replica; no delivery seen twice."""
    outboxes: dict[str, list[Any]] = {}
    relayed = {}
    for name in SERVICES:
        outboxes[name] = await query(stack[name].database_url, "SELECT id, event_type, published_at FROM outbox")
        labels = [p.label for p in stack.replicas[name]]
        published = {label: metrics[label].total("cqm_events_published_total") for label in labels}
        failures = {label: metrics[label].total("cqm_event_publish_failures_total") for label in labels}
        unpublished = sum(1 for row in outboxes[name] if row[2] is None)
        assert unpublished == 0 and sum(published.values()) == len(outboxes[name]), (
            f"{name}: {len(outboxes[name])} outbox rows, {unpublished} unpublished, published per relay {published}"
        )
        assert not any(failures.values()), f"{name}: publish failures per relay {failures}"
        relayed[name] = f"{len(outboxes[name])} by {'+'.join(str(n) for n in published.values())}"

    inboxes: dict[str, set[str]] = {}
    outcomes: dict[str, Counter[str]] = {}
    for name in SERVICES:
        rows = await query(stack[name].database_url, "SELECT consumer, event_id FROM inbox")
        for consumer, event_id in rows:
            inboxes.setdefault(consumer, set()).add(event_id)
        assert len(rows) == len({(c, e) for c, e in rows}), f"{name}: an event twice in one consumer's inbox"
        for process in stack.replicas[name]:
            consumed = metrics[process.label].by("cqm_events_consumed_total", "queue", "outcome")
            for (queue, outcome), n in consumed.items():
                outcomes.setdefault(queue.removeprefix(stack.queue_prefix), Counter())[outcome] += n

    wanted: dict[str, set[str]] = {consumer: set() for consumer, _, _ in DELIVERIES}
    for consumer, producer, types in DELIVERIES:
        wanted[consumer] |= {row[0] for row in outboxes[producer] if row[1] in types}
    wanted["intake.submissions"] = {str(e.id) for e in outside if e.type == "complaint.submitted"}
    wanted["penalty.responsibility"] |= {str(e.id) for e in outside if e.type != "complaint.submitted"}
    missing = {c: len(ids - inboxes.get(c, set())) for c, ids in wanted.items() if ids - inboxes.get(c, set())}
    sizes = {c: len(ids) for c, ids in wanted.items()}
    assert not missing, f"events missing from their consumer's inbox: {missing} (of {sizes})"
    for queue, counted in outcomes.items():
        held = len(inboxes.get(queue, set()))
        assert counted["processed"] == held, f"{queue}: {held} inbox rows, processed by the replicas {dict(counted)}"
    seen_twice = {q: dict(c) for q, c in outcomes.items() if c["duplicate"] or c["dead_lettered"]}
    assert not seen_twice, f"deliveries seen twice or dead-lettered: {seen_twice}"
    processed = {q: c["processed"] for q, c in outcomes.items()}
    return f"outbox rows published once {relayed}, deliveries processed once {processed}, none twice"


async def _check_each_event_told_once(stack: Stack) -> str:
    """Notification told of every event it routes (those its consumers must hold), once per
    recipient and channel."""
    sql = "SELECT event_id, recipient, channel FROM notifications"
    notices = [tuple(r) for r in await query(stack["notification"].database_url, sql)]
    twice = sum(n - 1 for n in Counter(notices).values())
    told = {event_id for event_id, _, _ in notices}
    untold: Counter[str] = Counter()
    for consumer, producer, types in DELIVERIES:
        if consumer.startswith("notification."):
            for event_id, event_type in await query(stack[producer].database_url, "SELECT id, event_type FROM outbox"):
                untold[event_type] += event_type in types and event_id not in told
    assert twice == 0 and not +untold, f"notices: {twice} doubled, events told nobody {dict(+untold)}"
    return f"{len(notices)} notices, each once per event, recipient and channel"


async def _check_every_replica_worked(stack: Stack, metrics: dict[str, Metrics]) -> dict[str, tuple[int, int, int]]:
    """Each process answered API requests, processed deliveries and relayed events of its own, and
    each subscription queue has both replicas of its service as consumers."""
    work = {
        p.label: (
            metrics[p.label].api_requests(),
            metrics[p.label].total("cqm_events_consumed_total", outcome="processed"),
            metrics[p.label].total("cqm_events_published_total"),
        )
        for p in stack.processes()
    }
    idle = {label: w for label, w in work.items() if not all(w)}
    assert not idle, f"replicas idle at something, (api requests, processed, published): {idle}; all: {work}"
    states = await infra.queue_states(stack.rabbitmq_url, [stack.queue_prefix + q for q in QUEUES])
    consumers = {name.removeprefix(stack.queue_prefix): s.consumers for name, s in states.items()}
    assert consumers == dict.fromkeys(QUEUES, 2), f"consumers per queue: {consumers}"
    return work


def _keep_logs(stack: Stack, folder: Path) -> None:
    """The processes' logs outlive the stack's folder (the evidence when something failed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for process in stack.processes():
        if process.log_path.exists():
            shutil.copy(process.log_path, folder / process.log_path.name)
