"""aiohttp serving with the limits a server facing careless or hostile clients needs (the OTLP/HTTP
receiver and the admin endpoint both use it).

- A connection cap: past it, a new connection is answered 503 + Retry-After and closed at once, so file
  descriptors stay free for everything else in the process (the admin port, the store, exporters). The
  accept loop is failpath's own (asyncio's accepts up to 128 sockets before it closes any, and on
  EMFILE logs a traceback per attempt); out of descriptors, it pauses accepting for a moment.
- read_header_timeout: a request's headers must be in within this time of the connection opening, or of
  its first byte after the previous response (slow-header attacks hold connections forever otherwise).
- idle_timeout: a keep-alive connection without a request is closed after this.
- aiohttp's own error answers (a header over 8 KiB, a broken request line) quote the offending bytes;
  here they are a google.rpc.Status in JSON with a fixed message, and nothing of the request is logged.
"""

import asyncio
import contextlib
import errno
import functools
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("failpath.http")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# Raw, because the connection is refused before any request is read.
_BUSY_BODY = b'{"code":14,"message":"too many connections; retry later"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_connections: int
    read_header_timeout: float
    idle_timeout: float


class _Pool:
    """Open connections of one server (counted from accept, TLS handshakes included), and what its
    limits turned away."""

    def __init__(self, name: str, limits: ServerLimits, on_refusal: Callable[[str], None]) -> None:
        self.name = name
        self.limits = limits
        self.open = 0
        self.on_refusal = on_refusal

    @property
    def full(self) -> bool:
        return self.open >= self.limits.max_connections


def _error_answer(status: int, exc: BaseException | None) -> tuple[int, str]:
    """A fixed message per kind of malformed request (never the request's own bytes)."""
    if isinstance(exc, http_exceptions.LineTooLong):
        return 431, "a request line or header is too long"
    if isinstance(exc, http_exceptions.BadHttpMessage):
        return 400, "malformed HTTP request"
    if status >= 500:
        return 500, "internal error"
    return status, "bad request"


class _Connection(RequestHandler):
    """One client connection: counted against the cap, with a deadline for request headers."""

    def __init__(self, manager: web.Server, pool: _Pool, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._pool = pool
        self._idle = True
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._pool.open -= 1
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._idle and self._header_timer is None:
            self._arm_header_timer()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def request_started(self) -> None:
        self._idle = False
        self._disarm_header_timer()

    def request_finished(self) -> None:
        self._idle = True

    def _arm_header_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(self._pool.limits.read_header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._pool.on_refusal("header_timeout")
        self.force_close()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; the connection is closed")
        status, text = _error_answer(status, exc)
        if status >= 500:
            log.error("error handling an HTTP request", exc_info=exc, extra={"server": self._pool.name})
        self._pool.on_refusal("malformed_http" if status < 500 else "internal_error")
        body = json.dumps({"code": 13 if status >= 500 else 3, "message": text})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


class _Server(web.Server):
    def __init__(self, handler: Handler, pool: _Pool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._pool = pool

    def __call__(self) -> RequestHandler:
        return _Connection(self, self._pool, loop=self._loop, **self._kwargs)


def _tracked(handler: Handler) -> Handler:
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        connection = cast(_Connection, request.protocol)
        connection.request_started()
        try:
            return await handler(request)
        finally:
            connection.request_finished()

    return handle


class _Acceptor:
    """Accepts on a listening socket, refuses past the cap synchronously, hands the rest to aiohttp."""

    # Accepts per wake-up: the event loop serves everything else in between.
    _BATCH = 32
    _PAUSE_WHEN_OUT_OF_FDS = 0.1

    def __init__(self, sock: socket.socket, server: _Server, pool: _Pool, ssl_context: ssl.SSLContext | None) -> None:
        self._sock = sock
        self._server = server
        self._pool = pool
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._handshakes: set[asyncio.Task[Any]] = set()
        self._closed = False
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        pool = self._pool
        for _ in range(self._BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # The kernel keeps queueing connections meanwhile; they are taken once descriptors free up.
                    log.error("out of file descriptors; pausing accepts", extra={"server": pool.name})
                    self._loop.remove_reader(self._sock.fileno())
                    self._loop.call_later(self._PAUSE_WHEN_OUT_OF_FDS, self._resume)
                    return
                continue  # ECONNABORTED and friends: that client is gone
            if pool.full:
                pool.on_refusal("too_many_connections")
                if self._ssl is None:
                    with contextlib.suppress(OSError):
                        conn.send(_BUSY, socket.MSG_DONTWAIT)
                conn.close()
                continue
            pool.open += 1
            conn.setblocking(False)
            task = self._loop.create_task(
                self._loop.connect_accepted_socket(
                    self._server,
                    conn,
                    ssl=self._ssl,
                    ssl_handshake_timeout=pool.limits.read_header_timeout if self._ssl else None,
                )
            )
            self._handshakes.add(task)
            task.add_done_callback(functools.partial(self._connected, conn))

    def _connected(self, conn: socket.socket, task: "asyncio.Task[Any]") -> None:
        self._handshakes.discard(task)
        if task.cancelled() or task.exception() is not None:
            # A failed TLS handshake never reaches the protocol, whose connection_lost would count it.
            self._pool.open -= 1
            conn.close()

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for task in self._handshakes:
            task.cancel()


class HttpService:
    """A running server; close() stops accepting, then lets requests in progress finish."""

    def __init__(self, acceptor: _Acceptor, runner: web.BaseRunner) -> None:
        self._acceptor = acceptor
        self._runner = runner

    async def close(self) -> None:
        self._acceptor.close()
        await self._runner.cleanup()


async def serve(
    name: str,
    handler: Handler,
    sock: socket.socket,
    limits: ServerLimits,
    on_refusal: Callable[[str], None],
    ssl_context: ssl.SSLContext | None = None,
) -> HttpService:
    """Serve handler on an already bound, listening socket. on_refusal(reason) is called for each
    connection or request the limits turned away."""
    pool = _Pool(name, limits, on_refusal)
    server = _Server(
        _tracked(handler),
        pool,
        # Decompression is the receiver's, with a cap on the output (aiohttp would inflate without one).
        auto_decompress=False,
        access_log=None,
        keepalive_timeout=limits.idle_timeout,
    )
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    return HttpService(_Acceptor(sock, server, pool, ssl_context), runner)
