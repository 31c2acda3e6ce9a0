"""The dashboard's HTTP side: routes, the bearer-token check, security headers, and read-only access to the
packet index and files (SQLite reads on a thread of their own, so the event loop never waits on disk).

    /                   failures per bucket over a window (?hours=24) as stacked bars, top workflows and
                        models, kept/sampled-away and redaction counts (inside serve), the newest runs
    /runs               failing runs, newest first; ?bucket= &workflow= &model= &trace= (prefix) &hours=
                        &before=<start ns>-<trace id> (the last row of the page before)
    /runs/<trace id>    one run's packet, laid out, with its stored spans; /runs/<trace id>.json downloads it
    /buckets            each bucket: meaning, first check, avoid, next action, count and trend, its rule
"""

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from failpath.dashboard import pages
from failpath.dashboard.charts import palette
from failpath.dashboard.config import DashboardConfig
from failpath.dashboard.stored_spans import stored_trace
from failpath.dashboard.traffic import Traffic
from failpath.dashboard.window import DAY_NS, HOUR_NS, window
from failpath.diagnosis.blame import UNKNOWN
from failpath.diagnosis.config import BucketRuleConfig
from failpath.http_server import HttpService, ServerLimits, serve
from failpath.listen import bind, server_tls
from failpath.packets.reader import load_file
from failpath.receivers.auth import BearerCheck
from failpath.store.packets import BucketSummary, IndexedPacket, PacketStore

log = logging.getLogger("failpath.dashboard")

