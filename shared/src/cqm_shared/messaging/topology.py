"""Exchanges, queues and dead-letter queues (CONTRACT.md "Messages").

Every subscription owns a durable quorum queue `<service>.<purpose>` bound to the topic
exchange with `<event type>.<factory>` keys; its dead letters go to `<queue>.dlq` through
the direct exchange `<exchange>.dlx`. The broker's `x-delivery-limit` is a backstop for
consumers that crash mid-message; ordinary failures are counted and dead-lettered by the
consumer itself, so the DLQ entry carries the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue


@dataclass(frozen=True)
class Topology:
    exchange_name: str = "complaints"
    queue_prefix: str = ""
    max_delivery_attempts: int = 5

    @property
    def exchange(self) -> RabbitExchange:
        return RabbitExchange(self.exchange_name, type=ExchangeType.TOPIC, durable=True)

    @property
    def dead_letter_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.exchange_name}.dlx", type=ExchangeType.DIRECT, durable=True)

    def queue_name(self, service: str, purpose: str) -> str:
        return f"{self.queue_prefix}{service}.{purpose}"

    @staticmethod
    def dlq_name(queue_name: str) -> str:
        return f"{queue_name}.dlq"

    def queue(self, name: str, routing_key: str) -> RabbitQueue:
        return RabbitQueue(
            name,
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=routing_key,
            arguments={
                # Backstop only: the consumer dead-letters itself after max_delivery_attempts.
                "x-delivery-limit": self.max_delivery_attempts + 2,
                "x-dead-letter-exchange": self.dead_letter_exchange.name,
                "x-dead-letter-routing-key": self.dlq_name(name),
            },
        )

    def dead_letter_queue(self, queue_name: str) -> RabbitQueue:
        dlq = self.dlq_name(queue_name)
        return RabbitQueue(dlq, queue_type=QueueType.QUORUM, durable=True, routing_key=dlq)


def routing_keys(event_types: list[str], factories: list[str]) -> list[str]:
    """`<type>.<factory>` binding keys; factories are lower case codes or '*'."""
    return [f"{t}.{f}" for t in event_types for f in factories]
