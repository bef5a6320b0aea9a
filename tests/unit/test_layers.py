"""The shape every service keeps (DEVELOPERS.md "Style", issue "One way to change state").

- domain/ imports no FastAPI, FastStream, SQLAlchemy, aio-pika or pydantic-settings;
- service/ (use cases) never writes the audit trail, the outbox or SQL by hand: it changes
  state only through its unit of work;
- nothing in a service reads the wall clock except through the injected Clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ["intake", "investigation", "penalty", "notification"]

FRAMEWORKS = ("fastapi", "faststream", "sqlalchemy", "aio_pika", "aiosqlite", "asyncpg", "starlette")
WRITERS = ("cqm_shared.audit", "cqm_shared.messaging.outbox", "cqm_shared.sql_uow")


def package(service: str) -> Path:
    return REPO / "services" / service / "src" / service


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}


def files(service: str, layer: str) -> list[Path]:
    folder = package(service) / layer
    assert folder.is_dir(), f"{service} has no {layer}/ layer"
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_layers(service: str) -> None:
    root = package(service)
    for part in ("domain", "service", "adapters", "entrypoints"):
        assert (root / part).is_dir(), f"{service}/{part}/ missing"
    for module in ("bootstrap.py", "config.py", "main.py", "service/unit_of_work.py", "entrypoints/consumers.py"):
        assert (root / module).is_file(), f"{service}/{module} missing"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_no_framework(service: str) -> None:
    for path in files(service, "domain"):
        offending = sorted(i for i in imports(path) if i.split(".")[0] in FRAMEWORKS)
        assert not offending, f"{path.relative_to(REPO)} imports {offending}"


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_change_state_only_through_the_unit_of_work(service: str) -> None:
    for path in files(service, "service"):
        offending = sorted(i for i in imports(path) if i.startswith(WRITERS) or i.split(".")[0] in FRAMEWORKS)
        assert not offending, f"{path.relative_to(REPO)} writes around its unit of work: {offending}"
        direct = sorted(c for c in calls(path) if c.endswith(("audit.record", "stage_event", "session.execute")))
        assert not direct, f"{path.relative_to(REPO)} calls {direct}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_reads_the_wall_clock(service: str) -> None:
    for path in sorted(package(service).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        clocks = sorted(c for c in calls(path) if c in ("datetime.now", "datetime.utcnow", "utcnow", "time.time"))
        assert not clocks, f"{path.relative_to(REPO)} reads the time with {clocks}; use the injected Clock"
