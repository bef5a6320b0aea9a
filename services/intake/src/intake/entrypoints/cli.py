"""`python -m intake sweep-attachments`: delete stored files no attachment row names.

An upload stores its bytes first and records them after; if the service stops in between,
the file stays without a row. Files younger than the grace period are left alone (an upload
may be in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta

from cqm_shared.clock import Clock
from cqm_shared.settings import load_settings
from cqm_shared.uow import system_actor
from intake.bootstrap import bootstrap
from intake.config import IntakeSettings
from intake.service.handlers import SOURCE, sweep_orphan_files
from intake.service.unit_of_work import AttachmentStore


async def sweep(
    settings: IntakeSettings,
    *,
    grace: timedelta,
    dry_run: bool = False,
    clock: Clock | None = None,
    attachments: AttachmentStore | None = None,
) -> list[str]:
    service = bootstrap(settings, clock=clock, attachments=attachments)
    try:
        uow = service.units_of_work(system_actor(f"{SOURCE}/sweep-attachments"), None)
        return await sweep_orphan_files(uow, service.attachments, grace=grace, dry_run=dry_run)
    finally:
        await service.runtime.engine.dispose()


def sweep_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intake sweep-attachments",
        description="Delete stored attachment files that no attachment row names (orphans of interrupted uploads).",
    )
    parser.add_argument("--grace-hours", type=float, default=None, help="only files older than this (default: setting)")
    parser.add_argument("--dry-run", action="store_true", help="list the orphans, delete nothing")
    args = parser.parse_args(list(argv))
    settings = load_settings(IntakeSettings)
    hours = args.grace_hours if args.grace_hours is not None else settings.attachment_orphan_grace_hours
    found = asyncio.run(sweep(settings, grace=timedelta(hours=hours), dry_run=args.dry_run))
    for key in found:
        print(key)
    print(f"{len(found)} orphan file(s) {'found' if args.dry_run else 'deleted'}", file=sys.stderr)
    return 0
