"""Logging with personal data masked (phone numbers, e-mail addresses never reach a log)."""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import Mapping
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


class _Masked:
    """Stands in for a log argument that is neither text nor a number: `%s` and `%r` of it
    give the masked `str()` and `repr()` of the original."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return mask_pii(str(self._value))

    def __repr__(self) -> str:
        return mask_pii(repr(self._value))


def _mask_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    # Numbers keep their type: formats such as `%d` (uvicorn's status code) need it.
    if value is None or isinstance(value, numbers.Number):
        return value
    return _Masked(value)


def _mask_args(args: Any) -> Any:
    """The same shape (a tuple, or a mapping for `%(name)s` formats) with every value masked."""
    if isinstance(args, tuple):
        return tuple(_mask_arg(a) for a in args)
    if isinstance(args, Mapping):
        return {k: _mask_arg(v) for k, v in args.items()}
    return _mask_arg(args)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place, keeping `msg` and `args` in the shape formatters expect.

    Formatters may read `record.args` themselves (uvicorn's access formatter unpacks a
    5-tuple), so the arguments are masked one by one instead of being merged into `msg`.
    Only if personal data still shows once they are put together (a number split across
    arguments) is the message collapsed into one masked text.
    """
    try:
        if not record.exc_info and not record.stack_info:
            plain = record.getMessage()
            if mask_pii(plain) == plain:
                return record  # nothing to mask (most records): leave them exactly as logged
        record.msg = mask_pii(str(record.msg))  # `getMessage()` applies str() to it in any case
        if record.args:
            record.args = _mask_args(record.args)
        message = record.getMessage()
    except Exception:  # a malformed format string: leave it to the handler to report
        return record
    if mask_pii(message) != message:
        record.msg, record.args = mask_pii(message), ()
    if record.exc_info and not record.exc_text:
        # Handlers format the traceback only when it is missing: give them a masked one.
        record.exc_text = mask_pii(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_pii(record.stack_info)
    return record


_installed = False


def install_pii_masking() -> None:
    """Mask every log record of the process, whichever handler formats it."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


class _BrokerLossWithoutTraceback(logging.Filter):
    """aiormq and aio-pika log a lost broker connection with a traceback of their own reader
    task, and an ERROR for every channel and reconnection attempt that finds it gone. The loss
    is expected and handled (robust reconnection, readiness, the relay's own outage log): keep
    the lines, drop the tracebacks, and say them at WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        try:
            record.getMessage()
        except Exception:  # aio-pika's OneShotCallback repr can fail on a closed channel
            record.msg, record.args = f"{record.msg} (arguments unprintable)", None
        if record.levelno > logging.WARNING:  # these loggers speak only of the connection
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_expected_broker_loss() -> None:
    for name in ("aiormq.connection", "aio_pika.tools", "aio_pika.robust_connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _BrokerLossWithoutTraceback) for f in logger.filters):
            logger.addFilter(_BrokerLossWithoutTraceback())
