"""Baseline: the simplest useful Python OTLP proxy. grpc.aio in, parse, re-serialize, grpc.aio out.

Answers only after the backend answered, so a slow backend slows the client (no queue, no retry).
"""

import argparse
import asyncio

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from trace_server import start_trace_server

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


async def main(port: int, upstream: str) -> None:
    channel = grpc.aio.insecure_channel(upstream, options=[("grpc.max_send_message_length", -1)])
    forward = channel.unary_unary(
        METHOD,
        request_serializer=ExportTraceServiceRequest.SerializeToString,
        response_deserializer=ExportTraceServiceResponse.FromString,
    )

    async def export(
        request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> ExportTraceServiceResponse:
        response: ExportTraceServiceResponse = await forward(request)
        return response

    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=ExportTraceServiceRequest.FromString,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server, stop = await start_trace_server(port, handler)
    await stop.wait()
    await server.stop(1)
    await channel.close(None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.upstream))
