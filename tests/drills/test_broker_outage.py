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
from tests.polling import wait_for
from tests.stack import Stack

OUTAGE_ROUNDS = 8  # rounds of readiness checks every service answers 503 while the broker is away
NOTICE_DEADLINE = 90.0  # seconds until the drill gives up waiting for every service to notice
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

    async def all_ready() -> bool:
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
        return not pending

    try:
        await wait_for(all_ready, timeout=90, interval=0.2, what="every service ready")
    except AssertionError:
        failures.append(f"not ready 90 s after the broker came back: {sorted(pending)}")
    return ready_at


async def consuming_again(stack: Stack, flow: Flow, failures: list[str]) -> None:
    """Right after everyone is ready, new work is picked up promptly by every service."""
    before = await progress(stack)
    await publish(stack, flow.submission_events(1) + flow.determination_events(1))
    idle = set(stack.services)

    async def all_worked() -> bool:
        now = await progress(stack, idle)
        idle.difference_update(name for name, count in now.items() if count > before[name])
        return not idle

    try:
        await wait_for(all_worked, timeout=PROMPT, interval=0.2, what="new work done by every service")
    except AssertionError:
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
            # The outage lasts until every service has noticed it (503, subscribers down) and then
            # kept saying so for OUTAGE_ROUNDS rounds of checks, and intake took 5 posts meanwhile:
            # conditions, not a stopwatch. Once a service noticed, a ready answer is a failure.
            noticed: set[str] = set()
            down_rounds = 0

            async def outage_observed() -> bool:
                nonlocal down_rounds
                # Concurrently: with the broker away each answer may take its ping's timeout (2 s).
                answers = await asyncio.gather(*(readiness(client, s.url) for s in stack.services.values()))
                for name, (status, checks) in zip(stack.services, answers, strict=True):
                    seen[name].append(f"{status}/{checks.get('subscribers', '?')[:20]}")
                    down = status == 503 and checks.get("subscribers") != "ok"
                    if down:
                        noticed.add(name)
                    elif name in noticed:
                        failures.append(f"{name} /health/ready during the outage, after noticing it: {status} {checks}")
                if len(posted) < 5:
                    answer = await client.post(
                        f"{stack['intake'].url}/api/v1/complaints", json=form(flow.token, flow.submissions)
                    )
                    posted.append(answer)
                    if answer.status_code == 201:
                        flow.submissions += 1  # taken: the outbox owes it to the others
                if noticed == set(stack.services):
                    down_rounds += 1
                return down_rounds >= OUTAGE_ROUNDS and len(posted) >= 5

            try:
                await wait_for(outage_observed, timeout=NOTICE_DEADLINE, interval=1.0, what="the outage noticed")
            except AssertionError:
                failures.append(f"not every service noticed the outage: only {sorted(noticed)}")
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
        f"{name}: {count:.0f} failed publish attempts in one outage"
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
