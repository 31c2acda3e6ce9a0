"""The sampler's native per-span reading (otlp/_spans.c) against the reference (upb messages): each span's
bytes are the slice of the request the reader names, its facts (trace id, root, status, times, name, events,
trace state; resources and scopes) and watched attributes the ones upb reads, and a sampling run fed bytes
hands on exactly what it hands on from the request alone."""

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.otlp.wire import numbered_field as _field
from failpath.sampling.config import SamplingConfig
from failpath.sampling.span_facts import SpanInspector
from failpath.sampling.span_reading import read_message, watched_values
from failpath.sampling.stage import TailSamplingStage as SamplingStage
from failpath.signals.errors import ErrorReader
from tests.support.any_values import VALUES, requests
from tests.support.any_values import spans as spans_of
from tests.support.redaction_mix import request

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

WATCHED = ("tool.name", "note", "user.id", "gen_ai.prompt", "error.type", "service.name", "")


def _mix(seed: int) -> list[ExportTraceServiceRequest]:
    rng = random.Random(seed)
    requests = []
    for _ in range(6):
        message = request(rng)
        for resource_spans in message.resource_spans:
            for span in resource_spans.scope_spans[0].spans[::5]:
                span.attributes.append(KeyValue(key="error.type", value=AnyValue(string_value="Timeout")))
                span.attributes.append(KeyValue(key="", value=AnyValue(int_value=3)))
                span.attributes.add(key="note")  # no value: left out by both
            for span in resource_spans.scope_spans[0].spans:
                if rng.random() < 0.7:
                    span.parent_span_id = rng.randbytes(8)
                span.status.code = rng.choice([0, 0, 1, 2, 7, -3])  # type: ignore[assignment]  # open enum: unknown codes too
                span.start_time_unix_nano = rng.randrange(2**64)
                span.end_time_unix_nano = rng.choice([0, rng.randrange(2**64)])
        requests.append(message)
    return requests


def test_span_bytes_and_watched_attributes_match_the_upb_reading() -> None:
    checked = 0
    for message in _mix(5):
        data = message.SerializeToString()
        ranges = spans.span_ranges(data)
        assert ranges is not None
        every = [span for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans]
        assert len(ranges) == 2 * len(every)
        rows = spans.request_facts(data, WATCHED)
        assert rows is not None
        for index, span in enumerate(every):
            blob = data[ranges[index * 2] : ranges[index * 2 + 1]]
            assert blob == span.SerializeToString() == rows[2][index][1]
            assert rows[2][index][10] == watched_values(span.attributes, frozenset(WATCHED))
            checked += 1
    assert checked > 400


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*WATCHED, "other"]), VALUES), max_size=8))
def test_watched_values_of_every_kind_read_as_upb_reads_them(attributes: list[tuple[str, AnyValue]]) -> None:
    """Every kind of value, empty and unset ones too, keys repeated: the values (and their types: True is
    not 1, -0.0 is not 0.0, NaN is NaN) and their order must be the upb reading's."""
    span = Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s")
    span.attributes.extend(KeyValue(key=key, value=value) for key, value in attributes)
    message = ExportTraceServiceRequest()
    message.resource_spans.add().scope_spans.add().spans.append(span)
    rows = spans.request_facts(message.SerializeToString(), WATCHED)
    assert rows is not None
    assert repr(rows[2][0][10]) == repr(watched_values(span.attributes, frozenset(WATCHED)))


def test_watched_values_upb_would_read_otherwise_are_left_to_the_span() -> None:
    """An AnyValue with two members (upb keeps the last): the reader hands over None, and the sampler reads
    that span's watched values from its bytes."""
    value = _field(1, b"text") + b"\x18\x05"  # string_value, then int_value
    span = _field(1, b"\1" * 16) + _field(9, _field(1, b"note") + _field(2, value))
    data = _field(1, _field(2, _field(2, span)))
    rows = spans.request_facts(data, WATCHED)
    assert rows is not None and rows[2][0][10] is None
    inspector = SpanInspector([], ErrorReader(SamplingConfig().errors), WATCHED, [])
    assert inspector.inspect(rows[2][0][1], False, 0, "", False, {}, None)[2] == {"note": 5}


def test_request_rows_match_the_upb_reading() -> None:
    checked = 0
    for message in _mix(3):
        data = message.SerializeToString()
        assert spans.request_facts(data, WATCHED) == read_message(ExportTraceServiceRequest.FromString(data), WATCHED)
        checked += len(read_message(message)[2])
    assert checked > 400


