"""OTLP/HTTP receiver: POST /v1/traces with protobuf or JSON bodies, gzip/deflate/zstd, the OTLP error contract."""

import logging

from aiohttp import web
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Refused
from failpath.listen import bind, server_tls
from failpath.metrics import Metrics
from failpath.otlp import json_codec
from failpath.otlp.compression import BadEncoding, TooLarge, decompress
from failpath.otlp.status import build_status, code_pb2
from failpath.receivers.auth import BearerCheck
from failpath.receivers.config import HttpReceiver
from failpath.receivers.intake import Intake

log = logging.getLogger("failpath.receiver")

_TRANSPORT = "http"
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"


class _Reply(Exception):
    """An error answer: HTTP status, google.rpc code, reason label, message."""

    def __init__(self, http_status: int, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.reason = reason


def _encode(message: Message, content_type: str) -> bytes:
    """The response in the request's encoding."""
    return json_codec.encode(message) if content_type == _JSON else message.SerializeToString()


class OtlpHttpReceiver:
    def __init__(
        self, config: HttpReceiver, auth: BearerCheck, intake: Intake, retry_after: float, metrics: Metrics
    ) -> None:
        self._config = config
        self._auth = auth
        self._intake = intake
        self._retry_after = retry_after
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", self._config.traces_path, self._handle)
        # We decompress ourselves, with a cap on the output (aiohttp would inflate without one).
        runner = web.AppRunner(app, auto_decompress=False, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        sock = bind("otlp http receiver", self._config.endpoint)
        self.port = sock.getsockname()[1]
        tls = self._config.tls
        context = server_tls(tls.cert_file, tls.key_file, tls.client_ca_file) if tls else None
        await web.SockSite(runner, sock, ssl_context=context).start()
        self._runner = runner
        log.info("otlp http receiver listening", extra={"endpoint": self._config.endpoint, "port": self.port})

    async def _read_body(self, request: web.Request) -> bytes:
        """The raw body, refusing early when it cannot fit the limit even before decompression."""
        limit = self._config.max_request_body_size
        if request.content_length is not None and request.content_length > limit:
            raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", f"body exceeds {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", f"body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _decode(self, request: web.Request, content_type: str) -> ExportTraceServiceRequest:
        raw = await self._read_body(request)
        try:
            body = decompress(raw, request.headers.get("Content-Encoding", ""), self._config.max_request_body_size)
        except TooLarge as error:
            raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", str(error)) from None
        except BadEncoding as error:
            raise _Reply(400, code_pb2.INVALID_ARGUMENT, "bad_encoding", str(error)) from None
        message = ExportTraceServiceRequest()
        try:
            if content_type == _JSON:
                json_codec.decode_request(body, message)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_codec.JsonDecodeError) as error:
            raise _Reply(
                400, code_pb2.INVALID_ARGUMENT, "malformed", f"not an ExportTraceServiceRequest: {error}"
            ) from None
        return message

    async def _handle(self, request: web.Request) -> web.Response:
        metrics = self._metrics
        metrics.requests_received.labels(_TRANSPORT).inc()
        content_type = request.content_type if request.content_type in (_PROTOBUF, _JSON) else _JSON
        in_flight = metrics.requests_in_flight.labels(_TRANSPORT)
        in_flight.inc()
        headers: dict[str, str] = {}
        try:
            if request.method != "POST":
                headers["Allow"] = "POST"
                raise _Reply(405, code_pb2.UNIMPLEMENTED, "method", f"method {request.method} not allowed; use POST")
            if not self._auth.allows(request.headers.get("Authorization")):
                headers["WWW-Authenticate"] = "Bearer"
                raise _Reply(401, code_pb2.UNAUTHENTICATED, "unauthenticated", "missing or wrong bearer token")
            if request.content_type not in (_PROTOBUF, _JSON):
                raise _Reply(
                    415,
                    code_pb2.INVALID_ARGUMENT,
                    "content_type",
                    f"unsupported Content-Type {request.content_type!r}; use {_PROTOBUF} or {_JSON}",
                )
            message = await self._decode(request, content_type)
            try:
                response = await self._intake.accept(message, _TRANSPORT)
            except Refused as refused:
                headers["Retry-After"] = str(max(1, round(self._retry_after)))
                raise _Reply(503, code_pb2.UNAVAILABLE, refused.reason, str(refused)) from None
            return web.Response(body=_encode(response, content_type), content_type=content_type)
        except _Reply as reply:
            metrics.requests_refused.labels(_TRANSPORT, reply.reason).inc()
            body = _encode(build_status(reply.code, str(reply)), content_type)
            return web.Response(status=reply.http_status, body=body, content_type=content_type, headers=headers)
        finally:
            in_flight.dec()

    async def shutdown(self, deadline: float) -> None:
        """Stop listening; requests in progress finish (they are short: the pipeline never blocks them)."""
        if self._runner is not None:
            await self._runner.cleanup()
