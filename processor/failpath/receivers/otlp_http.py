"""OTLP/HTTP receiver: POST /v1/traces with protobuf or JSON bodies, gzip/deflate/zstd, the OTLP error contract."""

import asyncio
import logging

from aiohttp import web
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Refused
from failpath.http_server import HttpService, ServerLimits, serve
from failpath.listen import bind, connection_cap, server_tls
from failpath.otlp import json_codec
from failpath.otlp.compression import BadEncoding, TooLarge, decompress
from failpath.otlp.span_ids import checked_spans
from failpath.otlp.status import build_status, code_pb2
from failpath.receivers.config import HttpReceiverConfig
from failpath.receivers.intake import SharedByReceivers

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
    def __init__(self, config: HttpReceiverConfig, shared: SharedByReceivers) -> None:
        self._config = config
        self._shared = shared
        self._metrics = shared.metrics
        self._service: HttpService | None = None
        self.port = 0

    async def start(self) -> None:
        config = self._config
        sock = bind("otlp http receiver", config.endpoint)
        self.port = sock.getsockname()[1]
        tls = config.tls
        context = server_tls(tls.cert_file, tls.key_file, tls.client_ca_file) if tls else None
        cap = connection_cap(config.max_connections, self._shared.receivers)
        limits = ServerLimits(cap, config.read_header_timeout, config.idle_timeout)
        refused = self._metrics.connections_refused
        self._service = await serve(
            "otlp http receiver",
            self._route,
            sock,
            limits,
            lambda reason: refused.labels(_TRANSPORT, reason).inc(),
            context,
        )
        log.info(
            "otlp http receiver listening",
            extra={"endpoint": config.endpoint, "port": self.port, "max_connections": cap},
        )

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path != self._config.traces_path:
            self._metrics.requests_refused.labels(_TRANSPORT, "not_found").inc()
            body = json_codec.encode(
                build_status(code_pb2.NOT_FOUND, f"no such path; OTLP traces go to {self._config.traces_path}")
            )
            return web.Response(status=404, body=body, content_type=_JSON)
        return await self._handle(request)

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        """The raw body within read_timeout, refusing early when it cannot fit the limit even before
        decompression."""
        limit = self._config.max_request_body_size
        if request.content_length is not None and request.content_length > limit:
            raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", f"body exceeds {limit} bytes")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self._config.read_timeout):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", f"body exceeds {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise _Reply(
                408,
                code_pb2.DEADLINE_EXCEEDED,
                "read_timeout",
                f"body not received within {self._config.read_timeout}s",
            ) from None
        return b"".join(chunks)

    async def _decode(
        self, request: web.BaseRequest, content_type: str
    ) -> tuple[ExportTraceServiceRequest | None, int, bytes | None, int | None]:
        """The request, the size of the decompressed body it came in, that body when it is protobuf, and its
        span count when checked_spans() vouched for it (the request is then None: not parsed here)."""
        raw = await self._read_body(request)
        try:
            body = decompress(raw, request.headers.get("Content-Encoding", ""), self._config.max_request_body_size)
        except TooLarge as error:
            raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, "too_large", str(error)) from None
        except BadEncoding as error:
            raise _Reply(400, code_pb2.INVALID_ARGUMENT, "bad_encoding", str(error)) from None
        if content_type == _PROTOBUF:
            checked = checked_spans(body)
            if checked is not None:  # vouched for on its bytes: not parsed here
                return None, len(body), body, checked
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
        return message, len(body), body if content_type == _PROTOBUF else None, None

    async def _handle(self, request: web.BaseRequest) -> web.Response:
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
            refusal = self._shared.auth.refusal(request.headers.getall("Authorization", []))
            if refusal:
                headers["WWW-Authenticate"] = "Bearer"
                raise _Reply(401, code_pb2.UNAUTHENTICATED, "unauthenticated", refusal)
            if request.content_type not in (_PROTOBUF, _JSON):
                raise _Reply(
                    415,
                    code_pb2.INVALID_ARGUMENT,
                    "content_type",
                    f"unsupported Content-Type {request.content_type!r}; use {_PROTOBUF} or {_JSON}",
                )
            message, size, body, checked = await self._decode(request, content_type)
            try:
                response = await self._shared.intake.accept(message, _TRANSPORT, size, body, checked)
            except Refused as refused:
                headers["Retry-After"] = str(max(1, round(self._shared.retry_after)))
                raise _Reply(503, code_pb2.UNAVAILABLE, refused.reason, str(refused)) from None
            return web.Response(body=_encode(response, content_type), content_type=content_type)
        except _Reply as reply:
            metrics.requests_refused.labels(_TRANSPORT, reply.reason).inc()
            body = _encode(build_status(reply.code, str(reply)), content_type)
            return web.Response(status=reply.http_status, body=body, content_type=content_type, headers=headers)
        except Exception:
            # A failpath bug: answered with a status, logged by type and place (never the request).
            log.exception("error handling an OTLP/HTTP request")
            metrics.requests_refused.labels(_TRANSPORT, "internal_error").inc()
            body = _encode(build_status(code_pb2.INTERNAL, "internal error"), content_type)
            return web.Response(status=500, body=body, content_type=content_type)
        finally:
            in_flight.dec()

    async def shutdown(self, deadline: float) -> None:
        """Stop listening; requests in progress finish (they are short: the pipeline never blocks them)."""
        if self._service is not None:
            await self._service.close()
