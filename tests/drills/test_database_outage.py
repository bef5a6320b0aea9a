"""Issue 8 drill: PostgreSQL stopped for ~10 s while 300 complaint.submitted are queued and consumed.

Found in issue 8: a 10-second outage dead-lettered 296 of 300 queued events (fault 1: an outage
consumed the retry budget), and the API answered 500 (fault 2). Now the consumers must wait for
the database and go on, nothing may be dead-lettered, every API answers 503 problem+json with
Retry-After during the outage (never 500), and /health/ready says 503 with the database not ok.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.drills import infra
from tests.drills.flow import Flow, dead_letter_counts, form, progress, publish, readiness, settle, wait_progress
from tests.helpers import auth
from tests.polling import wait_for
from tests.stack import Stack

OUTAGE_ROUNDS = 8  # rounds of reads, readiness checks and a post while the database is away
NUMBER = "F01-2611-0001"  # any complaint number: the answer must be 503 whether it exists or not
# A read (list or search where the service has one) of every service, and intake's POST.
READS = {
    "intake": ["/api/v1/complaints", f"/api/v1/audit?complaint={NUMBER}"],
    "investigation": [f"/api/v1/investigations/{NUMBER}", f"/api/v1/audit?complaint={NUMBER}"],
    "penalty": [f"/api/v1/assessments?complaint={NUMBER}", f"/api/v1/audit?complaint={NUMBER}"],
    "notification": [f"/api/v1/notifications?complaint={NUMBER}", f"/api/v1/audit?complaint={NUMBER}"],
}


def unavailable(what: str, answer: httpx.Response) -> str | None:
    """What is wrong with an answer given while the database is down, or None."""
    if answer.status_code != 503:
        return f"{what}: {answer.status_code} (not 503): {answer.text[:200]}"
    if "problem+json" not in answer.headers.get("content-type", ""):
        return f"{what}: 503 but {answer.headers.get('content-type')}, not application/problem+json"
    if "retry-after" not in answer.headers:
        return f"{what}: 503 without Retry-After"
    return None


async def test_database_outage_dead_letters_nothing_and_answers_503(stack: Stack) -> None:
    dead_before = await dead_letter_counts(stack)
    before = await progress(stack)
    flow = Flow()
    await publish(stack, flow.submission_events(30) + flow.determination_events(30))
    failures: list[str] = []
    answers = 0
    async with httpx.AsyncClient(headers=auth("admin", "*"), timeout=10) as client:
        await wait_progress(stack, "intake", before["intake"] + 10)  # mid-flow
        try:
            await asyncio.to_thread(infra.stop_database)
            # The rest arrives while the database is away: 270 submissions queued for intake (the
            # case of issue 8), and investigation and notification still have the first ones' events.
            await publish(stack, flow.submission_events(270) + flow.determination_events(270))
            rounds = 0

            async def outage_observed() -> bool:
                """One round of reads, readiness checks and a post; the outage lasts OUTAGE_ROUNDS."""
                nonlocal rounds, answers, failures
                for name, service in stack.services.items():
                    for path in READS[name]:
                        problem = unavailable(f"{name} GET {path}", await client.get(f"{service.url}{path}"))
                        failures += [problem] if problem else []
                        answers += 1
                    status, checks = await readiness(client, service.url)
                    if status != 503 or checks.get("database") == "ok":
                        failures.append(f"{name} /health/ready during the outage: {status} {checks}")
                posted = await client.post(
                    f"{stack['intake'].url}/api/v1/complaints", json=form(f"{flow.token}x", flow.submissions)
                )
                problem = unavailable("intake POST /api/v1/complaints", posted)
                failures += [problem] if problem else []
                rounds += 1
                return rounds >= OUTAGE_ROUNDS

            await wait_for(outage_observed, timeout=120, interval=1.0, what=f"{OUTAGE_ROUNDS} rounds of the outage")
        finally:
            await asyncio.to_thread(infra.start_database)
    result = await settle(stack, flow, timeout=150)
    dead = await dead_letter_counts(stack)
    print(f"outcome: {result}; dead letters {dead} (before: {dead_before})")
    assert (result.lost, result.doubled) == (0, 0), str(result)
    assert dead == dead_before, f"the outage dead-lettered messages: {dead} (before: {dead_before})"
    assert answers > 0
    assert not failures, f"{len(failures)} wrong answers during the outage:\n" + "\n".join(dict.fromkeys(failures))
