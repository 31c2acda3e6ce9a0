"""Nothing a client or a backend sends stops an exporter: poison spans reaching every exporter, garbled replies
from a backend. (What the queue does with failing sends: tests/exporters/test_queue.py.)"""

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp import json_codec
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.http import request
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# Valid OTLP (fixed64), beyond SQLite's signed 64-bit INTEGER.
FAR_START = (1 << 63) + 12_345
FAR_END = (1 << 64) - 1


def _wait(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _far_future_request() -> ExportTraceServiceRequest:
    message = build_request(spans=2)
    spans = message.resource_spans[0].scope_spans[0].spans
    spans[1].parent_span_id = spans[0].span_id
    for span in spans:
        span.start_time_unix_nano = FAR_START
        span.end_time_unix_nano = FAR_END
    spans[1].status.code = Status.STATUS_CODE_ERROR  # the trace is kept and gets a packet
    return message


def _send(failpath: RunningFailpath, transport: str, message: ExportTraceServiceRequest) -> None:
    if transport == "grpc":
        with grpc.insecure_channel(failpath.grpc_endpoint) as channel:
            channel.unary_unary(EXPORT, None, None)(message.SerializeToString(), timeout=10)
    elif transport == "http":
        assert request(failpath.http_url, message.SerializeToString(), PROTOBUF)[0] == 200
    else:
        assert request(failpath.http_url, json_codec.encode(message), JSON)[0] == 200


@pytest.mark.parametrize("transport", ["grpc", "http", "json"])
def test_far_future_times_reach_every_exporter(tmp_path: Path, sink: OtlpSink, transport: str) -> None:
    config = make_config(
        tmp_path,
        {
            "redaction": {"enabled": True},
            "sampling": {"enabled": True, "decision_wait": "50ms"},
            "exporters": {
                "otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")],
                "jsonl": {"enabled": True},
            },
        },
    )
    poison = _far_future_request()
    after = build_request(spans=3)
    after.resource_spans[0].scope_spans[0].spans[0].status.code = Status.STATUS_CODE_ERROR  # kept too
    with RunningFailpath(config) as failpath:
        _send(failpath, transport, poison)
        _send(failpath, transport, after)
        assert len(sink.wait_for_spans(5)) == 5
        for exporter in ("sink", "store", "jsonl"):
            _wait(lambda e=exporter: failpath.metric("failpath_exporter_spans_exported_total", exporter=e) == 5)
            assert failpath.metric_sum("failpath_exporter_spans_dropped_total", exporter=exporter) == 0
        assert request(f"{failpath.admin_url}/readyz", method="GET")[0] == 200
        _wait(lambda: failpath.metric("failpath_packets_written_total", bucket="unknown") == 2)
    far = {s.span_id for s in poison.resource_spans[0].scope_spans[0].spans}
    # The backend got the exact times.
    assert {(s.start_time_unix_nano, s.end_time_unix_nano) for s in sink.spans() if s.span_id in far} == {
        (FAR_START, FAR_END)
    }
    # The store holds the exact span; its time columns saturate instead of failing the write.
    db = sqlite3.connect(tmp_path / "spans.db")
    rows = db.execute("SELECT span_id, start_ns, end_ns, body FROM spans").fetchall()
    assert len(rows) == 5
    for span_id, start_ns, end_ns, body in rows:
        if span_id in far:
            assert (start_ns, end_ns) == ((1 << 63) - 1, (1 << 63) - 1)
            assert Span.FromString(body).end_time_unix_nano == FAR_END
    # So does the JSONL file (uint64 as a decimal string, as OTLP/JSON says).
    text = (tmp_path / "spans.jsonl").read_text()
    assert f'"endTimeUnixNano":"{FAR_END}"' in text


class _GarbageReplies:
    """A backend that takes every batch and answers 200 (HTTP) or OK (gRPC) with bytes that are not a
    response message."""

    GARBAGE = b"\xff\xff\xff\x07not a protobuf"

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()
        garbage = self.GARBAGE

        def count() -> None:
            with self._lock:
                self.received += 1

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                count()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(garbage)))
                self.end_headers()
                self.wfile.write(garbage)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

        def export(body: bytes, context: grpc.ServicerContext) -> bytes:
            count()
            return garbage

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
        self.grpc_port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.grpc.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(0).wait()


@pytest.fixture
def garbage() -> Iterator[_GarbageReplies]:
    backend = _GarbageReplies()
    yield backend
    backend.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_garbled_success_replies_count_as_delivered(tmp_path: Path, garbage: _GarbageReplies, protocol: str) -> None:
    endpoint = (
        f"127.0.0.1:{garbage.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{garbage.http.server_port}"
    )
    # One request per send, so each garbled reply meets a worker; more requests than workers.
    exporter = otlp_exporter("odd", endpoint, protocol, queue={"consumers": 4, "batch_max_spans": 2})
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}}})
    with RunningFailpath(config) as failpath:
        for _ in range(12):
            assert request(failpath.http_url, build_request(spans=2).SerializeToString(), PROTOBUF)[0] == 200
            time.sleep(0.01)
        _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="odd") == 24)
        assert garbage.received == 12
        assert request(f"{failpath.admin_url}/readyz", method="GET")[0] == 200
