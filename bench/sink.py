"""Benchmark sink: OTLP/gRPC TraceService/Export that parses each request and counts spans.

Raw-bytes generic handler on grpc.aio. Keeps its counters as JSON in --report (rewritten every 100 ms).
"""

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from trace_server import start_trace_server

_EMPTY = ExportTraceServiceResponse().SerializeToString()


async def main(port: int, report: Path) -> None:
    counters = {"requests": 0, "spans": 0, "bytes": 0}

    async def export(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        counters["requests"] += 1
        counters["bytes"] += len(body)
        counters["spans"] += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return _EMPTY

    server, stop = await start_trace_server(port, grpc.unary_unary_rpc_method_handler(export))
    # The report is rewritten every 100 ms so the benchmark can watch delivery live.
    while not stop.is_set():
        _write(report, counters)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    await server.stop(0)
    _write(report, counters)


def _write(report: Path, counters: dict[str, int]) -> None:
    partial = report.with_suffix(".tmp")
    partial.write_text(json.dumps(counters))
    partial.replace(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.report))
