"""Admin endpoint: /healthz (process alive), /readyz (receivers listening, exporters delivering), /metrics.

Probes (/healthz, /readyz) never need a token; /metrics does when admin.auth is set, since the admin port
is often bound beyond loopback for the kubelet and metrics name workflows.
"""

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from failpath.config import AdminConfig
from failpath.http_server import HttpService, ServerLimits, serve
from failpath.listen import bind
from failpath.metrics import Metrics
from failpath.receivers.auth import BearerCheck

log = logging.getLogger("failpath.admin")


class AdminServer:
    def __init__(self, config: AdminConfig, metrics: Metrics, not_ready: Callable[[], list[str]]) -> None:
        self._config = config
        self._metrics = metrics
        self._not_ready = not_ready
        self._auth = BearerCheck(config.auth)
        self._routes: dict[str, Callable[[web.BaseRequest], Awaitable[web.Response]]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics_page,
        }
        self._service: HttpService | None = None
        self.port = 0

    async def start(self) -> None:
        config = self._config
        sock = bind("admin endpoint", config.endpoint)
        self.port = sock.getsockname()[1]
        limits = ServerLimits(config.max_connections, config.read_header_timeout, config.idle_timeout)
        refused = self._metrics.connections_refused

        def on_refusal(reason: str) -> None:
            refused.labels("admin", reason).inc()

        self._service = await serve("admin endpoint", self._route, sock, limits, on_refusal)
        log.info("admin listening", extra={"endpoint": config.endpoint, "port": self.port})

    async def _route(self, request: web.BaseRequest) -> web.Response:
        handler = self._routes.get(request.path)
        if handler is None:
            return web.json_response({"status": "not found", "paths": sorted(self._routes)}, status=404)
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"status": "method not allowed"}, status=405, headers={"Allow": "GET, HEAD"})
        return await handler(request)

    async def _healthz(self, _: web.BaseRequest) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.BaseRequest) -> web.Response:
        problems = self._not_ready()
        body = {"status": "not ready", "problems": problems} if problems else {"status": "ready"}
        return web.Response(status=503 if problems else 200, text=json.dumps(body), content_type="application/json")

    async def _metrics_page(self, request: web.BaseRequest) -> web.Response:
        refusal = self._auth.refusal(request.headers.getall("Authorization", []))
        if refusal:
            return web.json_response({"status": refusal}, status=401, headers={"WWW-Authenticate": "Bearer"})
        return web.Response(body=generate_latest(self._metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def shutdown(self, deadline: float) -> None:
        if self._service is not None:
            await self._service.close()
