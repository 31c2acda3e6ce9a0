"""OTLP/gRPC transport: sends already-serialized requests as raw bytes (no re-encode)."""

from pathlib import Path

import grpc
from google.rpc import error_details_pb2, status_pb2

from failpath.exporters.config import OtlpExporterConfig
from failpath.exporters.sender import SendError, rejected_spans
from failpath.otlp.status import GRPC_STATUS_DETAILS_KEY

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

# The OTLP spec's retryable gRPC codes.
_RETRYABLE = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def _retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    trailer: tuple[tuple[str, str | bytes], ...] = tuple(error.trailing_metadata() or ())  # type: ignore[arg-type]
    for key, value in trailer:
        if key == GRPC_STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return float(info.retry_delay.ToNanoseconds() / 1e9)
    return None


class OtlpGrpcSender:
    def __init__(self, config: OtlpExporterConfig) -> None:
        self.name = config.name
        self._config = config
        self._metadata = tuple((key.lower(), value) for key, value in config.headers.items())
        self._compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] | None = None

    def _credentials(self) -> grpc.ChannelCredentials:
        tls = self._config.tls

        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(read(tls.ca_file), read(tls.key_file), read(tls.cert_file))

    async def start(self) -> None:
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", 4 << 20)]
        if self._config.tls.enabled:
            self._channel = grpc.aio.secure_channel(self._config.endpoint, self._credentials(), options)
        else:
            self._channel = grpc.aio.insecure_channel(self._config.endpoint, options)
        # Raw bytes both ways: the response is parsed here, so a garbled one cannot fail a delivered batch.
        self._call = self._channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)

    async def send(self, payload: bytes, spans: int) -> int:
        assert self._call is not None, "send before start"
        try:
            response = await self._call(
                payload,
                timeout=self._config.timeout,
                metadata=self._metadata,
                compression=self._compression,
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            raise SendError(
                code.name.lower(),
                f"backend answered {code.name}: {error.details()}",
                retryable=code in _RETRYABLE,
                retry_after=_retry_delay(error),
            ) from None
        return rejected_spans(response, self.name)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