_texts = st.text(max_size=12)
_requests = requests(
    spans_of(st.one_of(st.sampled_from(WATCHED), _texts)),
    st.builds(Resource, attributes=st.lists(st.builds(KeyValue, key=_texts), max_size=2)),
)


@settings(max_examples=300, deadline=None)
@given(_requests)
def test_generated_requests_read_as_upb_reads_them(message: ExportTraceServiceRequest) -> None:
    """Absent and empty resources and scopes, empty ids, every status code, times up to 2**64 - 1, watched
    values of every kind."""
    assert repr(spans.request_facts(message.SerializeToString(), WATCHED)) == repr(read_message(message, WATCHED))


def test_repeated_singular_fields_read_as_upb_merges_them() -> None:
    """Written twice, a span's name, parent, trace state and status code: the last one wins, as in upb; a
    resource or scope written twice is merged by upb, which a slice cannot give: None (the reference)."""
    span = (
        _field(1, b"\1" * 16)
        + _field(5, b"first")
        + _field(4, b"\2" * 8)
        + _field(15, b"\x18\x02")  # status code 2
        + _field(5, b"second")
        + _field(4, b"")  # no parent after all: a root
        + _field(15, _field(2, b"why"))  # a status without a code keeps the code before it
        + _field(3, b"a=1")
    )
    data = _field(1, _field(1, b"") + _field(2, _field(1, b"") + _field(2, span)))
    parsed = ExportTraceServiceRequest.FromString(data)
    rows = spans.request_facts(data)
    assert rows is not None
    expected = read_message(parsed)
    assert rows[0] == expected[0] and rows[1] == expected[1]
    (row,) = rows[2]
    assert Span.FromString(row[1]) == parsed.resource_spans[0].scope_spans[0].spans[0]
    assert row[:1] + row[2:] == expected[2][0][:1] + expected[2][0][2:]
    assert row[3:5] == (True, 2) and row[7] == "second"
    twice = _field(1, _field(1, _field(1, b"")) + _field(1, _field(1, b"")))
    assert spans.request_facts(twice) is None
    scope_twice = _field(1, _field(2, _field(1, b"") + _field(1, b"")))
    assert spans.request_facts(scope_twice) is None


def test_malformed_or_unexpected_request_bytes_give_none() -> None:
    data = _mix(2)[0].SerializeToString()
    assert spans.request_facts(data[:-3]) is None
    span_with_varint_trace_id = _field(1, _field(2, _field(2, b"\x08\x01")))
    assert spans.request_facts(span_with_varint_trace_id) is None
    bad_name = _field(1, _field(2, _field(2, _field(5, b"\xff"))))
    assert spans.request_facts(bad_name) is None
    # both not UTF-8 (the fuzzer's find: the second decode ran with the first one's exception set)
    bad_name_and_state = _field(1, _field(2, _field(2, _field(3, b"\xc3") + _field(5, b"\xff"))))
    assert spans.request_facts(bad_name_and_state) is None
    assert spans.request_facts(b"") == ([], [], [])


def test_malformed_span_bytes_give_none() -> None:
    blob = _mix(1)[0].resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    assert spans.request_facts(_field(1, _field(2, _field(2, blob[:-1])))) is None
    assert spans.span_ranges(b"\x0a\x05\x12") is None


class _Collect:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def consume(self, batch: Batch) -> None:
        self.payloads.append(batch.serialized())


async def _run(messages: list[ExportTraceServiceRequest], with_bytes: bool) -> list[bytes]:
    now = [0.0]
    sink = _Collect()
    config = SamplingConfig.model_validate(
        {"policies": [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 50}]}
    )
    stage = SamplingStage(config, sink, Metrics(), clock=lambda: now[0])
    for index, message in enumerate(messages):
        data = message.SerializeToString()
        count = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
        copy = ExportTraceServiceRequest.FromString(data)
        await stage.consume(Batch(copy, count, data if with_bytes else None))
        now[0] = index * 0.5
        await stage.tick()
    now[0] += 3600
    await stage.tick()
    return sink.payloads


def test_a_sampling_run_hands_on_the_same_bytes_with_or_without_them() -> None:
    messages = _mix(9)
    assert asyncio.run(_run(messages, True)) == asyncio.run(_run(messages, False))
    assert asyncio.run(_run(messages, True))
