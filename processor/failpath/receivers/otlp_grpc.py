"""OTLP/gRPC receiver: TraceService/Export on grpc.aio, sharing the event loop with everything else."""

import asyncio
import logging
from pathlib import Path
from typing import NoReturn

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from failpath.consumer import Refused
from failpath.listen import ListenError, connection_cap
from failpath.otlp.span_ids import checked_spans
from failpath.otlp.status import GRPC_STATUS_DETAILS_KEY, build_status
from failpath.receivers.config import GrpcReceiverConfig, ServerTLSConfig
from failpath.receivers.intake import SharedByReceivers

log = logging.getLogger("failpath.receiver")

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_TRANSPORT = "grpc"


def _server_credentials(tls: ServerTLSConfig) -> grpc.ServerCredentials:
    key, cert = Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes()
    client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials([(key, cert)], client_ca, require_client_auth=client_ca is not None)


class OtlpGrpcReceiver:
    def __init__(self, config: GrpcReceiverConfig, shared: SharedByReceivers) -> None:
        self._config = config
        self._shared = shared
        self._metrics = shared.metrics
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        # Raw bytes in: a malformed body must become INVALID_ARGUMENT, not grpc's INTERNAL.
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export, response_serializer=ExportTraceServiceResponse.SerializeToString
                )
            },
        )
        config = self._config
        cap = connection_cap(config.max_connections, self._shared.receivers)
        options: list[tuple[str, int]] = [
            ("grpc.max_receive_message_length", config.max_recv_msg_size),
            ("grpc.so_reuseport", 0),
            # Enforced before the handshake, so a flood of idle sockets is closed at once.
            ("grpc.max_allowed_incoming_connections", cap),
            ("grpc.max_concurrent_streams", config.max_concurrent_streams),
            ("grpc.server_handshake_timeout_ms", round(config.handshake_timeout * 1000)),
        ]
        for option, seconds in (
            ("grpc.max_connection_idle_ms", config.max_connection_idle),
            ("grpc.max_connection_age_ms", config.max_connection_age),
            ("grpc.max_connection_age_grace_ms", config.max_connection_age_grace),
        ):
            if seconds:
                options.append((option, round(seconds * 1000)))
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers((handler,))
        endpoint = config.endpoint
        try:
            if self._config.tls:
                self.port = server.add_secure_port(endpoint, _server_credentials(self._config.tls))
            else:
                self.port = server.add_insecure_port(endpoint)
        except RuntimeError:
            raise ListenError("otlp grpc receiver", endpoint, "address in use or not available") from None
        await server.start()
        self._server = server
        log.info(
            "otlp grpc receiver listening", extra={"endpoint": endpoint, "port": self.port, "max_connections": cap}
        )

    async def _abort(
        self,
        context: grpc.aio.ServicerContext[bytes, ExportTraceServiceResponse],
        code: grpc.StatusCode,
        reason: str,
        message: str,
        retry_after: float | None = None,
    ) -> NoReturn:
        self._metrics.requests_refused.labels(_TRANSPORT, reason).inc()
        status = build_status(code.value[0], message, retry_after)
        trailer = ((GRPC_STATUS_DETAILS_KEY, status.SerializeToString()),)
        await context.abort(code, message, trailing_metadata=trailer)
        raise AssertionError("context.abort returned")

    async def _export(
        self, body: bytes, context: grpc.aio.ServicerContext[bytes, ExportTraceServiceResponse]
    ) -> ExportTraceServiceResponse:
        metrics = self._metrics
        metrics.requests_received.labels(_TRANSPORT).inc()
        auth = self._shared.auth
        if auth.enabled:
            values = [str(value) for key, value in context.invocation_metadata() or () if key == "authorization"]
            refusal = auth.refusal(values)
            if refusal:
                await self._abort(context, grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", refusal)
        checked = checked_spans(body)
        request = None
        if checked is None:  # not vouched for on its bytes: parsed, which refuses what is malformed
            try:
                request = ExportTraceServiceRequest.FromString(body)
            except DecodeError as error:
                await self._abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "malformed",
                    f"not an ExportTraceServiceRequest: {error}",
                )
        in_flight = metrics.requests_in_flight.labels(_TRANSPORT)
        in_flight.inc()
        try:
            return await self._shared.intake.accept(request, _TRANSPORT, len(body), body, checked)
        except Refused as refused:
            await self._abort(
                context, grpc.StatusCode.UNAVAILABLE, refused.reason, str(refused), self._shared.retry_after
            )
        finally:
            in_flight.dec()

    async def shutdown(self, deadline: float) -> None:
        """Stop accepting; in-flight calls get until deadline to finish."""
        if self._server is not None:
            grace = max(0.0, deadline - asyncio.get_running_loop().time())
            await self._server.stop(grace)
