"""failpath's own logs never carry span values, not even inside an exception's message."""

import io
import json
import logging

import pytest

from failpath.logs import JsonFormatter, LibraryRecords, Repeats, TextFormatter

SECRET = "attribute-value-sk-proj-never-log-me"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_exceptions_are_logged_by_type_and_place_without_their_message(formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("failpath.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        int(SECRET)
    except ValueError:
        logger.exception("cannot build a replay packet", extra={"trace_id": "ab" * 16})
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert SECRET not in output
    assert "ValueError" in output and "test_logs.py:" in output and "cannot build a replay packet" in output
    if isinstance(formatter, JsonFormatter):
        assert json.loads(output)["trace_id"] == "ab" * 16


def _capture(logger_name: str, *filters: logging.Filter) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    for record_filter in filters:
        handler.addFilter(record_filter)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    return logger, stream, handler


def test_library_records_keep_their_template_never_the_values() -> None:
    logger, stream, handler = _capture("aiohttp.test-logs", LibraryRecords())
    try:
        logger.error("Got more than %d bytes when reading: %r", 8190, f"Bearer {SECRET}")
        logger.error(f"Bad status line: {SECRET}")  # pre-formatted by the library
        try:
            raise ValueError(f"header {SECRET}")
        except ValueError:
            logger.exception("Error handling request from %s", "10.1.2.3")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == [
        "Got more than … bytes when reading: …",
        "Bad status line",
        "Error handling request from …",
    ]
    assert SECRET not in stream.getvalue() and "10.1.2.3" not in stream.getvalue()
    assert lines[2]["exception"].endswith(": ValueError")


def test_repeated_records_are_sampled_and_the_gap_is_counted() -> None:
    now = [0.0]
    logger, stream, handler = _capture("failpath.test-repeats", Repeats(burst=3, window=10.0, clock=lambda: now[0]))
    try:
        for _ in range(100):
            logger.error("out of file descriptors; pausing accepts")
        logger.warning("something else")
        now[0] = 10.0
        logger.error("out of file descriptors; pausing accepts")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["msg"][:9], line.get("suppressed")) for line in lines] == [
        ("out of fi", None),
        ("out of fi", None),
        ("out of fi", None),
        ("something", None),
        ("out of fi", 97),
    ]
