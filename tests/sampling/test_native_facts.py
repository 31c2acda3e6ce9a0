"""The sampler's native per-span reading (otlp/_spans.c) against the reference (upb messages): each span's
bytes are the slice of the request the reader names, its watched attributes the ones the upb walk finds,
and a sampling run fed bytes beside the request hands on exactly what it hands on from the request alone."""

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.sampling.config import SamplingConfig
from failpath.sampling.span_facts import SpanInspector
from failpath.sampling.stage import TailSamplingStage as SamplingStage
from failpath.signals.errors import ErrorReader
from tests.support.redaction_mix import request

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

WATCHED = ["tool.name", "note", "user.id", "gen_ai.prompt", "error.type", "service.name", ""]


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
        requests.append(message)
    return requests


def test_span_bytes_and_watched_attributes_match_the_upb_reading() -> None:
    inspector = SpanInspector([], ErrorReader(SamplingConfig().errors), WATCHED, [])
    checked = 0
    for message in _mix(5):
        data = message.SerializeToString()
        ranges = spans.span_ranges(data)
        assert ranges is not None
        every = [span for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans]
        assert len(ranges) == 2 * len(every)
        for index, span in enumerate(every):
            blob = data[ranges[2 * index] : ranges[2 * index + 1]]
            assert blob == span.SerializeToString()
            assert inspector._watched_in(blob) == inspector._watched_values(span.attributes)
            checked += 1
    assert checked > 400


_scalars = st.one_of(
    st.text(max_size=20).map(lambda text: AnyValue(string_value=text)),
    st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda number: AnyValue(int_value=number)),
    st.floats().map(lambda number: AnyValue(double_value=number)),  # NaN, infinities and -0.0 too
    st.binary(max_size=8).map(lambda raw: AnyValue(bytes_value=raw)),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3).map(
        lambda items: AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=item) for item in items]))
    ),
    st.just(AnyValue()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*WATCHED, "other"]), _scalars), max_size=8))
def test_watched_values_of_every_kind_read_as_upb_reads_them(attributes: list[tuple[str, AnyValue]]) -> None:
    """Every kind of value, empty and unset ones too: the values (and their types: True is not 1, -0.0 is
    not 0.0, NaN is NaN) must be the upb reading's."""
    inspector = SpanInspector([], ErrorReader(SamplingConfig().errors), WATCHED, [])
    span = Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s")
    span.attributes.extend(KeyValue(key=key, value=value) for key, value in attributes)
    native = inspector._watched_in(span.SerializeToString())
    assert native is not None
    assert repr(native) == repr(inspector._watched_values(span.attributes))


def test_malformed_span_bytes_give_none() -> None:
    blob = _mix(1)[0].resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    assert spans.watched_attributes(blob[:-1], (b"note",)) is None
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
