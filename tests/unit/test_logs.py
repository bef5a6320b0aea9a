"""Personal data is masked in every log record without breaking the formatters that read the
record's arguments (issue "One way to change state": under `make run` each request printed
`--- Logging error ---` because the masking factory set `record.args = None` and uvicorn's
access formatter unpacks a 5-tuple)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from cqm_shared import logs

PHONE = "13800138000"
UVICORN_ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


@pytest.fixture
def masking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process-wide record factory, as every service installs it; removed afterwards."""
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(logs, "_installed", False)
    logs.install_pii_masking()
    yield
    logging.setLogRecordFactory(previous)


def capture(name: str, formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    """A logger of its own writing through `formatter` into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"cqm.test.logs.{name}")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_uvicorn_access_lines_are_formatted_and_masked(masking: None, capsys: pytest.CaptureFixture[str]) -> None:
    logger, stream = capture("access", AccessFormatter(UVICORN_ACCESS_FORMAT, use_colors=False))
    # exactly how uvicorn's httptools/h11 protocols log a request
    logger.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:50312",
        "GET",
        f"/api/v1/complaints?customer={PHONE}",
        "1.1",
        200,
    )
    assert "Logging error" not in capsys.readouterr().err  # the defect: TypeError unpacking args=None
    line = stream.getvalue()
    assert line == 'INFO:     127.0.0.1:50312 - "GET /api/v1/complaints?customer=***00 HTTP/1.1" 200 OK\n'
    assert PHONE not in line


def test_arguments_keep_their_shape_and_are_masked_one_by_one(masking: None) -> None:
    logger, stream = capture("shapes", logging.Formatter("%(message)s"))
    with_mapping = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%(who)s", ({"who": PHONE},), None)
    assert isinstance(with_mapping.args, dict) and with_mapping.getMessage() == "***00"
    logger.info("%d complaints for %s", 3, "li.ming@example.com")
    logger.info("%s", {"phone": PHONE})  # neither text nor number: its str() is masked
    logger.info("%r", [PHONE])
    logger.info("%s%s", PHONE[:6], PHONE[6:])  # only whole once put together
    assert stream.getvalue().splitlines() == [
        "3 complaints for l***@example.com",
        "{'phone': '***00'}",
        "['***00']",
        "***00",
    ]


def test_tracebacks_are_masked(masking: None) -> None:
    logger, stream = capture("traceback", DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False))
    try:
        raise ValueError(f"no customer with phone {PHONE}")
    except ValueError:
        logger.exception("lookup of %s failed", PHONE)
    text = stream.getvalue()
    assert "lookup of ***00 failed" in text and "ValueError: no customer with phone ***00" in text
    assert PHONE not in text


def test_a_lost_broker_connection_is_a_warning_without_a_library_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from cqm_shared.logs import quiet_expected_broker_loss

    class Unprintable:
        def __repr__(self) -> str:
            raise AttributeError("callback")

    quiet_expected_broker_loss()
    logger = logging.getLogger("aio_pika.tools")
    with caplog.at_level(logging.WARNING, "aio_pika.tools"):
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError:
            logger.exception("Callback %r error", Unprintable())
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "arguments unprintable" in record.getMessage()
