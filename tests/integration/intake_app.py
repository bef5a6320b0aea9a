"""The intake app on the real broker and database, with parts swapped at its composition root
(a clock, an attachment store), and units of work for calling its use cases directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from cqm_shared.clock import Clock, FakeClock
from cqm_shared.db import upgrade
from cqm_shared.uow import Actor
from intake.config import IntakeSettings
from intake.main import create_app
from intake.service.unit_of_work import AttachmentStore, IntakeUnitOfWork
from tests.conftest import BrokerNamespace
from tests.helpers import migrations_dir, service_settings

TESTER = Actor("user:tester")


@asynccontextmanager
async def running_intake(
    database_url: str,
    ns: BrokerNamespace,
    *,
    clock: Clock | None = None,
    attachments: AttachmentStore | None = None,
    **overrides: Any,
) -> AsyncIterator[FastAPI]:
    await asyncio.to_thread(upgrade, migrations_dir("intake"), database_url)
    settings = service_settings("intake", database_url, ns, **overrides)
    assert isinstance(settings, IntakeSettings)
    app = create_app(settings, clock=clock, attachments=attachments)
    async with app.router.lifespan_context(app):
        yield app


def unit_of_work(app: FastAPI, *, at: datetime | None = None, actor: Actor = TESTER) -> IntakeUnitOfWork:
    """A unit of work of the running app; `at` stops its clock at that moment."""
    uow: IntakeUnitOfWork = app.state.units_of_work(actor, None)
    if at is not None:
        uow.clock = FakeClock(at)
    return uow
