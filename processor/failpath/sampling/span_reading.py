"""A request's spans as the tail sampler reads them: from its bytes in one native pass (otlp/_spans.c), or
from the parsed message (the reference, where the extension is not built or declines the bytes). Both give
the same rows; tests/sampling/test_native_facts.py compares them."""

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch
from failpath.otlp.native import request_facts

# (scope index, span bytes, trace id, is root, status code, start ns, end ns, name, has events, trace state)
SpanRow = tuple[int, bytes, bytes, bool, int, int, int, str, bool, str]
# (serialized Resource, schema URL): one per ResourceSpans.
ResourceRow = tuple[bytes, bytes]
# (index of its resource, serialized InstrumentationScope, schema URL): one per ScopeSpans.
ScopeRow = tuple[int, bytes, bytes]
RequestRows = tuple[list[ResourceRow], list[ScopeRow], list[SpanRow]]


def read_batch(batch: Batch) -> RequestRows:
    """The batch's spans, read from its bytes when it holds them (no parse), else from its request."""
    payload = batch.payload
    if payload is not None and request_facts is not None:
        rows = request_facts(payload)
        if rows is not None and len(rows[2]) == batch.spans:
            return rows
    return read_message(batch.request)


def read_message(request: ExportTraceServiceRequest) -> RequestRows:
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
                )
                for span in scope_spans.spans
            )
    return resources, scopes, spans
