"""Admin endpoint: /healthz (process alive), /readyz (receivers listening, exporters not failing), /metrics."""

import json
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from failpath.config import Admin
from failpath.listen import bind
from failpath.metrics import Metrics

log = logging.getLogger("failpath.admin")


class AdminServer:
    def __init__(self, config: Admin, metrics: Metrics, not_ready: Callable[[], list[str]]) -> None:
        self._config = config
        self._metrics = metrics
        self._not_ready = not_ready
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        sock = bind("admin endpoint", self._config.endpoint)
        self.port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner
        log.info("admin listening", extra={"endpoint": self._config.endpoint, "port": self.port})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        problems = self._not_ready()
        body = {"status": "not ready", "problems": problems} if problems else {"status": "ready"}
        return web.Response(status=503 if problems else 200, text=json.dumps(body), content_type="application/json")

    async def _metrics_page(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self._metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def shutdown(self, deadline: float) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
