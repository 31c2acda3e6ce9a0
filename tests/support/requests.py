"""Hand-built OTLP requests for receiver tests (the SDK cannot send malformed or hostile ones)."""

import os
import zlib

import zstandard
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def build_request(spans: int = 3, trace_id: bytes | None = None, text: str = "hello") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="agent")))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "hand-built"
    trace = trace_id or os.urandom(16)
    for index in range(spans):
        span = scope_spans.spans.add()
        span.trace_id = trace
        span.span_id = os.urandom(8)
        span.name = f"step {index}"
        span.kind = Span.SPAN_KIND_INTERNAL
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + index
        span.end_time_unix_nano = 1_700_000_000_500_000_000 + index
        span.attributes.append(KeyValue(key="text", value=AnyValue(string_value=text)))
    return request


def compression_bomb(encoding: str, inflated_size: int) -> bytes:
    """inflated_size zero bytes, compressed in 1 MiB steps so the test itself never holds them."""
    chunk = bytes(1 << 20)
    if encoding == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        parts = [compressor.compress(chunk) for _ in range(inflated_size >> 20)]
        return b"".join(parts) + compressor.flush()
    stream = zstandard.ZstdCompressor(level=3).compressobj()
    parts = [stream.compress(chunk) for _ in range(inflated_size >> 20)]
    return b"".join(parts) + stream.flush()
