"""The native per-span reader (_spans.c), or None for each function where the extension is not built (the
callers then read the parsed request: the reference)."""

from collections.abc import Callable
from typing import Any

span_ranges: Callable[[bytes], list[int] | None] | None
watched_attributes: Callable[[bytes, tuple[bytes, ...]], list[tuple[int, bytes]] | None] | None
# (resources, scopes, spans) rows: sampling/span_reading.py names their types.
request_facts: Callable[[bytes], tuple[list[Any], list[Any], list[Any]] | None] | None
try:
    from failpath.otlp import _spans
except ImportError:
    span_ranges = watched_attributes = request_facts = None
else:
    span_ranges, watched_attributes, request_facts = _spans.span_ranges, _spans.watched_attributes, _spans.request_facts
