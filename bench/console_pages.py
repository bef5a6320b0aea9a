"""The console's page load times: each page served to a signed-in user, p50 / p95, on a stack of
the four services (SQLite or PostgreSQL) and the console process, with a few hundred complaints.

A page calls one to eight service APIs with the user's token (concurrently where it can), so each
figure stands beside a direct API read measured in the same run (intake's GET of one complaint):
the ratio is what rendering and the fan-out add.

    uv run --frozen python bench/console_pages.py [--complaints 300] [--runs 40] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import percentile  # noqa: E402
from bench.report import Row, number, ratio  # noqa: E402
from tests.e2e.test_walking_skeleton import COMPLAINT  # noqa: E402
from tests.helpers import auth  # noqa: E402
from tests.stack import Backend, ServiceProcess, free_port, running_stack  # noqa: E402

PAGES = {
    "my work (/)": "/",
    "case list (/cases)": "/cases",
    "complaints (/complaints)": "/complaints",
    "complaint record": "/complaints/{number}",
    "case page (8D)": "/cases/{number}",
    "penalties (/penalties)": "/penalties",
    "dashboard (8 statistics calls)": "/dashboard",
}
DEFECTS = ["crack 裂纹", "scratch 划伤", "dimension 尺寸", "colour 色差", None]


@dataclass
class BackendResult:
    backend: Backend
    complaints: int
    direct_ms: list[float]
    pages_ms: dict[str, list[float]] = field(default_factory=dict)


def _seed(intake: str, complaints: int) -> str:
    headers = auth("customer_service", "F01")
    first = ""
    with httpx.Client(base_url=intake, timeout=30, headers=headers) as client:
        for i in range(complaints):
            body: dict[str, Any] = copy.deepcopy(COMPLAINT)
            body["external_ref"] = f"bench-{uuid.uuid4()}"
            body["product"]["order_number"] = f"SO-{i}"
            if (defect := DEFECTS[i % len(DEFECTS)]) is not None:
                body["defect_type"] = defect
            answer = client.post("/api/v1/complaints", json=body)
            answer.raise_for_status()
            first = first or answer.json()["number"]
    return first


def _signed_in(console: str) -> httpx.Client:
    client = httpx.Client(base_url=console, timeout=30, follow_redirects=False)
    page = client.get("/signin").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the sign-in page"
    answer = client.post(
        "/signin", data={"csrf_token": found.group(1), "role": "quality_manager", "factories": "F01", "name": "bench"}
    )
    assert answer.status_code == 303, answer.text
    return client


def _time(get: Callable[[], httpx.Response], runs: int) -> list[float]:
    for _ in range(3):
        get()  # warm-up: connection pools, template compilation
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = get()
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return out


def measure(backend: Backend, complaints: int, runs: int, say: Callable[[str], None]) -> BackendResult:
    with running_stack(backend) as stack:
        env = {**stack["intake"].env, "PORT": str(free_port()), "DATABASE_URL": ""}
        for name in ("intake", "investigation", "penalty", "notification"):
            env[f"{name.upper()}_URL"] = stack[name].url
        console = ServiceProcess("console", env, stack.folder / "console.log")
        console.start()
        try:
            console.wait_ready()
            say(f"[{backend}] console pages: registering {complaints} complaints ...")
            number = _seed(stack["intake"].url, complaints)
            time.sleep(3)  # investigation opens the cases, notification files the notices
            result = BackendResult(backend, complaints, [])
            with httpx.Client(base_url=stack["intake"].url, headers=auth("quality_manager", "F01")) as direct:
                result.direct_ms = _time(lambda: direct.get(f"/api/v1/complaints/{number}"), runs)
            client = _signed_in(console.url)
            try:
                for name, path in PAGES.items():
                    url = path.format(number=number)
                    result.pages_ms[name] = _time(lambda url=url: client.get(url), runs)  # type: ignore[misc]
                    say(f"    {name}: p50 {percentile(result.pages_ms[name], 50):.1f} ms")
            finally:
                client.close()
            return result
        finally:
            console.stop()


def rows(results: list[BackendResult]) -> list[Row]:
    if not results:
        return []
    by = {r.backend: r for r in results}
    out = [
        Row(
            "console: direct API read (intake GET one complaint), p50 / p95 ms",
            {
                b: f"{number(percentile(r.direct_ms, 50), 1)} / {number(percentile(r.direct_ms, 95), 1)}"
                for b, r in by.items()
            },
        )
    ]
    for name in PAGES:
        out.append(
            Row(
                f"console page {name}, p50 / p95 ms",
                {
                    b: f"{number(percentile(r.pages_ms[name], 50), 1)} / {number(percentile(r.pages_ms[name], 95), 1)}"
                    for b, r in by.items()
                },
                ratios={b: ratio(percentile(r.pages_ms[name], 50), percentile(r.direct_ms, 50)) for b, r in by.items()},
            )
        )
    return out


def notes(results: list[BackendResult]) -> list[str]:
    return [
        f"Console pages, {r.backend}: {r.complaints} complaints of F01, signed in as quality manager; every page "
        "timed sequentially after 3 warm-ups; ratio: page p50 over the direct API read's p50 of the same run."
        for r in results
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complaints", type=int, default=300)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = [measure(b, args.complaints, args.runs, print) for b in args.backends.split(",")]  # type: ignore[arg-type]
    for row in rows(results):
        print(f"{row.figure:<70} " + "  ".join(f"{b}: {v} {row.ratios.get(b, '')}" for b, v in row.values.items()))
    print("\n".join(notes(results)))


if __name__ == "__main__":
    main()
