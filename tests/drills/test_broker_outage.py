"""Issue 8 drills: the broker goes away under load, ~10 s, then comes back.

Two ways: `rabbitmqctl stop_app` / `start_app` (a restart), and kill -9 of the node's beam
process / `rabbitmq-server -detached` (a crash). Found in issue 8 and checked here:
- readiness said `subscribers: ok` while nothing consumed, and turned 200 before the consumers
  were back (fault 4): during the outage every service must answer 503 with the subscribers check
  not ok; once it answers 200 again its queues must have consumers, and new work must be done;
- the outbox relay spun (thousands of failed publishes in 10 s; fault 3): the failure counter may
  grow by a handful, and the relay logs the cause once per outage and once on recovery;
- the API must not answer 500 (fault 2): intake's POST is either taken (the outbox keeps the event)
  or refused with 503 problem+json and Retry-After;
- and afterwards nothing is lost, doubled or dead-lettered.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import pytest

from tests.drills import infra
from tests.drills.flow import (
    Flow,
    dead_letter_counts,
    form,
    progress,
    publish,
    publish_failures,
    readiness,
    settle,
    wait_progress,
)
from tests.helpers import auth
from tests.stack import Stack

OUTAGE = 10.0  # seconds the broker is away, from the moment it stopped answering
DETECTION = 3.0  # seconds a service may take to notice
MAX_PUBLISH_FAILURES = 20  # per service and outage: "the relay is quiet while waiting"
MAX_RELAY_LINES = 4  # per service and outage: the cause once, the recovery once, and some slack
PROMPT = 15.0  # seconds within which a service ready again has done new work
SUBSCRIPTIONS = {
    "intake": ("intake.submissions", "intake.investigations"),
    "investigation": ("investigation.complaints",),
    "notification": ("notification.complaints", "notification.investigations", "notification.penalties"),
    "penalty": ("penalty.responsibility", "penalty.breaches"),
}
MODES: dict[str, tuple[Callable[[], object], Callable[[], None]]] = {
    "restart": (infra.stop_broker_app, infra.start_broker_app),
    "hard-kill": (infra.kill_broker, infra.start_broker_server),
}
# A line the service logged (not a traceback's continuation) that comes from or names the relay.
RELAY_LINE = re.compile(r"^\d{4}-\d\d-\d\d .*relay", re.IGNORECASE)


async def ready_again(stack: Stack, client: httpx.AsyncClient, failures: list[str]) -> dict[str, float]:
    """Wait until every service is ready; at the moment each says so, its queues must have consumers.
    Returns when (monotonic) each turned ready."""
    ready_at: dict[str, float] = {}
    pending = set(stack.services)
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            status, _ = await readiness(client, stack[name].url)
            if status != 200:
                continue
            pending.discard(name)
            ready_at[name] = time.monotonic()
            queues = [stack.queue_prefix + q for q in SUBSCRIPTIONS[name]]
            states = await infra.queue_states(stack.rabbitmq_url, queues)
            idle = [q for q in queues if q not in states or states[q].consumers == 0]
            if idle:
                failures.append(f"{name} said ready (200) while nothing consumed {idle}")
        await asyncio.sleep(0.2)
    if pending:
        failures.append(f"not ready 90 s after the broker came back: {sorted(pending)}")
    return ready_at


async def consuming_again(stack: Stack, flow: Flow, failures: list[str]) -> None:
    """Right after everyone is ready, new work is picked up promptly by every service."""
    before = await progress(stack)
    await publish(stack, flow.submission_events(1) + flow.determination_events(1))
    deadline = time.monotonic() + PROMPT
    idle = set(stack.services)
    while idle and time.monotonic() < deadline:
        now = await progress(stack, idle)
        idle -= {name for name, count in now.items() if count > before[name]}
        await asyncio.sleep(0.2)
    if idle:
        failures.append(f"ready but no new work done within {PROMPT}s: {sorted(idle)}")


@pytest.mark.parametrize("mode", MODES)
async def test_broker_outage_under_load(stack: Stack, mode: str) -> None:
    take_down, bring_back = MODES[mode]
    dead_before = await dead_letter_counts(stack)
    before = await progress(stack)
    flow = Flow()
    await publish(stack, flow.submission_events(300) + flow.determination_events(300))
    failures: list[str] = []
    seen: dict[str, list[str]] = {name: [] for name in stack.services}  # readiness during the outage
    async with httpx.AsyncClient(headers=auth("admin", "*"), timeout=10) as client:
        await wait_progress(stack, "intake", before["intake"] + 40)  # mid-flow
        counted = {name: await publish_failures(client, s.url) for name, s in stack.services.items()}
        offsets = {name: len(s.log()) for name, s in stack.services.items()}
        posted: list[httpx.Response] = []
        grew: dict[str, float] = {}
        try:
            await asyncio.to_thread(take_down)
            down_at = time.monotonic()
            while (elapsed := time.monotonic() - down_at) < OUTAGE:
                # Concurrently: with the broker away each answer may take its ping's timeout (2 s).
                answers = await asyncio.gather(*(readiness(client, s.url) for s in stack.services.values()))
                for name, (status, checks) in zip(stack.services, answers, strict=True):
                    seen[name].append(f"{elapsed:.0f}s:{status}/{checks.get('subscribers', '?')[:20]}")
                    if elapsed >= DETECTION and (status != 503 or checks.get("subscribers") == "ok"):
                        failures.append(f"{elapsed:4.1f}s into the outage {name} /health/ready: {status} {checks}")
                if len(posted) < 5:
                    answer = await client.post(
                        f"{stack['intake'].url}/api/v1/complaints", json=form(flow.token, flow.submissions)
                    )
                    posted.append(answer)
                    if answer.status_code == 201:
                        flow.submissions += 1  # taken: the outbox owes it to the others
                await asyncio.sleep(1.0)
            for name, service in stack.services.items():
                grew[name] = await publish_failures(client, service.url) - counted[name]
        finally:
            await asyncio.to_thread(bring_back)
        up_at = time.monotonic()
        ready_after = await ready_again(stack, client, failures)
        print(
            "ready again, seconds after the broker came back:", {n: round(t - up_at, 1) for n, t in ready_after.items()}
        )
        await consuming_again(stack, flow, failures)
    result = await settle(stack, flow)
    print(f"outcome: {result}")
    print(f"POST during the outage: {[a.status_code for a in posted]}; publish failures: {grew}")
    for name, observed in seen.items():
        print(f"{name} /health/ready during the outage: {' '.join(observed)}")
    assert (result.lost, result.doubled) == (0, 0), str(result)
    assert await dead_letter_counts(stack) == dead_before, "an outage dead-lettered messages"

    failures += [
        f"{name}: {count:.0f} failed publish attempts in a {OUTAGE:.0f}s outage"
        for name, count in grew.items()
        if count > MAX_PUBLISH_FAILURES
    ]
    for answer in posted:
        if answer.status_code == 503:
            if "retry-after" not in answer.headers or "problem+json" not in answer.headers.get("content-type", ""):
                failures.append(f"POST during the outage: 503 without Retry-After/problem+json: {answer.headers}")
        elif answer.status_code != 201:
            failures.append(f"POST during the outage answered {answer.status_code}: {answer.text[:300]}")
    for name, service in stack.services.items():
        lines = [line for line in service.log()[offsets[name] :].splitlines() if RELAY_LINE.search(line)]
        print(f"{name}: {len(lines)} relay lines, e.g. {lines[:2]}")
        if len(lines) > MAX_RELAY_LINES:
            failures.append(f"{name}: the relay logged {len(lines)} lines for one outage, e.g. {lines[:3]}")
        if grew[name] or (name == "intake" and any(a.status_code == 201 for a in posted)):
            # It had events to publish while the broker was away: the cause, then the recovery.
            if not any("unavailable" in line.lower() for line in lines):
                failures.append(f"{name}: the relay never logged the broker as unavailable: {lines[:3]}")
            if not any("again" in line.lower() for line in lines):
                failures.append(f"{name}: the relay never logged publishing again: {lines[:3]}")
    assert not failures, "\n".join(failures)
