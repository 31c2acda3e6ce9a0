"""The grpc.aio TraceService server shared by the benchmark's sink and pass-through."""

from __future__ import annotations

import asyncio
import signal

import grpc


async def start_trace_server(
    port: int, handler: grpc.RpcMethodHandler[object, object]
) -> tuple[grpc.aio.Server, asyncio.Event]:
    """Serve TraceService/Export on 127.0.0.1:port; the returned event is set on SIGTERM."""
    service = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
    )
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((service,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    return server, stop
