"""Structured logs to stderr. Log calls pass counts, reasons and endpoints in `extra`, never span values."""

import json
import logging
import sys
import time
import traceback
from types import TracebackType
from typing import Any

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _exception(exc_info: ExcInfo) -> str:
    """Where an exception came from and its type, never its message: messages of errors raised while
    handling spans can quote attribute values (int("..."), KeyError('...'), ...)."""
    kind, _, tb = exc_info
    frames = [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)]
    return " <- ".join(reversed(frames)) + f": {kind.__qualname__ if kind else 'exception'}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = _exception(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        line = f"{self.formatTime(record)} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        line = f"{line} {fields}" if fields else line
        return f"{line}\n  {_exception(record.exc_info)}" if record.exc_info else line


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("failpath")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
