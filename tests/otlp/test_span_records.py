"""The normalizer's native span reading (otlp/_spans.c: span_record, attribute_dict) against the reference
(upb messages, otlp/values.python_value): every span's record, every resource's attributes and the whole
normalised run the same, on traces recorded from real frameworks, the redaction mix and generated spans
with values of every kind; encodings upb could read otherwise give None, and the run is then read from the
parsed request."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.agents.config import AgentsConfig
from failpath.agents.normalize import Normalizer, native_records, record_of
from failpath.agents.step_facts import attributes_of
from failpath.otlp.wire import numbered_field as _field
from failpath.signals.errors import ErrorSignalsConfig
from tests.support.any_values import VALUES
from tests.support.framework_traces import recorded_requests
from tests.support.redaction_mix import request

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

NORMALIZER = Normalizer(AgentsConfig(), ErrorSignalsConfig(), ("workflow.name",))


def _reference(message: ExportTraceServiceRequest) -> list[object]:
    return [
        (attributes_of(rs.resource.attributes), record_of(span))
        for rs in message.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def _same(message: ExportTraceServiceRequest) -> None:
    """Records (by repr: key order, True vs 1, -0.0 and NaN count) and the normalised run alike."""
    data = message.SerializeToString()
    native = native_records(data)
    assert native is not None
    assert repr(native) == repr(_reference(ExportTraceServiceRequest.FromString(data)))
    assert repr(NORMALIZER.read(data)) == repr(NORMALIZER.run(ExportTraceServiceRequest.FromString(data)))


def test_recorded_framework_traces_and_the_redaction_mix_read_alike() -> None:
    messages = recorded_requests()
    assert len(messages) >= 10
    rng = random.Random(3)
    messages += [request(rng) for _ in range(4)]
    for message in messages:
        _same(message)


_attributes = st.lists(
    st.builds(KeyValue, key=st.sampled_from(["a", "b", "", "é", "tool.name"]), value=VALUES), max_size=5
)
_spans = st.builds(
    Span,
    trace_id=st.binary(max_size=16),
    span_id=st.binary(max_size=8),
    parent_span_id=st.binary(max_size=8),
    name=st.text(max_size=12),
    start_time_unix_nano=st.integers(min_value=0, max_value=2**64 - 1),
    end_time_unix_nano=st.integers(min_value=0, max_value=2**64 - 1),
    status=st.builds(Status, code=st.integers(min_value=-(2**31), max_value=2**31 - 1), message=st.text(max_size=8)),
    events=st.lists(st.builds(Span.Event, name=st.text(max_size=8), attributes=_attributes), max_size=2),
    attributes=_attributes,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_spans, min_size=1, max_size=4), _attributes)
def test_generated_spans_read_alike(generated: list[Span], resource: list[KeyValue]) -> None:
    """Nested arrays and key-value lists, repeated keys (the last wins, in the first one's place), unset
    values, empty and unicode keys, events, every status code."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.extend(resource)
    resource_spans.scope_spans.add().spans.extend(generated)
    _same(message)


def _kv(key: bytes, value: bytes) -> bytes:
    return _field(9, _field(1, key) + _field(2, value))


@pytest.mark.parametrize(
    "span",
    [
        _field(5, b"one") + _field(5, b"two"),  # a name written twice: upb keeps the last
        _field(15, _field(2, b"x")) + _field(15, _field(2, b"y")),  # statuses merge in upb
        _kv(b"k", _field(1, b"text") + b"\x18\x05"),  # an AnyValue with two members: the last one counts
        _kv(b"k", b"\x40\x01"),  # string_value_strindex (profiles)
        _kv(b"k", b"\x0a\x01"[:1] + b"\x00" + b"\x10\x01"),  # a string member then a bool one
        b"\x28\x01",  # name (5) as a varint: upb keeps it as an unknown field
    ],
)
def test_encodings_upb_reads_otherwise_give_none_and_the_parsed_reading(span: bytes) -> None:
    assert spans.span_record(span) is None
    data = _field(1, _field(2, _field(2, span)))
    assert native_records(data) is None
    parsed = ExportTraceServiceRequest.FromString(data)
    assert repr(NORMALIZER.read(data)) == repr(NORMALIZER.run(parsed))


def test_malformed_bytes_give_none() -> None:
    blob = recorded_requests()[0].resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    assert spans.span_record(blob[:-1]) is None
    assert spans.span_record(_kv(b"\xff", _field(1, b"v"))) is None  # a key that is not UTF-8
    assert spans.attribute_dict(_field(1, _field(1, b"k") + _field(2, b"\x0a\x02\xc3")), 1) is None
    assert spans.span_record(b"") == (b"", b"", b"", "", 0, 0, 0, "", {}, [])
