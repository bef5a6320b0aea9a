"""`python -m <service> [migrate|serve|run]` for every service."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import uvicorn

from cqm_shared.db import upgrade
from cqm_shared.settings import ServiceSettings, load_settings


def service_main(*, settings_factory: Callable[[], ServiceSettings], migrations_dir: Path, app_factory: str) -> None:
    parser = argparse.ArgumentParser(description="Run or migrate this service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["migrate", "serve", "run"],
        help="migrate: alembic upgrade head; serve: start the API; run: both (default)",
    )
    args = parser.parse_args()
    settings = load_settings(settings_factory)  # exits with the fix when the configuration is unsafe
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command in ("migrate", "run"):
        upgrade(migrations_dir, settings.resolved_database_url())
    if args.command in ("serve", "run"):
        uvicorn.run(
            app_factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="info",
            timeout_graceful_shutdown=30,
        )
