"""The process-wide parts of one service: database, broker, subscriptions and outbox relay."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from pydantic import BaseModel

from cqm_shared.clock import Clock
from cqm_shared.db import create_engine, is_sqlite, known_revisions, ping, schema_revision, session_factory
from cqm_shared.messaging.consumer import EventConsumer, Subscription, UnitOfWorkFactory
from cqm_shared.messaging.relay import OutboxRelay
from cqm_shared.messaging.tables import MessagingTables
from cqm_shared.messaging.topology import Topology, routing_keys
from cqm_shared.outages import DatabaseGate, is_outage
from cqm_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class Worker(Protocol):
    """A background loop of a service (e.g. notification's timers), started and stopped with it."""

    name: str

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def running(self) -> bool: ...


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        tables: MessagingTables,
        clock: Clock,
        publishes: dict[str, type[BaseModel]] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.service = settings.service_name
        self.tables = tables
        url = settings.resolved_database_url()
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)
        self.database = DatabaseGate(lambda: ping(self.engine))
        self.topology = Topology(settings.exchange, settings.queue_prefix, settings.max_delivery_attempts)
        self.broker = RabbitBroker(
            settings.rabbitmq_url,
            app_id=self.service,
            graceful_timeout=30.0,
            # "Received"/"Processed" for every message is DEBUG: at load it costs more than the
            # work, and the consumer's span and counters already say it.
            log_level=logging.DEBUG,
            description=f"{self.service} service of the complaint quality suite",
        )
        self.relay = OutboxRelay(
            sessions=self.sessions,
            outbox=tables.outbox,
            broker=self.broker,
            exchange=self.topology.exchange,
            lock_rows=not is_sqlite(url),
            clock=clock,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
        )
        # One consuming channel; its prefetch bounds the deliveries in flight per consumer, and so
        # what is held while the database is away.
        self._channel = Channel(prefetch_count=settings.consumer_prefetch)
        self._queues: list[tuple[Any, list[str]]] = []
        self.consumed: dict[str, list[str]] = {}  # queue name -> event types (for the AsyncAPI document)
        self._subscribers: list[Any] = []
        self._workers: list[Worker] = []
        for event_type, model in (publishes or {}).items():
            # Documentation only (AsyncAPI): the relay publishes rows, not through these.
            self.broker.publisher(
                exchange=self.topology.exchange,
                routing_key=f"{event_type}.{{factory}}",
                title=f"{event_type}",
                description=f"CloudEvent `{event_type}` published via the outbox",
                schema=model,
                include_in_schema=True,
            )
        self.started = False

    def subscribe(self, subscriptions: Sequence[Subscription], units_of_work: UnitOfWorkFactory) -> None:
        """Consume each subscription's queue; handlers run on units of work from `units_of_work`."""
        for sub in subscriptions:
            self._subscribe(sub, units_of_work)

    def _subscribe(self, sub: Subscription, units_of_work: UnitOfWorkFactory) -> None:
        name = self.topology.queue_name(self.service, sub.purpose)
        keys = routing_keys(list(sub.handlers), self.settings.factories_in_scope())
        queue = self.topology.queue(name, keys[0])
        consumer = EventConsumer(
            queue_name=name,
            consumer_id=f"{self.service}.{sub.purpose}",
            handlers=sub.handlers,
            units_of_work=units_of_work,
            sessions=self.sessions,
            inbox=self.tables.inbox,
            broker=self.broker,
            topology=self.topology,
            clock=self.clock,
            retry_backoff=self.settings.retry_backoff_seconds,
            database=self.database,
            batch_size=self.settings.consumer_batch_size,
        )
        subscriber = self.broker.subscriber(
            queue,
            self.topology.exchange,
            channel=self._channel,
            ack_policy=AckPolicy.MANUAL,
            title=name,
            description=sub.description or f"CloudEvents {', '.join(sub.handlers)}",
        )
        subscriber(consumer.__call__)
        self._queues.append((queue, keys))
        self.consumed[name] = list(sub.handlers)
        self._subscribers.append(subscriber)

    def add_worker(self, worker: Worker) -> None:
        """Run `worker` while the service runs (started after the broker, stopped before it)."""
        self._workers.append(worker)

    async def start(self) -> None:
        if self.settings.consumes:
            await self._wait_for_migrations()
        await self.broker.connect()
        await self.broker.declare_exchange(self.topology.exchange)
        if self.settings.consumes:
            await self._declare_queues()
            await self.broker.start()
        # PROCESS_ROLE=api: connected for the relay's publishing, but nothing subscribed. The
        # subscribers stay registered (unstarted) so the AsyncAPI document is the same in every role.
        self.relay.start()
        for worker in self._running_workers():
            worker.start()
        self.started = True
        log.info(
            "%s started (%s): %d subscriptions",
            self.service,
            self.settings.process_role,
            len(self._subscribers) if self.settings.consumes else 0,
        )

    async def _declare_queues(self) -> None:
        """Dead-letter queues and every binding, before the first delivery arrives."""
        dlx = await self.broker.declare_exchange(self.topology.dead_letter_exchange)
        for queue, keys in self._queues:
            # On the consumers' channel: FastStream caches the declared queue, and its subscriber
            # consumes on the channel the queue was first declared on (so the prefetch holds).
            declared = await self.broker.config.declarer.declare_queue(queue, channel=self._channel)
            for key in keys:
                await declared.bind(self.topology.exchange.name, routing_key=key)
            dlq = await self.broker.declare_queue(self.topology.dead_letter_queue(queue.name))
            await dlq.bind(dlx, routing_key=dlq.name)

    def _running_workers(self) -> list[Worker]:
        return self._workers if self.settings.consumes else []

    async def stop(self) -> None:
        for worker in self._running_workers():
            await worker.stop()
        await self.database.shutdown()  # messages held for the database go back to their queues
        await self.relay.stop()
        await self.broker.stop()
        await self.engine.dispose()
        self.started = False

    async def readiness(self) -> dict[str, str]:
        """Each check's state; the service is ready when all are 'ok'."""
        checks: dict[str, str] = {}
        try:
            await ping(self.engine)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        else:
            try:
                checks["schema"] = await self._schema_check()
            except Exception as exc:
                checks["schema"] = f"error: {type(exc).__name__}"
        try:
            checks["broker"] = "ok" if await self.broker.ping(timeout=2.0) else "error: no answer"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
        if self.settings.consumes:
            idle = [s.queue.name for s in self._subscribers if not await _consuming(s)]
            checks["subscribers"] = "ok" if not idle else f"error: not consuming {', '.join(idle)}"
        checks["outbox_relay"] = "ok" if self.relay.running else "error: stopped"
        for worker in self._running_workers():
            checks[f"{worker.name}_worker"] = "ok" if worker.running else "error: stopped"
        return checks

    @functools.cached_property
    def _revisions(self) -> tuple[str | None, frozenset[str]]:
        """The head of this service's migrations and every revision they know (read once, when
        first asked, not at start-up)."""
        migrations = _migrations_dir(self.service)
        return known_revisions(migrations) if migrations is not None else (None, frozenset())

    @property
    def expected_revision(self) -> str | None:
        return self._revisions[0]

    async def _schema_check(self) -> str:
        """Kubernetes migrates in a Job while new pods start: a pod whose database is behind its
        code is not ready (takes no traffic) and does not consume until the Job is done. A
        database ahead of the code (old pods during a rollout) is fine: migrations only expand."""
        if self.expected_revision is None:
            return "ok"
        try:
            found = await schema_revision(self.engine)
        except Exception as exc:
            if is_outage(exc):
                raise
            return f"error: not migrated (expects {self.expected_revision})"
        if found != self.expected_revision and (found is None or found in self._revisions[1]):
            return f"error: at revision {found}, expects {self.expected_revision} (migrations pending)"
        return "ok"

    async def _wait_for_migrations(self, poll: float = 2.0) -> None:
        """Before consuming: wait while the database is behind this code (an outage is left to
        the consumers' own waiting)."""
        while True:
            try:
                behind = await self._schema_check()
            except Exception:
                return
            if behind == "ok":
                return
            log.warning("%s waits for its migrations: %s", self.service, behind.removeprefix("error: "))
            await asyncio.sleep(poll)


def _migrations_dir(package: str) -> Path | None:
    """`<package>/migrations` of the service's own package, if it has one."""
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "migrations"
    return folder if (folder / "env.py").is_file() else None


async def _consuming(subscriber: Any) -> bool:
    """Whether the subscriber's consumer is registered on an open channel right now.

    FastStream's `running` stays true through a broker outage, and aio-pika reopens the channel
    before it re-issues basic.consume; only the channel's own consumer table tells the truth.
    """
    queue = getattr(subscriber, "_queue_obj", None)
    tag = getattr(subscriber, "_consumer_tag", None)
    if not getattr(subscriber, "running", False) or queue is None or tag is None or queue.channel.is_closed:
        return False
    try:
        channel = await queue.channel.get_underlay_channel()
    except Exception:  # closed between the two looks
        return False
    return tag in channel.consumers
