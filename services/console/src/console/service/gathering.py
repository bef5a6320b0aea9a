"""Several services asked at once for one page; each answer stands alone, so one refusal or
outage costs its own panel, not the page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from console.service.backends import BackendError, Forbidden, NotFound, Unavailable


@dataclass
class Answers:
    """Each panel's answer, or why there is none ('forbidden', 'unavailable:<service>', …)."""

    answers: dict[str, Any]
    problems: dict[str, str]

    def get(self, name: str) -> Any:
        return self.answers.get(name)


async def _attempt(call: Awaitable[Any]) -> tuple[Any, str | None]:
    try:
        return await call, None
    except Forbidden:
        return None, "forbidden"
    except Unavailable as exc:
        return None, f"unavailable:{exc.service}"
    except NotFound:
        return None, "not_found"
    except BackendError as exc:
        return None, str(exc) or type(exc).__name__


async def gather_named(calls: Mapping[str, Awaitable[Any]]) -> Answers:
    results = await asyncio.gather(*(_attempt(call) for call in calls.values()))
    answers: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, (answer, problem) in zip(calls, results, strict=True):
        if problem is None:
            answers[name] = answer
        else:
            problems[name] = problem
    return Answers(answers, problems)
