"""Hypothesis strategies for OTLP attribute values of every kind, and requests made of generated spans, for the
native readers' differential tests."""

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SCALARS = st.one_of(
    st.text(max_size=20).map(lambda text: AnyValue(string_value=text)),
    st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda number: AnyValue(int_value=number)),
    st.floats().map(lambda number: AnyValue(double_value=number)),  # NaN, infinities and -0.0 too
    st.binary(max_size=8).map(lambda raw: AnyValue(bytes_value=raw)),
    st.just(AnyValue()),  # unset
)
# Scalars, and arrays and key-value lists of them nested a few levels.
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: AnyValue(array_value=ArrayValue(values=items))),
        st.lists(st.builds(KeyValue, key=st.text(max_size=6), value=inner), max_size=3).map(
            lambda items: AnyValue(kvlist_value=KeyValueList(values=items))
        ),
    ),
    max_leaves=8,
)


def spans(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Span]:
    """Spans with every field the native readers read: ids of any length (empty, wrong, right), trace state,
    name, any kind and status code (negative ones too), times up to 2**64 - 1, named events, and up to three
    attributes keyed from keys with values of every kind."""
    texts = st.text(max_size=12)
    int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
    return st.builds(
        Span,
        trace_id=st.binary(max_size=16),
        span_id=st.binary(max_size=8),
        parent_span_id=st.binary(max_size=8),
        trace_state=texts,
        name=texts,
        kind=int32,
        start_time_unix_nano=st.integers(min_value=0, max_value=2**64 - 1),
        end_time_unix_nano=st.integers(min_value=0, max_value=2**64 - 1),
        status=st.builds(Status, code=int32, message=texts),
        events=st.lists(st.builds(Span.Event, name=texts), max_size=2),
        attributes=st.lists(st.builds(KeyValue, key=keys, value=VALUES), max_size=3),
    )


def requests(
    spans: st.SearchStrategy[Span], resources: st.SearchStrategy[Resource]
) -> st.SearchStrategy[ExportTraceServiceRequest]:
    """Up to 3 resources of up to 3 scopes of up to 4 spans; resources and scopes absent or not, schema URLs."""
    texts = st.text(max_size=10)
    return st.builds(
        ExportTraceServiceRequest,
        resource_spans=st.lists(
            st.builds(
                ResourceSpans,
                resource=st.one_of(st.none(), resources),
                schema_url=texts,
                scope_spans=st.lists(
                    st.builds(
                        ScopeSpans,
                        scope=st.one_of(st.none(), st.builds(InstrumentationScope, name=texts, version=texts)),
                        schema_url=texts,
                        spans=st.lists(spans, max_size=4),
                    ),
                    max_size=3,
                ),
            ),
            max_size=3,
        ),
    )
