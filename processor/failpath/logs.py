"""Structured logs to stderr. Log calls pass counts, reasons and endpoints in `extra`, never span values.

The libraries failpath serves with (aiohttp, asyncio, gRPC) log through the same handler, but what they say
can quote a client's bytes (an oversized header, a token), so their records keep only the message's
template and the exception's type and place. Repeats of one message are sampled, so a storm (a client
retrying a bad request, a process out of file descriptors) costs a few lines, not megabytes.
"""

import json
import logging
import re
import sys
import time
import traceback
from types import TracebackType
from typing import Any

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
LIBRARY_LOGGERS = ("aiohttp", "asyncio", "grpc")
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")


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


class LibraryRecords(logging.Filter):
    """Keeps a library record's template, never what it was formatted with: with arguments, the format
    string (placeholders shown as …); without, the text before the first colon or line break, which is
    where libraries put the details."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.args:
            text = _PLACEHOLDER.sub("…", record.msg)
        else:
            text = re.split(r":\s|\n", str(record.msg), maxsplit=1)[0]
        record.msg, record.args = text[:160], ()
        # Library records carry no extras of ours; anything they attached is dropped with the message.
        for key in [key for key in record.__dict__ if key not in _STANDARD]:
            del record.__dict__[key]
        return True


class Repeats(logging.Filter):
    """Per logger and message: the first `burst` records in each `window` seconds pass; the rest are
    counted, and the next record that passes says how many were left out (`suppressed`)."""

    def __init__(self, burst: int = 10, window: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._clock = clock
        # (logger, message) -> [window start, passed in window, suppressed since the last one that passed]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        state = self._seen.get(key)
        if state is None:
            if len(self._seen) >= 10_000:
                self._seen.clear()  # bounded: distinct messages are few, unless something is very wrong
            state = self._seen[key] = [now, 0, 0]
        elif now - state[0] >= self._window:
            state[0], state[1] = now, 0
        if state[1] >= self._burst:
            state[2] += 1
            return False
        state[1] += 1
        if state[2]:
            record.suppressed = int(state[2])
            state[2] = 0
        return True


def configure(level: str, fmt: str) -> None:
    """fmt: json, text, or auto (text when stderr is a terminal, JSON lines otherwise)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Repeats())
    root = logging.getLogger("failpath")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library_handler = logging.StreamHandler(sys.stderr)
        library_handler.setFormatter(handler.formatter)
        library_handler.addFilter(LibraryRecords())
        library_handler.addFilter(Repeats())
        library.handlers[:] = [library_handler]
        library.setLevel(logging.WARNING)
        library.propagate = False
