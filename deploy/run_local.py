"""`make run`: migrate and start the four services and the web console locally, stop them all on Ctrl-C.

Each service is its own process with its own database (SQLite files under DATA_DIR unless
<SERVICE>_DATABASE_URL is set) against the RabbitMQ at RABBITMQ_URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
SERVICES = {"intake": 8001, "investigation": 8002, "penalty": 8003, "notification": 8004, "console": 8000}
BACKENDS = ("intake", "investigation", "penalty", "notification")  # what the console calls
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


def broker_answers(url: str) -> bool:
    parsed = urlparse(url)
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(2.0)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 5672)) == 0


def service_env(name: str, base: dict[str, str], data_dir: Path) -> dict[str, str]:
    upper = name.upper()
    env = dict(base)
    env["DATABASE_URL"] = base.get(f"{upper}_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / name}.db"
    env["PORT"] = base.get(f"{upper}_PORT", str(SERVICES[name]))
    env.setdefault("POLICY_DIR", str(REPO / "deploy" / "policies"))
    if name == "console":  # it owns no data; it calls the four services as the signed-in user
        for backend in BACKENDS:
            port = base.get(f"{backend.upper()}_PORT", str(SERVICES[backend]))
            env[f"{backend.upper()}_URL"] = f"http://127.0.0.1:{port}"
    if base.get("TRACES_DIR"):
        env["TRACES_FILE"] = str(Path(base["TRACES_DIR"]) / f"{name}.jsonl")
    return env


def wait_ready(port: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> int:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    worst = 0
    for name, process in processes.items():
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop.
        clean = code in (0, -signal.SIGTERM)
        print(f"  {name} stopped {'cleanly' if clean else f'with exit code {code}'}", flush=True)
        worst = worst or (0 if clean else 1)
    return worst


def main() -> int:
    env = dict(os.environ)
    env.setdefault("RABBITMQ_URL", DEFAULT_RABBITMQ)
    # A developer's machine: the services accept the development JWT secret (`make token`).
    env.setdefault("ENVIRONMENT", "development")
    rabbitmq = env["RABBITMQ_URL"]
    if not broker_answers(rabbitmq):
        where = urlparse(rabbitmq)
        print(
            f"No RabbitMQ answers at {where.hostname}:{where.port or 5672}.\n"
            "Start one, then run `make run` again:\n"
            "  docker compose up -d rabbitmq           # with Docker\n"
            "  sudo rabbitmq-server -detached          # local install (Debian: apt-get install rabbitmq-server)\n"
            "or set RABBITMQ_URL=amqp://user:password@host:5672/ to use another broker.",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(env.get("DATA_DIR", REPO / "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    for name in BACKENDS:
        print(f"migrating {name} ...", flush=True)
        subprocess.run([sys.executable, "-m", name, "migrate"], env=service_env(name, env, data_dir), check=True)

    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for name in SERVICES:
        # Own process group: Ctrl-C reaches the launcher only, which stops the services in order.
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", name, "serve"], env=service_env(name, env, data_dir), start_new_session=True
        )
    for name, process in processes.items():
        port = service_env(name, env, data_dir)["PORT"]
        if not wait_ready(port, process):
            print(f"{name} did not become ready; stopping everything.", file=sys.stderr)
            stop_all(processes)
            return 1
    print("\nAll services are up (Ctrl-C stops them):", flush=True)
    for name in BACKENDS:
        port = service_env(name, env, data_dir)["PORT"]
        print(f"  {name:<14} http://127.0.0.1:{port}   docs: http://127.0.0.1:{port}/docs", flush=True)
    console = service_env("console", env, data_dir)["PORT"]
    print(f"\n  Console (控制台): http://127.0.0.1:{console}/   sign in with a role and a factory", flush=True)
    print(f"  data           {data_dir}", flush=True)

    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited unexpectedly (code {process.returncode}); stopping everything.", file=sys.stderr)
                stopping = True
        time.sleep(0.5)
    print("\nstopping ...", flush=True)
    return stop_all(processes)


if __name__ == "__main__":
    sys.exit(main())
