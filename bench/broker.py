"""The raw broker on this machine: what RabbitMQ alone does, on a private exchange and queue.

- publish: N persistent messages with publisher confirms, `in_flight` at a time (as the outbox
  relay does: a batch published concurrently, each awaiting its confirm), into a durable quorum
  queue (as the services' queues are), so every confirm means "stored on the queue".
- drain: then consume those N with manual ack and the services' prefetch; "publish-then-drain"
  is N over publish time plus drain time (end to end).
- hop latency: open loop at a fixed rate, from each message's scheduled send time to its
  delivery to a consumer: the broker's share of one service-to-service hop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.common import message, percentile, sleep_until, submitted


@dataclass
class RawBroker:
    messages: int
    in_flight: int
    prefetch: int  # 0: no limit
    publish_per_s: float
    drain_only_per_s: float
    publish_then_drain_per_s: float
    hop_rate: float
    hop_samples: int
    hop_p50_ms: float
    hop_p99_ms: float
    version: str


async def measure(
    url: str, *, messages: int, in_flight: int, prefetch: int, hop_rate: float, hop_seconds: float
) -> RawBroker:
    token = uuid.uuid4().hex[:8]
    body = submitted(0, "RAW-0").to_json()  # the size of a real complaint.submitted event
    connection = await aio_pika.connect(url)
    async with connection:
        assert connection.transport is not None
        version = str(connection.transport.connection.server_properties.get("version", "?"))
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(f"bench-{token}.raw", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"bench-{token}.raw", durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, "#")
        try:
            publish_s = await _publish(exchange, body, messages, in_flight)
            drain_s = await _drain(connection, queue.name, messages, prefetch)
            p50, p99, samples = await _hop_latency(connection, exchange, queue.name, body, hop_rate, hop_seconds)
        finally:
            await channel.queue_delete(queue.name)
            await channel.exchange_delete(exchange.name)
    return RawBroker(
        messages=messages,
        in_flight=in_flight,
        prefetch=prefetch,
        publish_per_s=messages / publish_s,
        drain_only_per_s=messages / drain_s,
        publish_then_drain_per_s=messages / (publish_s + drain_s),
        hop_rate=hop_rate,
        hop_samples=samples,
        hop_p50_ms=p50,
        hop_p99_ms=p99,
        version=version,
    )


async def _publish(exchange: aio_pika.abc.AbstractExchange, body: bytes, n: int, in_flight: int) -> float:
    started = time.perf_counter()
    for offset in range(0, n, in_flight):
        batch = min(in_flight, n - offset)
        await asyncio.gather(*(exchange.publish(message(body), "complaint.submitted.f01") for _ in range(batch)))
    return time.perf_counter() - started


async def _drain(connection: aio_pika.abc.AbstractConnection, queue_name: str, n: int, prefetch: int) -> float:
    channel = await connection.channel()
    if prefetch:
        await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(queue_name)
    received = 0
    done = asyncio.Event()

    async def on_message(incoming: AbstractIncomingMessage) -> None:
        nonlocal received
        await incoming.ack()
        received += 1
        if received >= n:
            done.set()

    started = time.perf_counter()
    tag = await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    await queue.cancel(tag)
    await channel.close()
    return elapsed


async def _hop_latency(
    connection: aio_pika.abc.AbstractConnection,
    exchange: aio_pika.abc.AbstractExchange,
    queue_name: str,
    body: bytes,
    rate: float,
    seconds: float,
) -> tuple[float, float, int]:
    total = max(1, round(rate * seconds))
    scheduled: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    channel = await connection.channel()
    queue = await channel.get_queue(queue_name)

    async def on_message(incoming: AbstractIncomingMessage) -> None:
        arrived = time.perf_counter()
        await incoming.ack()
        if incoming.message_id in scheduled:
            latencies.append(arrived - scheduled[incoming.message_id])
            if len(latencies) >= total:
                done.set()

    tag = await queue.consume(on_message)
    tasks: list[asyncio.Task[object]] = []
    start = time.perf_counter() + 0.1
    for i in range(total):
        moment = start + i / rate
        scheduled[str(i)] = moment
        await sleep_until(moment)
        tasks.append(asyncio.create_task(exchange.publish(message(body, str(i)), "complaint.submitted.f01")))
    await asyncio.gather(*tasks)
    await asyncio.wait_for(done.wait(), timeout=60)
    await queue.cancel(tag)
    await channel.close()
    return percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, len(latencies)
