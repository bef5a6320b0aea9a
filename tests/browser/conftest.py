"""Browser tests of the console: the stack as `make run` starts it (four services and the console,
on the real RabbitMQ, SQLite files), driven in headless Chromium by Playwright.

Playwright drives Debian's /usr/bin/chromium through `executable_path` (no browser download);
`make test` installs the package when it is missing (`make browser`). Screenshots go to
build/screenshots/ (SCREENSHOT_DIR); the README's come from there.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import REPO, BrokerNamespace
from tests.e2e.conftest import Stack, start_stack

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / "build" / "screenshots"))
# As the machine's own probe starts it: no sandbox as root, nothing fetched from the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def console_stack(rabbitmq_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack per test module: starting five processes per test would dominate the run."""
    ns = BrokerNamespace(rabbitmq_url)
    try:
        yield from start_stack(tmp_path_factory.mktemp("stack"), ns, RELAY_POLL_INTERVAL="0.1")
    finally:
        # Playwright's sync API keeps an event loop in this thread: clean up the queues in another.
        cleaner = threading.Thread(target=lambda: asyncio.run(ns.cleanup()))
        cleaner.start()
        cleaner.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API runs an event loop in this thread while it is open, and
    the async tests after the browser tests need the thread back."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package (make browser)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """One person at the console: a browser context of their own (their own session cookie)."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.base_url = base_url
        self.page.set_default_timeout(20_000)

    def go(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, role: str, factories: str = "F01", *, name: str = "", lang: str = "zh") -> Console:
        page = self.go(f"/lang/{lang}?next=/signin")
        page.fill("input[name=name]", name or role)
        page.select_option("select[name=role]", role)
        page.fill("input[name=factories]", factories)
        page.click("form[action='/signin'] button[type=submit]")
        expect(page.get_by_test_id("who")).to_be_visible()
        return self

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def people(browser: Browser, console_stack: Stack) -> Iterator[dict[str, Console]]:
    """`people[key]` opens a person's own browser context on first use (key: any label)."""
    opened: dict[str, Console] = {}

    class Opened(dict[str, Console]):
        def __missing__(self, key: str) -> Console:
            context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
            opened[key] = self[key] = Console(context, console_stack.url("console"))
            return opened[key]

    yield Opened()
    for person in opened.values():
        person.context.close()
