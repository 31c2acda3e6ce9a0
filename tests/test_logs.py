"""failpath's own logs never carry span values, not even inside an exception's message."""

import io
import json
import logging

import pytest

from failpath.logs import JsonFormatter, TextFormatter

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
