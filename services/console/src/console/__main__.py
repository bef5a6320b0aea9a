"""`python -m console [serve|run]`: the console has no database, so `migrate` does nothing."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from console.config import ConsoleSettings
from cqm_shared.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the web console.")
    parser.add_argument("command", nargs="?", default="run", choices=["migrate", "serve", "run"])
    args = parser.parse_args()
    settings = load_settings(ConsoleSettings)  # exits with the fix when the configuration is unsafe
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "migrate":
        return  # nothing to migrate: the console owns no data
    uvicorn.run(
        "console.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


main()
