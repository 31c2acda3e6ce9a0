"""A request's spans as the tail sampler reads them: from its bytes in one native pass (otlp/_spans.c), or
from the parsed message (the reference, where the extension is not built or declines the bytes). Both give
the same rows; tests/sampling/test_native_facts.py compares them."""

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch
from failpath.otlp.native import request_facts
from failpath.otlp.values import Value, python_value

# (scope index, span bytes, trace id, is root, status code, start ns, end ns, name, has events, trace state,
# watched attribute values or None: the native reader declined them, read them from the span's bytes)
SpanRow = tuple[int, bytes, bytes, bool, int, int, int, str, bool, str, dict[str, Value] | None]
# (serialized Resource, schema URL): one per ResourceSpans.
ResourceRow = tuple[bytes, bytes]
# (index of its resource, serialized InstrumentationScope, schema URL): one per ScopeSpans.
ScopeRow = tuple[int, bytes, bytes]
RequestRows = tuple[list[ResourceRow], list[ScopeRow], list[SpanRow]]


def read_batch(batch: Batch, watched: tuple[str, ...]) -> RequestRows:
    """The batch's spans with the values of their watched attributes, read from its bytes when it holds them
    (no parse), else from its request."""
    payload = batch.payload
    if payload is not None and request_facts is not None:
        rows = request_facts(payload, watched)
        if rows is not None and len(rows[2]) == batch.spans:
            return rows
    return read_message(batch.request, watched)


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
