"""PROCESS_ROLE: an `api` process and a `worker` process of one service split its work between them.

Kubernetes runs each service as two Deployments (deploy/k8s): `<service>-api`, scaled on CPU,
and `<service>-worker`, scaled on queue length. Here intake and investigation each run as one
api and one worker process on one database: a complaint posted to intake's api process is
relayed by it, consumed only by investigation's worker, and read back from investigation's api.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.drills.flow import form
from tests.drills.infra import queue_states
from tests.helpers import auth
from tests.polling import wait_for
from tests.stack import Stack, running_stack


def test_api_process_serves_and_relays_while_only_the_worker_consumes() -> None:
    # running_stack is synchronous (it creates databases with asyncio.run): the checks run inside.
    with running_stack("postgresql", names=("intake", "investigation"), replicas=2, start=False) as stack:
        for name in ("intake", "investigation"):
            api, worker = stack.replicas[name]
            api.env["PROCESS_ROLE"], worker.env["PROCESS_ROLE"] = "api", "worker"
        stack.start(("intake", "investigation"))
        asyncio.run(_check_roles(stack))


async def _check_roles(stack: Stack) -> None:
    intake_api, _ = stack.replicas["intake"]
    investigation_api, investigation_worker = stack.replicas["investigation"]
    headers = auth("quality_engineer", ["F01"])
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        ready = {p.label: (await client.get(f"{p.url}/health/ready")).json() for p in stack.processes()}
        # An api process has no subscriptions to report; a worker does, and both relay.
        assert "subscribers" not in ready["intake"]["checks"], ready
        assert ready["intake#2"]["checks"]["subscribers"] == "ok", ready
        assert all(r["checks"]["outbox_relay"] == "ok" for r in ready.values()), ready

        answer = await client.post(f"{intake_api.url}/api/v1/complaints", json=form("roles", 1))
        assert answer.status_code == 201, answer.text
        number = answer.json()["number"]

        async def opened() -> httpx.Response | None:
            found = await client.get(f"{investigation_api.url}/api/v1/investigations/{number}")
            return found if found.status_code == 200 else None

        case = await wait_for(opened, timeout=30, what=f"case {number} opened via the worker")
        assert case is not None and case.json()["number"] == number

    queues = await queue_states(stack.rabbitmq_url, [f"{stack.queue_prefix}investigation.complaints"])
    # One consumer on the queue: the worker's. The api process never subscribed.
    assert [q.consumers for q in queues.values()] == [1], queues
    assert "started (api): 0 subscriptions" in investigation_api.log()
    assert "started (worker)" in investigation_worker.log()
