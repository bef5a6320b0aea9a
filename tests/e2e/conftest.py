"""The stack started by the same launcher as `make run`: four service processes on the real
RabbitMQ, each with its own SQLite database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POLICY_DIR, REPO, BrokerNamespace

SERVICES = ("intake", "investigation", "penalty", "notification")
WITH_CONSOLE = (*SERVICES, "console")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(self, process: subprocess.Popen[str], ports: dict[str, int], traces: Path) -> None:
        self.process = process
        self.ports = ports
        self.traces = traces
        self.output: list[str] = []
        self.up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "All services are up" in line:
                self.up.set()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def spans(self) -> list[dict[str, Any]]:
        found = []
        for service in SERVICES:
            path = self.traces / f"{service}.jsonl"
            if path.exists():
                found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return found


def start_stack(tmp_path: Path, broker_ns: BrokerNamespace, **extra_env: str) -> Iterator[Stack]:
    ports = {s: free_port() for s in WITH_CONSOLE}
    env = {
        **os.environ,
        **broker_ns.env(),
        "DATA_DIR": str(tmp_path / "data"),
        "TRACES_DIR": str(tmp_path / "traces"),
        "POLICY_DIR": str(POLICY_DIR),
        "RELAY_POLL_INTERVAL": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({f"{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update(extra_env)
    for key in ("DATABASE_URL", "TRACES_FILE"):
        env.pop(key, None)
    process = subprocess.Popen(
        [sys.executable, str(REPO / "deploy" / "run_local.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    running = Stack(process, ports, tmp_path / "traces")
    try:
        if not running.up.wait(timeout=120):
            raise AssertionError("stack did not come up:\n" + "".join(running.output[-60:]))
        yield running
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, "".join(running.output[-40:])
    assert sum("stopped cleanly" in line for line in running.output) == len(WITH_CONSOLE), "".join(running.output[-20:])


@pytest.fixture
def stack(tmp_path: Path, broker_ns: BrokerNamespace) -> Iterator[Stack]:
    yield from start_stack(tmp_path, broker_ns)
