"""The native per-span reader (_spans.c), or None for each function where the extension is not built (the
callers then read the parsed request: the reference)."""

from collections.abc import Callable

span_ranges: Callable[[bytes], list[int] | None] | None
watched_attributes: Callable[[bytes, tuple[bytes, ...]], list[tuple[int, bytes]] | None] | None
try:
    from failpath.otlp import _spans
except ImportError:
    span_ranges = watched_attributes = None
else:
    span_ranges, watched_attributes = _spans.span_ranges, _spans.watched_attributes