HEADERS = {
    # Nothing runs on these pages: no script at all, styles only from the page itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_PAGE = 50
T = TypeVar("T")
_NONE: list[IndexedPacket] = []
_NO_ATTEMPTS: tuple[list[IndexedPacket], bool] = ([], False)
_NO_SUMMARY: list[BucketSummary] = []
_NO_TIMELINE: list[tuple[int, str, int]] = []
_FILTERS = ("bucket", "workflow", "model", "trace", "hours")
_MAX_HOURS = 24 * 366


class DashboardServer:
    def __init__(
        self,
        config: DashboardConfig,
        store_path: Path,
        folder: Path,
        rules: list[BucketRuleConfig],
        traffic: Callable[[], Traffic] | None = None,
    ) -> None:
        """traffic: the running service's counters (None standalone, where there is no service to ask)."""
        self._config = config
        self._rules = rules
        self._traffic = traffic
        self._colors = palette([*(rule.name for rule in rules), UNKNOWN])
        self._store_path = store_path
        self._folder = folder
        self._auth = BearerCheck(config.auth)
        # One reader thread: SQLite connections stay on the thread that opened them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard")
        self._store: PacketStore | None = None
        self._service: HttpService | None = None
        self.port = 0

    async def start(self) -> None:
        config = self._config
        sock = bind("dashboard endpoint", config.endpoint)
        self.port = sock.getsockname()[1]
        limits = ServerLimits(config.max_connections, config.read_header_timeout, config.idle_timeout)
        tls = config.tls
        context = server_tls(tls.cert_file, tls.key_file, tls.client_ca_file) if tls else None
        self._service = await serve("dashboard endpoint", self._route, sock, limits, lambda reason: None, context)
        log.info("dashboard listening", extra={"url": self.url})

    @property
    def url(self) -> str:
        host = self._config.endpoint.rsplit(":", 1)[0]
        return f"{'https' if self._config.tls else 'http'}://{host}:{self.port}/"

    async def shutdown(self, deadline: float) -> None:
        if self._service is not None:
            await self._service.close()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    # -- requests --------------------------------------------------------------------------------------------
    async def _route(self, request: web.BaseRequest) -> web.Response:
        refusal = self._auth.refusal(request.headers.getall("Authorization", []))
        if refusal is not None:
            return _html(pages.layout("Unauthorized", "<h1>A bearer token is needed</h1>"), 401, bearer=True)
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers={**HEADERS, "Allow": "GET, HEAD"})
        path = request.path
        if path == "/":
            return await self._overview(request)
        if path == "/runs":
            return await self._runs(request)
        if path == "/buckets":
            return await self._buckets(request)
        if path.startswith("/runs/"):
            return await self._run(path.removeprefix("/runs/"))
        return _html(pages.not_found("No such page."), 404)

    async def _overview(self, request: web.BaseRequest) -> web.Response:
        shown = window(_int(request.query.get("hours"), 24, 1, _MAX_HOURS) or 24)

        def read(store: PacketStore) -> tuple[list[BucketSummary], list[tuple[int, str, int]], list[IndexedPacket]]:
            since = shown.since_ns
            return store.buckets(since), store.timeline(since, shown.slot_ns), store.page({}, None, since, 20)

        summaries, timeline, newest = await self._read(read, (_NO_SUMMARY, _NO_TIMELINE, _NONE))
        traffic = self._traffic() if self._traffic else None
        colors = self._colors_for(summaries)
        return _html(pages.overview(summaries, shown.series(timeline), shown, newest, traffic, colors))

    async def _buckets(self, request: web.BaseRequest) -> web.Response:
        hours = _int(request.query.get("hours"), 24 * 7, 1, _MAX_HOURS) or 24 * 7
        shown = window(hours, slot_ns=HOUR_NS if hours <= 48 else DAY_NS)

        def read(store: PacketStore) -> tuple[list[BucketSummary], list[tuple[int, str, int]]]:
            return store.buckets(shown.since_ns), store.timeline(shown.since_ns, shown.slot_ns)

        summaries, timeline = await self._read(read, (_NO_SUMMARY, _NO_TIMELINE))
        colors = self._colors_for(summaries)
        return _html(pages.buckets(self._rules, summaries, shown.series(timeline), shown, colors))

    def _colors_for(self, summaries: list[BucketSummary]) -> dict[str, str]:
        """The configured buckets' colours, and the next ones for buckets only the store still names."""
        extra = [s.bucket for s in summaries if s.bucket not in self._colors]
        return palette([*self._colors, *extra]) if extra else self._colors

    async def _runs(self, request: web.BaseRequest) -> web.Response:
        filters = {name: request.query[name].strip() for name in _FILTERS if request.query.get(name, "").strip()}
        hours = _int(filters.get("hours"), None, 1, _MAX_HOURS)
        if hours is None:
            filters.pop("hours", None)
        since = time.time_ns() - hours * HOUR_NS if hours else 0
        before = _position(request.query.get("before", ""))
        rows = await self._read(lambda store: store.page(filters, before, since, _PAGE + 1), _NONE)
        last = rows[_PAGE - 1] if len(rows) > _PAGE else None
        return _html(pages.runs(rows[:_PAGE], filters, f"{last.started_ns}-{last.trace_id}" if last else None))

    async def _run(self, reference: str) -> web.Response:
        download = reference.endswith(".json")
        trace_id = reference.removesuffix(".json").lower()
        if not (len(trace_id) == 32 and all(char in "0123456789abcdef" for char in trace_id)):
            return _html(pages.not_found("A run is named by its 32-digit hex trace id."), 404)
        found = await self._read(lambda store: store.find(trace_id), _NONE)
        if not found:
            return _html(pages.not_found("No packet for this trace (pruned, or not a failing run)."), 404)
        packet = await asyncio.get_running_loop().run_in_executor(self._executor, load_file, found[0].path)
        if download:
            body = json.dumps(packet, indent=2, ensure_ascii=False).encode()
            disposition = f'attachment; filename="{trace_id}.json"'
            headers = {**HEADERS, "Content-Disposition": disposition}
            return web.Response(body=body, content_type="application/json", headers=headers)
        stored = await self._read(lambda _: stored_trace(self._store_path, trace_id), None)
        # The run's other attempts as the index has them now: a packet lists only those written before it.
        run_id = packet["run"]["run_id"]
        others, more = (
            await self._read(lambda store: store.attempts(run_id, trace_id), _NO_ATTEMPTS) if run_id else _NO_ATTEMPTS
        )
        return _html(pages.run(packet, self._config.trace_url, stored, others, more))

    # -- the index -------------------------------------------------------------------------------------------
    async def _read(self, query: Callable[[PacketStore], T], empty: T) -> T:
        """The query's answer, or `empty` while there is no packet index yet (no failing run so far)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._query, query, empty)

    def _query(self, query: Callable[[PacketStore], T], empty: T) -> T:
        try:
            if self._store is None:
                self._store = PacketStore(self._store_path, self._folder, readonly=True)
            return query(self._store)
        except (OSError, sqlite3.OperationalError):  # no store, or no packets table in it yet
            return empty

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()


def _html(text: str, status: int = 200, bearer: bool = False) -> web.Response:
    headers = {**HEADERS, **({"WWW-Authenticate": 'Bearer realm="failpath dashboard"'} if bearer else {})}
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def _position(text: str) -> tuple[int, str] | None:
    """A page's position, "<start ns>-<trace id>" (the last row of the page before), or None from the top."""
    start, _, trace_id = text.partition("-")
    return (int(start), trace_id) if start.isdigit() and len(trace_id) == 32 else None


def _int(text: str | None, default: int | None, low: int, high: int) -> int | None:
    try:
        return min(high, max(low, int(text))) if text else default
    except ValueError:
        return default
