"""Logging with personal data masked (phone numbers, e-mail addresses never reach a log)."""

from __future__ import annotations

import logging
import re
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE_CANDIDATE = re.compile(r"(?<![\w.:-])\+?\d[\d \-()]{5,}\d(?![\w.:-])")
_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 7 or _DATE_OR_TIME.search(text):
        return text
    return "***" + "".join(digits[-2:])


def mask_pii(text: str) -> str:
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)


_installed = False


def install_pii_masking() -> None:
    """Mask every log record of the process, whichever handler formats it."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: leave it to the handler
            return record
        record.msg, record.args = mask_pii(message), None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
