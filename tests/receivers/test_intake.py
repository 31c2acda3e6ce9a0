"""The intake hands a protobuf body on beside the request parsed from it, so a stage that works on bytes
(the native redaction walk, the spool) reads them without serializing the request again; never once a span
was removed, and never after a stage has taken the request to change it."""

import asyncio

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.receivers.intake import Intake


class _Hold:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def _request(*span_ids: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for span_id in span_ids:
        spans.add(trace_id=b"\1" * 16, span_id=span_id, name="step")
    return request


def test_the_body_travels_beside_the_request_until_a_stage_takes_the_request() -> None:
    hold = _Hold()
    body = _request(b"\2" * 8).SerializeToString()
    asyncio.run(Intake(hold, Metrics()).accept(ExportTraceServiceRequest.FromString(body), "grpc", len(body), body))
    batch = hold.batches[0]
    assert batch.serialized() is body
    batch.request.resource_spans[0].scope_spans[0].spans[0].name = "changed"
    assert b"changed" in batch.serialized()


def test_no_body_once_a_span_was_rejected() -> None:
    hold = _Hold()
    body = _request(b"\2" * 8, b"\0" * 8).SerializeToString()  # the second span's id is invalid
    asyncio.run(Intake(hold, Metrics()).accept(ExportTraceServiceRequest.FromString(body), "http", len(body), body))
    batch = hold.batches[0]
    assert batch.spans == 1
    assert batch.serialized() != body
    assert len(ExportTraceServiceRequest.FromString(batch.serialized()).resource_spans[0].scope_spans[0].spans) == 1
