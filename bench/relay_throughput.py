"""Outbox relay throughput on this machine, beside the raw RabbitMQ ceiling.

Prints events/s confirmed by the broker when N staged events are relayed from SQLite and
from PostgreSQL, and the rate of plain aio-pika persistent publishes with confirms (the
ceiling), so each relay figure is also a ratio. Uses a private exchange; cleans up after.

    make bench            # or: uv run python bench/relay_throughput.py --events 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg

from cqm_shared.clock import SystemClock
from cqm_shared.contracts.envelope import new_event
from cqm_shared.db import upgrade
from cqm_shared.messaging.outbox import stage_event
from cqm_shared.runtime import ServiceRuntime
from intake.adapters.orm import tables
from intake.config import IntakeSettings

REPO = Path(__file__).resolve().parent.parent
RABBITMQ = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def raw_ceiling(exchange_name: str, n: int, concurrency: int) -> float:
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{exchange_name}.sink", durable=True)
        await queue.bind(exchange, "#")
        body = new_event(type="complaint.registered", source="/bench", factory="F01", data={"x": 1}).to_json()
        started = time.perf_counter()
        for offset in range(0, n, concurrency):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key="complaint.registered.f01",
                    )
                    for _ in range(min(concurrency, n - offset))
                )
            )
        elapsed = time.perf_counter() - started
        await queue.purge()
    return n / elapsed


async def relay_rate(database_url: str, exchange_name: str, n: int, batch: int) -> float:
    await asyncio.to_thread(upgrade, REPO / "services/intake/src/intake/migrations", database_url)
    settings = IntakeSettings(
        database_url=database_url,
        rabbitmq_url=RABBITMQ,
        exchange=exchange_name,
        policy_dir=REPO / "deploy/policies",
        relay_batch_size=batch,
        environment="development",
    )
    runtime = ServiceRuntime(settings, tables=tables, clock=SystemClock())
    await runtime.broker.connect()
    await runtime.broker.declare_exchange(runtime.topology.exchange)
    async with runtime.sessions() as session, session.begin():
        for i in range(n):
            event = new_event(type="complaint.registered", source="/bench", factory="F01", data={"i": i})
            await stage_event(session, tables.outbox, event, event.time)
    started = time.perf_counter()
    sent = 0
    while sent < n:
        sent += await runtime.relay.publish_pending()
    elapsed = time.perf_counter() - started
    await runtime.broker.stop()
    await runtime.engine.dispose()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    token = uuid.uuid4().hex[:8]
    exchange_name = f"bench-{token}.complaints"
    print(f"machine: {platform.node()} {platform.machine()} cores={os.cpu_count()} python={platform.python_version()}")
    print(f"events={args.events} relay batch={args.batch}")
    ceiling = await raw_ceiling(exchange_name, args.events, args.batch)
    print(f"raw aio-pika persistent publish + confirm ({args.batch} in flight): {ceiling:8.0f} msg/s  (ceiling)")
    with tempfile.TemporaryDirectory() as folder:
        rate = await relay_rate(f"sqlite+aiosqlite:///{folder}/bench.db", exchange_name, args.events, args.batch)
        print(f"outbox relay, SQLite:     {rate:8.0f} events/s  ({rate / ceiling:5.1%} of ceiling)")
    database = f"cqm_bench_{token}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        url = POSTGRES.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{database}"
        rate = await relay_rate(url, exchange_name, args.events, args.batch)
        print(f"outbox relay, PostgreSQL: {rate:8.0f} events/s  ({rate / ceiling:5.1%} of ceiling)")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    connection = await aio_pika.connect(RABBITMQ)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{exchange_name}.sink")
        await channel.exchange_delete(exchange_name)


if __name__ == "__main__":
    asyncio.run(main())
