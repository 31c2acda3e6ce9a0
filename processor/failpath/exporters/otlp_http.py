"""OTLP/HTTP (protobuf) transport."""

import asyncio
import ssl
import zlib

import aiohttp
from google.rpc import status_pb2

from failpath.exporters.config import OtlpExporterConfig
from failpath.exporters.sender import SendError, rejected_spans

# The OTLP spec's retryable HTTP statuses.
_RETRYABLE = {429, 502, 503, 504}
_PROTOBUF = "application/x-protobuf"


def _gzip(payload: bytes) -> bytes:
    # Level 1: most of the size win at a fraction of the CPU of the default level.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(payload) + compressor.flush()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # An HTTP-date: fall back to our own backoff.


def _error_message(body: bytes, content_type: str) -> str:
    if content_type.startswith(_PROTOBUF):
        try:
            return str(status_pb2.Status.FromString(body).message)
        except Exception:  # a garbled error body must not hide the status code
            return "(unreadable error body)"
    return body[:200].decode("utf-8", "replace")


class OtlpHttpSender:
    def __init__(self, config: OtlpExporterConfig) -> None:
        self.name = config.name
        self._config = config
        endpoint = config.endpoint.rstrip("/")
        self._url = endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
        self._headers = {**config.headers, "Content-Type": _PROTOBUF}
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        tls = self._config.tls
        if not tls.enabled:
            return False
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        return context

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.timeout),
            connector=aiohttp.TCPConnector(ssl=self._ssl()),
        )

    async def send(self, payload: bytes, spans: int) -> int:
        assert self._session is not None, "send before start"
        body = await asyncio.to_thread(_gzip, payload) if self._config.compression == "gzip" else payload
        try:
            async with self._session.post(self._url, data=body, headers=self._headers) as response:
                content = await response.read()
                status = response.status
                if status == 200:
                    if not response.content_type.startswith(_PROTOBUF):
                        return 0  # Some backends answer 200 with an empty or JSON body.
                    return rejected_spans(content, self.name)
                message = _error_message(content, response.content_type)
                raise SendError(
                    f"http_{status}",
                    f"backend answered HTTP {status}: {message}",
                    retryable=status in _RETRYABLE,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendError("unreachable", f"{type(error).__name__}: {error}", retryable=True) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
