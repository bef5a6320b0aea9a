"""Migrations are frozen, and the models never drift from them (issue "One way to change state").

A migration is history: once released it must create the same schema for ever, so a version
file may not import live code (`cqm_shared` helpers and types, the service's own package) that
later changes would silently alter. And a model change needs its migration: on SQLite and on
PostgreSQL the schema the migrations build must be the one the service's ORM metadata
describes, compared by Alembic's autogenerate.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from cqm_shared.db import Money, UTCDateTime, upgrade
from tests.conftest import REPO
from tests.helpers import migrations_dir

SERVICES = ["intake", "investigation", "penalty", "notification"]
LIVE_PACKAGES = ("cqm_shared", *SERVICES)


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_migration_imports_live_code() -> None:
    versions = sorted(REPO.glob("services/*/src/*/migrations/versions/*.py"))
    assert len(versions) >= 9  # intake 0001-0003, the others 0001-0002 at least
    live = {
        str(path.relative_to(REPO)): sorted(
            m for m in imported_modules(path.read_text()) if m.split(".")[0] in LIVE_PACKAGES
        )
        for path in versions
    }
    assert {path: modules for path, modules in live.items() if modules} == {}


def test_the_import_check_sees_imports_anywhere_in_a_file() -> None:
    source = "import sqlalchemy as sa\ndef upgrade():\n    from cqm_shared.db import Money\n"
    assert "cqm_shared.db" in imported_modules(source)


def compare_type(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """True when the types differ. The suite's own column types are compared as what they store
    on this dialect (UTCDateTime: DateTime(timezone=True); Money: NUMERIC(14,2), on SQLite
    VARCHAR(32)), which is what a migration writes with plain SQLAlchemy types."""
    if isinstance(metadata_type, UTCDateTime | Money):
        stored = metadata_type.load_dialect_impl(context.dialect)
        return bool(context.impl.compare_type(inspected_column, sa.Column(metadata_column.name, stored)))
    return None  # Alembic's own comparison


def describe(difference: Any) -> str:
    """One line per difference, e.g. `add_column complaints.priority`."""
    if isinstance(difference, list):  # modifications of one column come grouped
        return "; ".join(describe(d) for d in difference)
    operation, *details = difference
    if operation in ("add_column", "remove_column"):
        _schema, table, column = details
        return f"{operation} {table}.{column.name}"
    if operation.startswith("modify_"):
        _schema, table, column, _existing, old, new = details
        return f"{operation} {table}.{column}: {old} -> {new}"
    [item] = details  # a table, an index, a constraint or a foreign key
    table = getattr(item, "table", None)
    return f"{operation} {item.name}" + (f" on {table.name}" if table is not None else "")


def drift(url: str, metadata: sa.MetaData) -> list[str]:
    """What the migrated database at `url` lacks or has beyond `metadata`."""

    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return sorted(describe(d) for d in asyncio.run(run()))


def orm_metadata(service: str) -> sa.MetaData:
    metadata: sa.MetaData = importlib.import_module(f"{service}.adapters.orm").metadata
    return metadata


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_exactly_the_schema_of_the_models(service: str, database_url: str) -> None:
    upgrade(migrations_dir(service), database_url)
    assert drift(database_url, orm_metadata(service)) == [], f"{service}: the models differ from the migrations"


def test_replicas_migrating_at_once_take_turns(postgres_url: str) -> None:
    """Two processes of a service starting together both run `migrate`: neither fails.

    Without the advisory lock both would create the first tables and one would fail on
    "relation already exists" (seen before the lock was there)."""
    env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": postgres_url}
    command = [sys.executable, "-m", "notification", "migrate"]
    runs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    failures = [run.communicate(timeout=120)[1] for run in runs if run.wait(timeout=120) != 0]
    assert failures == []
    assert drift(postgres_url, orm_metadata("notification")) == []


def copy_of(metadata: sa.MetaData) -> sa.MetaData:
    copy = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def test_a_model_change_without_migration_is_reported(database_url: str) -> None:
    upgrade(migrations_dir("penalty"), database_url)
    models = orm_metadata("penalty")
    before = drift(database_url, models)  # empty unless penalty itself drifts (the test above says)
    changed = copy_of(models)
    changed.tables["assessments"].append_column(sa.Column("priority", sa.String(10), nullable=True))
    changed.tables["assessments"].c.accident_class.type = sa.String(80)
    sa.Table("penalty_ledgers", changed, sa.Column("id", sa.Integer, primary_key=True))
    found = set(drift(database_url, changed)) - set(before)
    assert "add_column assessments.priority" in found
    assert "add_table penalty_ledgers" in found
    assert "modify_type assessments.accident_class: VARCHAR(40) -> VARCHAR(80)" in found
    assert len(found) == 3, found


def test_the_suite_types_match_what_migrations_write_and_real_type_changes_show(database_url: str) -> None:
    # A throwaway schema written the way migrations write it (plain types), against models
    # using the suite's types: equal; the same models with another precision: a difference.
    written = sa.MetaData()
    sa.Table(
        "amounts",
        written,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2).with_variant(sa.String(32), "sqlite"), nullable=False),
    )

    async def create() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.run_sync(written.create_all)
        await engine.dispose()

    asyncio.run(create())
    models = sa.MetaData()
    sa.Table(
        "amounts",
        models,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("amount", Money, nullable=False),
    )
    assert drift(database_url, models) == []
    models.tables["amounts"].c.amount.type = sa.Integer()
    [changed] = drift(database_url, models)
    assert changed.startswith("modify_type amounts.amount: ") and changed.endswith(" -> INTEGER")
