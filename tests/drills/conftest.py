"""Fault drills (issue 8): slow, process-level, and some stop the machine's RabbitMQ or PostgreSQL.

Run alone with `make drills` (`pytest tests/drills -v`), never next to other tests: a drill that
stops a server stops it for everyone. Before and after the session both servers are made to
answer again, whatever a drill left behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drills import infra
from tests.drills.flow import ensure_running
from tests.stack import Backend, Stack, running_stack


@pytest.fixture(scope="session", autouse=True)
def servers_restored() -> Iterator[None]:
    infra.ensure_servers()
    yield
    infra.ensure_servers()


# One stack per backend for the whole session: starting four services takes 20-50 s, and every
# drill counts only its own flow (its token) and the dead letters added while it ran.
def _stack(backend: Backend, logs: Path) -> Iterator[Stack]:
    with running_stack(backend) as running:
        try:
            yield running
        finally:
            # The stack's folder goes with it; the services' logs are the drills' evidence.
            logs.mkdir(parents=True, exist_ok=True)
            for service in running.services.values():
                if service.log_path.exists():
                    shutil.copy(service.log_path, logs / service.log_path.name)
            print(f"\n{backend} stack logs kept in {logs}")


@pytest.fixture(scope="session")
def postgresql_stack(servers_restored: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _stack("postgresql", tmp_path_factory.getbasetemp() / "postgresql-logs")


@pytest.fixture(scope="session")
def sqlite_stack(servers_restored: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _stack("sqlite", tmp_path_factory.getbasetemp() / "sqlite-logs")


@pytest.fixture
def stack(postgresql_stack: Stack) -> Stack:
    """The PostgreSQL stack, every service running and ready whatever the last drill did."""
    ensure_running(postgresql_stack)
    return postgresql_stack


@pytest.fixture(params=["sqlite", "postgresql"])
def each_stack(request: pytest.FixtureRequest) -> Stack:
    """Each backend's stack in turn (SQLite is `make run`'s default, PostgreSQL production's)."""
    running: Stack = request.getfixturevalue(f"{request.param}_stack")
    ensure_running(running)
    return running
