"""The receivers' check of a request's bytes (otlp/_spans.c: valid_spans) against upb and the check on the
parsed request (otlp/span_ids.py): where upb certainly reads the bytes and every span's ids are valid it
counts the spans (and nothing is parsed at the receiver); wherever any id is not valid, or the bytes hold
anything it does not vouch for (malformed, a string that is not UTF-8, an unknown field, deep nesting), it
gives None: upb's parse then refuses or reads the request, and the parsed request's check names the
problems."""

import random

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp.span_ids import checked_spans, reject_invalid_spans
from failpath.otlp.wire import numbered_field as _field
from tests.support.redaction_mix import request

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

_IDS = {
    "trace_id": st.one_of(st.binary(min_size=16, max_size=16), st.sampled_from([b"", bytes(16), b"\1" * 15])),
    "span_id": st.one_of(st.binary(min_size=8, max_size=8), st.sampled_from([b"", bytes(8), b"\1" * 9])),
    "parent_span_id": st.one_of(st.binary(min_size=8, max_size=8), st.sampled_from([b"", bytes(8), b"\1" * 7])),
}


def _agree(message: ExportTraceServiceRequest) -> None:
    data = message.SerializeToString()
    counted = spans.valid_spans(data)
    accepted, rejected, text = reject_invalid_spans(ExportTraceServiceRequest.FromString(data))
    if counted is None:
        assert rejected > 0
    else:
        assert (counted, 0, "") == (accepted, rejected, text)
    assert checked_spans(data) == counted


def test_the_span_mix_counts_alike() -> None:
    rng = random.Random(8)
    for _ in range(5):
        message = request(rng)
        assert spans.valid_spans(message.SerializeToString()) == sum(
            len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans
        )
        _agree(message)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(Span, **_IDS), max_size=5), st.integers(min_value=1, max_value=3))
def test_generated_ids_are_judged_alike(generated: list[Span], scopes: int) -> None:
    """All-zero, short, long and empty ids, alone or among valid spans, over several scopes."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    for index in range(scopes):
        resource_spans.scope_spans.add().spans.extend(generated[index::scopes])
    _agree(message)


def test_ids_written_twice_count_as_upb_reads_them() -> None:
    """The last trace id wins in upb: valid then empty is invalid, empty then valid is valid."""
    good, span_id = b"\7" * 16, _field(2, b"\5" * 8)
    for ids, valid in ((_field(1, good) + _field(1, b""), False), (_field(1, b"") + _field(1, good), True)):
        data = _field(1, _field(2, _field(2, ids + span_id)))
        assert (spans.valid_spans(data) == 1) is valid
        assert reject_invalid_spans(ExportTraceServiceRequest.FromString(data))[1] == (0 if valid else 1)
    assert spans.valid_spans(_field(1, _field(2, _field(2, b"\x08\x01")))) is None  # a trace id as a varint
    assert spans.valid_spans(b"") == 0


_SPAN = _field(1, b"\7" * 16) + _field(2, b"\5" * 8)


def _request(span: bytes, resource: bytes = b"") -> bytes:
    return _field(1, (_field(1, resource) if resource else b"") + _field(2, _field(2, span)))


def _nested(depth: int) -> bytes:
    value = _field(1, b"deep")  # an AnyValue holding a string
    for _ in range(depth):
        value = _field(5, _field(1, value))  # inside an array
    return value


@pytest.mark.parametrize(
    ("data", "upb_reads_it"),
    [
        (_request(_SPAN + _field(9, _field(1, b"k") + _field(2, _field(5, _field(1, _field(1, b"\xc3")))))), False),
        (_request(_SPAN + _field(3, b"\xed\xa0\x80")), False),  # a surrogate in the trace state
        (_request(_SPAN + _field(5, b"name")[:-1]), False),  # cut short
        (_request(_SPAN + b"\x88\x01\x01"), True),  # field 17, unknown to this schema
        (_request(_SPAN, _field(3, _field(2, b"service"))), True),  # Resource.entity_refs, not checked here
        (_request(_SPAN + b"\x28\x01"), True),  # the name written as a varint: upb keeps it as unknown
        (_request(_SPAN + b"\x30\x81\x00"), True),  # a kind in a non-minimal varint
        (_request(_SPAN + _field(9, _field(1, b"k") + _field(2, _nested(30)))), True),  # past the check's depth
        (_request(_SPAN + _field(9, _field(1, b"k") + _field(2, _nested(70)))), False),  # and past upb's
    ],
)
def test_what_it_does_not_vouch_for_is_left_to_upb(data: bytes, upb_reads_it: bool) -> None:
    assert spans.valid_spans(data) is None
    try:
        ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        assert not upb_reads_it
    else:
        assert upb_reads_it


def test_nesting_within_the_check_is_vouched_for() -> None:
    data = _request(_SPAN + _field(9, _field(1, b"k") + _field(2, _nested(20))))
    assert spans.valid_spans(data) == 1
    ExportTraceServiceRequest.FromString(data)
