"""The native per-span reader (_spans.c), or None for each function where the extension is not built (the
callers then read the parsed request: the reference)."""

from collections.abc import Callable
from typing import Any

span_ranges: Callable[[bytes], list[int] | None] | None
# The span count of a request upb certainly reads and whose spans all have valid ids, else None (otlp/span_ids.py).
valid_spans: Callable[[bytes], int | None] | None
# (resources, scopes, spans) rows, with the values of the watched keys: sampling/span_reading.py names their types.
request_facts: Callable[[bytes, tuple[str, ...]], tuple[list[Any], list[Any], list[Any]] | None] | None
# The same reading grouped by trace, with rows only for the spans the sampler must look at (span_reading.py).
request_traces: (
    Callable[
        [bytes, tuple[str, ...], int, tuple[tuple[bytes, ...], ...], bool],
        tuple[list[Any], list[Any], list[Any]] | None,
    ]
    | None
)
# (resources, scopes, spans) rows as the embedded store writes them: store/span_rows.py names their types.
store_rows: Callable[[bytes], tuple[list[Any], list[Any], list[Any]] | None] | None
# A span as the normalizer reads it (agents/normalize.py names the record's type), a message's attributes.
span_record: Callable[[bytes], tuple[Any, ...] | None] | None
attribute_dict: Callable[[bytes, int], dict[str, Any] | None] | None
# A kept run of buffered spans framed as a ScopeSpans field, or None where a span must be merged (kept_output.py).
scope_spans_field: Callable[[bytes, list[bytes], bytes, bytes, bool, bool], bytes | None] | None
try:
    from failpath.otlp import _spans
except ImportError:
    span_ranges = valid_spans = request_facts = request_traces = store_rows = span_record = attribute_dict = None
    scope_spans_field = None
else:
    span_ranges, valid_spans, request_facts = _spans.span_ranges, _spans.valid_spans, _spans.request_facts
    request_traces = _spans.request_traces
    store_rows, span_record, attribute_dict = _spans.store_rows, _spans.span_record, _spans.attribute_dict
    scope_spans_field = _spans.scope_spans_field
