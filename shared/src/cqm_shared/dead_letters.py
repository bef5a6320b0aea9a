"""`python -m cqm_shared.dead_letters <service> list|show|replay|discard`: the operator's
dead-letter tool (死信处理).

It reads the service's settings from the environment as the service does (RABBITMQ_URL,
DATABASE_URL, QUEUE_PREFIX, POLICY_DIR…), so it sees the same queues and writes a discard's
audit row to the same database. Queues may be named as the dead-letter queue or the queue it
serves. Exit status: 0 done, 1 nothing found or refused, 2 usage, 3 broker or database
unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import json
import sys
from collections.abc import Sequence

import aiormq
import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError

from cqm_shared.messaging.dead_letters import (
    DeadLetter,
    DeadLetterQueues,
    OriginalQueueMissing,
    UnknownQueue,
)
from cqm_shared.runtime import ServiceRuntime
from cqm_shared.settings import ServiceSettings, load_settings

SERVICES = ("intake", "investigation", "penalty", "notification")
UNREACHABLE = (OSError, aiormq.exceptions.AMQPConnectionError, OperationalError, InterfaceError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cqm_shared.dead_letters",
        description="List, show, replay or discard a service's dead letters (死信).",
    )
    parser.add_argument("service", choices=SERVICES)
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="every DLQ with reasons and counts, or one DLQ's messages")
    listing.add_argument("queue", nargs="?", help="list this queue's messages (else: a summary of all)")
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--limit", type=int, default=50)

    show = commands.add_parser("show", help="one message: headers and body")
    show.add_argument("queue")
    show.add_argument("message_id")

    replay = commands.add_parser("replay", help="publish messages to their original queue (only there)")
    replay.add_argument("queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="message_id", help="the message with this id")
    which.add_argument("--reason", dest="reason_contains", help="messages whose reason contains this text")
    which.add_argument("--all", action="store_true", help="every message (up to the examine limit)")
    replay.add_argument("--actor", help="recorded as x-cqm-replayed-by (default operator:$USER)")

    discard = commands.add_parser("discard", help="remove one message, recording why in the audit log")
    discard.add_argument("queue")
    discard.add_argument("message_id")
    discard.add_argument("--reason", required=True, help="why it is discarded (audit trail 原因)")
    discard.add_argument("--actor", help="recorded in the audit log (default operator:$USER)")
    return parser


def load_service(service: str) -> tuple[ServiceRuntime, sa.Table]:
    """The service's runtime (its queues, broker, database) as its composition root builds it."""
    config = importlib.import_module(f"{service}.config")
    settings_class: type[ServiceSettings] = getattr(config, f"{service.capitalize()}Settings")
    settings = load_settings(settings_class)
    built = importlib.import_module(f"{service}.bootstrap").bootstrap(settings)
    runtime: ServiceRuntime = built.runtime
    audit_log: sa.Table = importlib.import_module(f"{service}.adapters.orm").audit_log
    return runtime, audit_log


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "operator:unknown"


async def run(args: argparse.Namespace, runtime: ServiceRuntime, audit_log: sa.Table) -> int:
    queues = DeadLetterQueues.of(runtime, audit_log)
    actor = getattr(args, "actor", None) or _operator()
    if args.command == "list" and args.queue is None:
        for summary in await queues.summaries():
            more = f" (reasons of the first {summary.examined})" if summary.more else ""
            state = "" if summary.exists else " (not declared yet)"
            print(f"{summary.queue}: {summary.messages} message(s){more}{state} → {summary.original_queue}")
            _table(["count", "reason 原因"], [[str(r.count), r.reason] for r in summary.reasons], indent="  ")
        return 0
    if args.command == "list":
        page = await queues.page(args.queue, offset=args.offset, limit=args.limit)
        print(f"{page.queue}: {page.messages} message(s), showing {len(page.items)} from {page.offset}")
        _table(
            ["message id", "type", "factory", "attempts", "dead-lettered at", "reason 原因"],
            [_row(item) for item in page.items],
        )
        if page.more:
            print(f"more: --offset {page.offset + len(page.items)}")
        return 0
    if args.command == "show":
        letter = await queues.show(args.queue, args.message_id)
        if letter is None:
            print(f"no dead letter {args.message_id} in {args.queue}", file=sys.stderr)
            return 1
        print(json.dumps(letter.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    if args.command == "replay":
        result = await queues.replay(
            args.queue, actor=actor, message_id=args.message_id, reason_contains=args.reason_contains
        )
        print(f"replayed {result.replayed} of {result.examined} examined to {result.target_queue}")
        for message_id in result.message_ids:
            print(f"  {message_id}")
        if result.more:
            print("more messages remain beyond those examined: run again")
        return 0 if result.replayed or args.message_id is None else 1
    discarded = await queues.discard(args.queue, args.message_id, reason=args.reason, actor=actor)
    if discarded is None:
        print(f"no dead letter {args.message_id} in {args.queue}", file=sys.stderr)
        return 1
    print(f"discarded {discarded.message_id} ({discarded.discarded} copy/copies) from {discarded.queue}, by {actor}")
    return 0


def _row(item: DeadLetter) -> list[str]:
    at = item.dead_lettered_at.isoformat(timespec="seconds") if item.dead_lettered_at else "?"
    attempts = str(item.attempts) if item.attempts is not None else "?"
    reason = item.reason if len(item.reason) <= 100 else item.reason[:99] + "…"
    return [item.message_id, item.event_type or "?", item.factory or "?", attempts, at, reason]


def _table(header: list[str], rows: list[list[str]], indent: str = "") -> None:
    if not rows:
        print(f"{indent}(none)")
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


async def _main(args: argparse.Namespace) -> int:
    runtime, audit_log = load_service(args.service)
    try:
        return await run(args, runtime, audit_log)
    finally:
        await runtime.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "discard" and not args.reason.strip():
        print("a discard needs a reason (--reason)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(args))
    except (UnknownQueue, OriginalQueueMissing) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except UNREACHABLE as exc:
        print(f"cannot reach the broker or the database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
