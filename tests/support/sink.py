"""A real OTLP backend stand-in for tests: gRPC TraceService/Export and HTTP POST /v1/traces.

It records every request it accepts, and can be told to answer with an error a number of times.
"""

import gzip
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class OtlpSink:
    def __init__(self, grpc_port: int = 0) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.arrivals: list[float] = []  # time.monotonic() of each recorded request
        self.metadata: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        # (grpc code, http status, remaining count): answer with this error while remaining > 0.
        self._failure: tuple[grpc.StatusCode, int, int] | None = None
        self.failed_attempts = 0
        # Seconds sent as Retry-After with HTTP failures (None: no header).
        self.retry_after: int | None = None
        self.attempt_times: list[float] = []
        self.delay = 0.0
        self._grpc_port = grpc_port
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    # -- behaviour ----------------------------------------------------------------------------
    def fail(self, code: grpc.StatusCode, http_status: int, times: int) -> None:
        with self._lock:
            self._failure = (code, http_status, times)

    def _take_failure(self) -> tuple[grpc.StatusCode, int] | None:
        with self._lock:
            if self._failure is None or self._failure[2] <= 0:
                return None
            code, status, times = self._failure
            self._failure = (code, status, times - 1)
            self.failed_attempts += 1
            return code, status

    def _record(self, request: ExportTraceServiceRequest, metadata: dict[str, str]) -> None:
        with self._arrived:
            self.requests.append(request)
            self.metadata.append(metadata)
            self.arrivals.append(time.monotonic())
            self._arrived.notify_all()

    # -- reading ------------------------------------------------------------------------------
    def spans(self) -> list[Span]:
        with self._lock:
            return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def span_count(self) -> int:
        return len(self.spans())

    def wait_for_spans(self, count: int, timeout: float = 15.0) -> list[Span]:
        with self._arrived:
            self._arrived.wait_for(
                lambda: (
                    sum(len(ss.spans) for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans)
                    >= count
                ),
                timeout,
            )
        return self.spans()

    # -- servers ------------------------------------------------------------------------------
    def _grpc_export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        failure = self._take_failure()
        if failure:
            context.abort(failure[0], "sink told to fail")
        if self.delay:
            threading.Event().wait(self.delay)
        metadata = {key: str(value) for key, value in context.invocation_metadata()}
        self._record(ExportTraceServiceRequest.FromString(body), metadata)
        return ExportTraceServiceResponse().SerializeToString()

    def start_grpc(self) -> int:
        handler = grpc.method_handlers_generic_handler(
            _SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._grpc_export)}
        )
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler])
        self.grpc_port = self._grpc.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
        self._grpc.start()
        return self.grpc_port

    def start_http(self) -> int:
        return self.start_http_on(0)

    def start_http_on(self, port: int) -> int:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.attempt_times.append(time.monotonic())
                failure = sink._take_failure()
                if failure:
                    self.send_response(failure[1])
                    if sink.retry_after is not None:
                        self.send_header("Retry-After", str(sink.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink._record(ExportTraceServiceRequest.FromString(body), dict(self.headers.items()))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.http_port = self._http.server_address[1]
        return self.http_port

    def stop(self) -> None:
        if self._grpc:
            self._grpc.stop(0).wait()
        if self._http:
            self._http.shutdown()
            self._http.server_close()
