"""Intake under load, beside this machine's raw RabbitMQ ceiling.

Starts the intake service as its own process (SQLite, then PostgreSQL), drives
`POST /api/v1/complaints` from this process with an async httpx loop (C concurrent clients
for D seconds), and prints sustained requests/s with p50/p99 latency. In the same run it
measures the broker alone (aio-pika persistent publish with confirms, then consume with
ack), so every figure is also a ratio of what the broker can do here.

    make bench-intake     # or: uv run python bench/intake_load.py --seconds 20 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.helpers import auth  # noqa: E402  (the development token the service accepts)

RABBITMQ = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def form(i: int) -> dict[str, object]:
    return {
        "factory": "F01" if i % 2 else "F02",
        "channel": "portal",
        "customer": {"company": f"Customer {i % 500}", "contact_name": "Zhang", "email": f"c{i}@example.com"},
        "product": {
            "part_number": f"PC-{i % 97}",
            "order_number": f"SO-{i}",
            "quantity_shipped": 100,
            "quantity_defective": 3,
        },
        "phenomenon": "尺寸超差 dimension out of tolerance",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError("intake exited during start")
            try:
                if (await client.get(f"{url}/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("intake did not become ready")


async def load(url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds
    headers = auth("customer_service", "*")

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            answer = await client.post(f"{url}/api/v1/complaints", json=form(counter))
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 201:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors


async def run_intake(database_url: str, token: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "RABBITMQ_URL": RABBITMQ,
        "ENVIRONMENT": "development",
        "EXCHANGE": f"bench-{token}.complaints",
        "QUEUE_PREFIX": f"bench-{token}.",
        "POLICY_DIR": str(REPO / "deploy/policies"),
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "RATE_LIMIT_BURST": "100000000",
    }
    subprocess.run([sys.executable, "-m", "intake", "migrate"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "intake", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, process)
        await load(url, clients, 2.0)  # warm-up
        return await load(url, clients, seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def broker_ceiling(token: str, count: int, in_flight: int) -> tuple[float, float]:
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(f"bench-{token}.raw", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"bench-{token}.raw", durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, "#")
        body = b'{"specversion": "1.0"}' + b" " * 1500  # about the size of a complaint.registered event
        started = time.perf_counter()
        for offset in range(0, count, in_flight):
            await asyncio.gather(
                *(
                    exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "x.f01")
                    for _ in range(min(in_flight, count - offset))
                )
            )
        publish_rate = count / (time.perf_counter() - started)
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=in_flight)
        consume_queue = await consumer_channel.get_queue(queue.name)
        received = 0
        done = asyncio.Event()
        started = time.perf_counter()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= count:
                done.set()

        await consume_queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=120)
        consume_rate = count / (time.perf_counter() - started)
        await consumer_channel.close()
        await channel.queue_delete(queue.name)
        await channel.exchange_delete(exchange.name)
    return publish_rate, consume_rate


async def cleanup(token: str) -> None:
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel()
        for name in ("intake.submissions", "intake.investigations"):
            for suffix in ("", ".dlq"):
                await channel.queue_delete(f"bench-{token}.{name}{suffix}")
        for exchange in (f"bench-{token}.complaints", f"bench-{token}.complaints.dlx"):
            await channel.exchange_delete(exchange)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    token = uuid.uuid4().hex[:8]
    print(f"machine: {platform.node()} {platform.machine()} cores={os.cpu_count()} python={platform.python_version()}")
    print(
        f"load: {args.clients} concurrent clients for {args.seconds:.0f} s, POST /api/v1/complaints (separate process)"
    )
    publish_rate, consume_rate = await broker_ceiling(token, args.messages, 100)
    print(
        f"RabbitMQ alone: publish persistent+confirm {publish_rate:8.0f} msg/s, consume+ack {consume_rate:8.0f} msg/s"
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            rps, p50, p99, errors = await run_intake(
                f"sqlite+aiosqlite:///{folder}/intake.db", token, args.clients, args.seconds
            )
            print(
                f"intake on SQLite:     {rps:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}"
                f"  ({rps / publish_rate:5.1%} of the broker's publish ceiling)"
            )
        database = f"cqm_bench_{token}"
        admin = await asyncpg.connect(POSTGRES)
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            url = POSTGRES.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{database}"
            rps, p50, p99, errors = await run_intake(url, token, args.clients, args.seconds)
            print(
                f"intake on PostgreSQL: {rps:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}"
                f"  ({rps / publish_rate:5.1%} of the broker's publish ceiling)"
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
    finally:
        await cleanup(token)


if __name__ == "__main__":
    asyncio.run(main())
