"""A request's spans as the tail sampler reads them: from its bytes in one native pass (otlp/_spans.c), or
from the parsed message (the reference, where the extension is not built or declines the bytes). Both give
the same rows; tests/sampling/test_native_facts.py compares them.

The sampler takes them grouped by trace, with rows only for the spans it must look at: most of an agent's
spans (a step's child spans, with at most a tool flag it knows to say nothing) only join their trace.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch
from failpath.otlp.native import request_traces
from failpath.otlp.values import Value, encoded, python_value
from failpath.signals.errors import STATUS_ERROR

# (scope index, span bytes, trace id, is root, status code, start ns, end ns, name, has events, trace state,
# watched attribute values or None: the native reader declined them, read them from the span's bytes)
SpanRow = tuple[int, bytes, bytes, bool, int, int, int, str, bool, str, dict[str, Value] | None]
# (serialized Resource, schema URL): one per ResourceSpans.
ResourceRow = tuple[bytes, bytes]
# (index of its resource, serialized InstrumentationScope, schema URL): one per ScopeSpans.
ScopeRow = tuple[int, bytes, bytes]
RequestRows = tuple[list[ResourceRow], list[ScopeRow], list[SpanRow]]
# A trace's spans in one request: (trace id, runs: [(scope index, [span bytes])], each a run of its spans under
# one scope in the request's order, notable: the rows of the spans the sampler must look at (`notable`),
# spans, their bytes, the earliest start that is not 0 (0: none), the latest end).
TraceRows = tuple[bytes, list[tuple[int, list[bytes]]], Sequence[SpanRow], int, int, int, int]
RequestTraces = tuple[list[ResourceRow], list[ScopeRow], list[TraceRows]]


@dataclass(frozen=True, slots=True)
class Watching:
    """What the sampler reads of each span's attributes, and which spans it need not look at."""

    # The keys whose values are read: first those that can tell something on any span, then those read
    # only on a root span (the workflow, sampling keys).
    keys: tuple[str, ...]
    span_keys: int
    # Per key of the first span_keys, the encoded AnyValues known to tell nothing on a span that is not a
    # root, whatever else it carries (sampling/span_facts.py learns them).
    quiet: tuple[tuple[bytes, ...], ...] = ()
    # Every span is looked at (a condition tests span names).
    every_span: bool = False


def read_traces(batch: Batch, watching: Watching) -> RequestTraces:
    """The batch's spans by trace, read from its bytes when it holds them (no parse), else from its request."""
    payload = batch.payload
    if payload is not None and request_traces is not None:
        rows = request_traces(payload, watching.keys, watching.span_keys, watching.quiet, watching.every_span)
        if rows is not None and sum(trace[3] for trace in rows[2]) == batch.spans:
            return rows
    resources, scopes, spans = read_message(batch.request, watching.keys)
    return resources, scopes, by_trace(spans, watching)


def notable(row: SpanRow, watching: Watching) -> bool:
    """A span that can tell the sampler more than that it exists: a root, an error status, events (an
    exception, a verdict), a trace state (randomness), a value of a key read on every span that is not known
    to be quiet (or values left to be read from its bytes). request_traces compares the bytes of values as
    they came: the same for encodings as upb writes them, and a value written otherwise is not quiet there."""
    watched = row[10]
    if watching.every_span or tells_by_itself(row) or watched is None:
        return True
    for key, value in watched.items():
        k = watching.keys.index(key)
        if k < watching.span_keys and (k >= min(64, len(watching.quiet)) or encoded(value) not in watching.quiet[k]):
            return True
    return False


def tells_by_itself(row: SpanRow) -> bool:
    """A root, an error status, events or a trace state: looked at whatever its attribute values."""
    _, _, _, root, code, _, _, _, has_events, trace_state, _ = row
    return root or code == STATUS_ERROR or has_events or bool(trace_state)


def by_trace(spans: list[SpanRow], watching: Watching) -> list[TraceRows]:
    """The rows grouped as request_traces groups them (the reference)."""
    # trace id -> (trace id, runs, notable rows, [spans, bytes, start, end])
    traces: dict[bytes, tuple[bytes, list[tuple[int, list[bytes]]], list[SpanRow], list[int]]] = {}
    for row in spans:
        scope, blob, trace_id, start, end = row[0], row[1], row[2], row[5], row[6]
        entry = traces.get(trace_id)
        if entry is None:
            entry = traces[trace_id] = (trace_id, [], [], [0, 0, 0, 0])
        _, runs, rows, totals = entry
        if not runs or runs[-1][0] != scope:
            runs.append((scope, []))
        runs[-1][1].append(blob)
        if notable(row, watching):
            rows.append(row)
        totals[0] += 1
        totals[1] += len(blob)
        if start and (totals[2] == 0 or start < totals[2]):
            totals[2] = start
        totals[3] = max(totals[3], end)
    return [
        (trace_id, runs, rows or (), count, size, start, end)
        for trace_id, runs, rows, (count, size, start, end) in traces.values()
    ]


def watched_values(attributes: Iterable[Any], watched: frozenset[str]) -> dict[str, Value]:
    """The values of the watched keys among attributes (KeyValue messages); unset values left out."""
    found: dict[str, Value] = {}
    for kv in attributes:
        key = kv.key
        if key in watched:
            value = python_value(kv.value)
            if value is not None:
                found[key] = value
    return found


def read_message(request: ExportTraceServiceRequest, watched: tuple[str, ...] = ()) -> RequestRows:
    keys = frozenset(watched)
    resources: list[ResourceRow] = []
    scopes: list[ScopeRow] = []
    spans: list[SpanRow] = []
    for resource_spans in request.resource_spans:
        resources.append((resource_spans.resource.SerializeToString(), resource_spans.schema_url.encode()))
        for scope_spans in resource_spans.scope_spans:
            scope = len(scopes)
            scopes.append((len(resources) - 1, scope_spans.scope.SerializeToString(), scope_spans.schema_url.encode()))
            spans.extend(
                (
                    scope,
                    span.SerializeToString(),
                    span.trace_id,
                    not span.parent_span_id,
                    span.status.code,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    span.name,
                    len(span.events) > 0,
                    span.trace_state,
                    watched_values(span.attributes, keys),
                )
                for span in scope_spans.spans
            )
    return resources, scopes, spans
