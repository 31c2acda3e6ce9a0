"""The OTLP/gRPC receiver's contract: status codes, size limit, partial success, compression."""

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def export(
    endpoint: str, body: bytes, compression: grpc.Compression = grpc.Compression.NoCompression
) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", -1)]) as channel:
        call = channel.unary_unary(EXPORT, None, ExportTraceServiceResponse.FromString)
        response: ExportTraceServiceResponse = call(body, timeout=10, compression=compression)
        return response


@pytest.fixture
def failpath(tmp_path: Path, sink: OtlpSink) -> Iterator[RunningFailpath]:
    config = make_config(
        tmp_path,
        {
            "receivers": {"otlp": {"grpc": {"max_recv_msg_size": "64KiB"}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    with RunningFailpath(config) as running:
        yield running


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_export_is_forwarded(failpath: RunningFailpath, sink: OtlpSink, compression: grpc.Compression) -> None:
    sent = build_request(spans=5)
    response = export(failpath.grpc_endpoint, sent.SerializeToString(), compression)
    assert not response.HasField("partial_success")
    sink.wait_for_spans(5)
    assert sink.requests == [sent]


def test_malformed_message_is_invalid_argument(failpath: RunningFailpath) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        export(failpath.grpc_endpoint, b"\xff\xff\xff\xff garbage")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in (caught.value.details() or "")


def test_oversized_message_is_resource_exhausted(failpath: RunningFailpath, sink: OtlpSink) -> None:
    big = build_request(spans=1, text="x" * 70_000).SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        export(failpath.grpc_endpoint, big)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_oversized_after_decompression_is_resource_exhausted(failpath: RunningFailpath) -> None:
    # Compresses far below 64 KiB on the wire; the limit applies to the decompressed message.
    big = build_request(spans=1, text="a" * 500_000).SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        export(failpath.grpc_endpoint, big, grpc.Compression.Gzip)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_invalid_ids_give_partial_success(failpath: RunningFailpath, sink: OtlpSink) -> None:
    sent = build_request(spans=4)
    spans = sent.resource_spans[0].scope_spans[0].spans
    spans[0].span_id = b"1234567"
    spans[2].parent_span_id = b"123"
    response = export(failpath.grpc_endpoint, sent.SerializeToString())
    assert response.partial_success.rejected_spans == 2
    assert "span_id must be 8 bytes" in response.partial_success.error_message
    assert "parent_span_id" in response.partial_success.error_message
    sink.wait_for_spans(2)
    assert [span.name for span in sink.spans()] == ["step 1", "step 3"]
