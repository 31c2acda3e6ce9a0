"""A request's spans as the embedded store writes them: from its bytes in one native pass (otlp/_spans.c
`store_rows`), or from the parsed message (the reference, where the extension is not built or declines the
bytes). Both give the same rows; tests/store/test_span_rows.py compares them."""

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp.native import store_rows
from failpath.store.write_errors import int64

# (serialized Resource, its service.name): one per ResourceSpans.
ResourceRow = tuple[bytes, str]
# (index of its resource, serialized InstrumentationScope, name, version): one per ScopeSpans.
ScopeRow = tuple[int, bytes, str, str]
# (scope index, trace id, span id, parent span id, name, kind, start ns, end ns, status code, Span bytes), the
# times saturated to the signed 64-bit range of SQLite's integers.
SpanRow = tuple[int, bytes, bytes, bytes, str, int, int, int, int, bytes]
StoreRows = tuple[list[ResourceRow], list[ScopeRow], list[SpanRow]]


def read_rows(payload: bytes) -> StoreRows:
    """The rows of a serialized ExportTraceServiceRequest (raises DecodeError where upb cannot read it)."""
    rows = store_rows(payload) if store_rows is not None else None
    return rows if rows is not None else rows_of(ExportTraceServiceRequest.FromString(payload))


def rows_of(request: ExportTraceServiceRequest) -> StoreRows:
    resources: list[ResourceRow] = []
    scopes: list[ScopeRow] = []
    spans: list[SpanRow] = []
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        service = next((a.value.string_value for a in resource.attributes if a.key == "service.name"), "")
        resources.append((resource.SerializeToString(), service))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            index = len(scopes)
            scopes.append((len(resources) - 1, scope.SerializeToString(), scope.name, scope.version))
            spans.extend(
                (
                    index,
                    span.trace_id,
                    span.span_id,
                    span.parent_span_id,
                    span.name,
                    span.kind,
                    int64(span.start_time_unix_nano),
                    int64(span.end_time_unix_nano),
                    span.status.code,
                    span.SerializeToString(),
                )
                for span in scope_spans.spans
            )
    return resources, scopes, spans
