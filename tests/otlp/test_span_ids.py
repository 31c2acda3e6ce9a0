"""The span-id check on a request's bytes (otlp/_spans.c: valid_spans) against the check on the parsed request
(otlp/span_ids.py): where every span's ids are valid it counts them; wherever any is not (or the bytes hold
something it does not read) it gives None and the parsed request's check names the problems."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp import wire
from failpath.otlp.span_ids import reject_invalid_spans
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
    # with the bytes beside it, the check gives what it gives on the parsed request alone
    assert reject_invalid_spans(ExportTraceServiceRequest.FromString(data), data) == (accepted, rejected, text)


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


def _field(number: int, payload: bytes) -> bytes:
    return wire.field(wire.varint(number << 3 | 2), payload)


def test_ids_written_twice_count_as_upb_reads_them() -> None:
    """The last trace id wins in upb: valid then empty is invalid, empty then valid is valid."""
    good, span_id = b"\7" * 16, _field(2, b"\5" * 8)
    for ids, valid in ((_field(1, good) + _field(1, b""), False), (_field(1, b"") + _field(1, good), True)):
        data = _field(1, _field(2, _field(2, ids + span_id)))
        assert (spans.valid_spans(data) == 1) is valid
        assert reject_invalid_spans(ExportTraceServiceRequest.FromString(data))[1] == (0 if valid else 1)
    assert spans.valid_spans(_field(1, _field(2, _field(2, b"\x08\x01")))) is None  # a trace id as a varint
    assert spans.valid_spans(b"") == 0
