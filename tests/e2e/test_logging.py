"""What a service process prints, as `make run` starts it (issue "One way to change state"):
uvicorn's access log works (no `--- Logging error ---` per request) and no phone number
reaches the output, the access lines included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import POLICY_DIR, REPO, BrokerNamespace
from tests.e2e.conftest import free_port
from tests.helpers import auth
from tests.polling import poll_until

PHONE = "13800138000"


def get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def get_or_none(url: str) -> int | None:
    try:
        return get(url)
    except OSError:  # not listening yet
        return None


def test_a_service_process_logs_requests_without_errors_or_phone_numbers(
    tmp_path: Path, broker_ns: BrokerNamespace
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **broker_ns.env(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
        "PORT": str(port),
        "POLICY_DIR": str(POLICY_DIR),
        "API_KEYS_FILE": str(tmp_path / "api_keys.yaml"),
        "ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("TRACES_FILE", None)
    # `run`: migrate, then serve, the same command the image and `make run` use
    process = subprocess.Popen(
        [sys.executable, "-m", "intake", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError("intake exited:\n" + "".join(output))
            return get_or_none(f"{base}/health/ready") == 200

        try:
            poll_until(ready, timeout=60, what="intake ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n" + "".join(output)) from None
        user = auth("customer_service", "F01")
        assert get(f"{base}/health/live") == 200
        assert get(f"{base}/api/v1/complaints?customer={PHONE}", user) == 200
        assert get(f"{base}/api/v1/complaints?q={PHONE}") == 401
        assert get(f"{base}/api/v1/complaints/{PHONE}", user) == 422  # not a complaint number
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
    text = "".join(output)
    assert "Logging error" not in text, text
    assert PHONE not in text, text
    # the access log is on and shows the masked request lines
    assert '"GET /health/live HTTP/1.1" 200' in text, text
    assert '"GET /api/v1/complaints?customer=***00 HTTP/1.1" 200' in text, text
    assert '"GET /api/v1/complaints/***00 HTTP/1.1" 422' in text, text
