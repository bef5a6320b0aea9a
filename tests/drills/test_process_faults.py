"""Issue 8 drills: kill -9 and SIGTERM of each service while work flows, then a restart.

Each drill sends 300 complaint.submitted (intake -> investigation -> notification) and 300
investigation.responsibility_determined (penalty), hits one service once it has done part of its
share, restarts it, and counts: every submission one complaint, one case, one dispatch per event,
every determination one assessment; nothing lost, nothing doubled, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.drills.flow import Flow, dead_letter_counts, ensure_running, progress, publish, settle, wait_progress
from tests.helpers import wait_for
from tests.stack import SERVICES, Stack

SUBMISSIONS = 300
DETERMINATIONS = 300
# What each service writes for the whole flow, and how much of it is done when the fault hits.
SHARE = {
    "intake": SUBMISSIONS,
    "investigation": SUBMISSIONS,
    "notification": 4 * SUBMISSIONS,  # two notices for complaint.registered, two for investigation.opened
    "penalty": DETERMINATIONS,
}
HIT_AT = {name: total // 8 for name, total in SHARE.items()}


async def start_flow(stack: Stack) -> tuple[Flow, dict[str, int]]:
    """Publish the flow; the stack's unit-of-work counts before it, to time the fault."""
    before = await progress(stack)
    flow = Flow()
    await publish(stack, flow.submission_events(SUBMISSIONS) + flow.determination_events(DETERMINATIONS))
    return flow, before


async def others_go_on(stack: Stack, name: str, before: dict[str, int]) -> None:
    """While `name` is down the other services keep working (or have finished their share)."""
    at_kill = await progress(stack)

    async def went_on() -> bool:
        now = await progress(stack)
        others = [o for o in SERVICES if o != name]
        return any(now[o] > at_kill[o] for o in others) or all(now[o] - before[o] >= SHARE[o] for o in others)

    await wait_for(went_on, timeout=60, interval=0.5)


@pytest.mark.parametrize("name", SERVICES)
async def test_kill_9_mid_flow_loses_and_doubles_nothing(each_stack: Stack, name: str) -> None:
    stack = each_stack
    dead_before = await dead_letter_counts(stack)
    flow, before = await start_flow(stack)
    try:
        done = await wait_progress(stack, name, before[name] + HIT_AT[name])
        await asyncio.to_thread(stack[name].kill)
        await others_go_on(stack, name, before)
    finally:
        await asyncio.to_thread(ensure_running, stack)
    assert done - before[name] < SHARE[name], "the kill came after the service had finished: the drill proves nothing"
    result = await settle(stack, flow)
    assert (result.lost, result.doubled) == (0, 0), str(result)
    assert await dead_letter_counts(stack) == dead_before


@pytest.mark.parametrize("name", SERVICES)
async def test_sigterm_under_load_stops_cleanly_and_loses_nothing(stack: Stack, name: str) -> None:
    dead_before = await dead_letter_counts(stack)
    flow, before = await start_flow(stack)
    service = stack[name]
    try:
        done = await wait_progress(stack, name, before[name] + HIT_AT[name])
        offset = len(service.log())
        code = await asyncio.to_thread(service.stop)  # SIGTERM, as an orchestrator sends it
        stopping = service.log()[offset:]
    finally:
        await asyncio.to_thread(ensure_running, stack)
    assert done - before[name] < SHARE[name], "SIGTERM came after the service had finished: the drill proves nothing"
    # Clean: uvicorn's graceful stop (it re-raises SIGTERM after shutdown, hence -15), not the kill after 40 s.
    assert code in (0, -signal.SIGTERM), f"exit code {code}; its log:\n{stopping[-3000:]}"
    assert "Application shutdown complete" in stopping, stopping[-3000:]
    assert "Traceback" not in stopping, stopping[-3000:]
    result = await settle(stack, flow)
    assert (result.lost, result.doubled) == (0, 0), str(result)
    assert await dead_letter_counts(stack) == dead_before
