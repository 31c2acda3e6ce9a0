"""The sampler's native per-span reading (otlp/_spans.c) against the reference (upb messages): each span's
bytes are the slice of the request the reader names, its watched attributes the ones the upb walk finds,
and a sampling run fed bytes beside the request hands on exactly what it hands on from the request alone."""

import asyncio
import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

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
