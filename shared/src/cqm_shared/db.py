"""Async SQLAlchemy engines, UTC-aware timestamps and Alembic helpers shared by the services."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, MetaData, Numeric, String, event, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns aware UTC values (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; all times must be timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine with the settings this suite relies on.

    SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE`, so concurrent writers queue for the
    write lock instead of failing with "database is locked" when upgrading a read lock.
    One connection per process: SQLite writes one transaction at a time anyway, and waiting
    for the pool is a fair asyncio queue, where waiting for the file lock is SQLite's busy
    handler sleeping and retrying (up to 100 ms a try: the p99 of issue 8).
    """
    if is_sqlite(url):
        ensure_sqlite_folder(url)
        if make_url(url).database not in (None, "", ":memory:"):  # memory databases have one anyway
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Durability kept: every commit reaches the disk (NORMAL would lose the last ones on
            # power loss). What is tuned is only what never trades it: cache, temp, mmap.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA cache_size=-16000")  # KiB: 16 MiB of pages
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA mmap_size=134217728")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # Batched consumers hold one connection per queue: 10 per service process at most keeps
    # a whole suite (four services, a few replicas) under PostgreSQL's max_connections of 100.
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    return create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at (raises when it was never migrated)."""
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()


def known_revisions(migrations_dir: Path) -> tuple[str | None, frozenset[str]]:
    """The revision this code's migrations end at, and every revision they know."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(migrations_dir, ""))
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, url: str) -> None:
    """`alembic upgrade head` for one service's database (creates the SQLite folder)."""
    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(migrations_dir, url), "head")


# One service, one database: a constant key serialises that database's migrations.
MIGRATION_LOCK_KEY = 0x63716D5F6D6967  # "cqm_mig"


def run_migrations_online(target_metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py` (async engine, one transaction)."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set for alembic")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Replicas starting together (`run`, or a Job retried beside one still running)
                # take turns: the second waits here, then finds the schema at head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run_async())


CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """CNY amounts as exact decimals: NUMERIC(14,2) on PostgreSQL, text on SQLite (no float)."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(14, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("money must be a Decimal")
        quantized = value.quantize(CENT, rounding=ROUND_HALF_UP)  # 四舍五入, as finance rounds
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class Percent(TypeDecorator[Decimal]):
    """Shares in percent as exact decimals (NUMERIC(5,2); text on SQLite), read back as
    written: 70 stays 70, 33.50 reads 33.5."""

    impl = Numeric(5, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(8))
        return dialect.type_descriptor(Numeric(5, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("a percentage must be a Decimal")
        quantized = value.quantize(CENT, rounding=ROUND_HALF_UP)
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        exact = Decimal(str(value))
        return exact.quantize(Decimal(1)) if exact == exact.to_integral_value() else exact.normalize()
