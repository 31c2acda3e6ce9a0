"""Exporter into the embedded SQLite span store; writes and retention run on one dedicated thread."""

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from failpath.exporters.config import Retention
from failpath.exporters.sender import SendError
from failpath.metrics import Metrics
from failpath.store.spans import SpanStore

log = logging.getLogger("failpath.store")


class StoreSender:
    name = "store"

    def __init__(self, path: Path, retention: Retention, metrics: Metrics) -> None:
        self._path = path
        self._retention = retention
        self._metrics = metrics
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="span-store")
        self._store: SpanStore | None = None
        self._pruning: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._thread, SpanStore, self._path)
        if self._retention.max_age or self._retention.max_spans:
            self._pruning = asyncio.create_task(self._prune_periodically(), name="span-store-retention")

    async def prune(self) -> int:
        """Apply the retention limits now; returns how many spans were deleted."""
        assert self._store is not None
        max_age = self._retention.max_age
        oldest = time.time_ns() - int(max_age * 1e9) if max_age else 0
        store = self._store
        deleted = await asyncio.get_running_loop().run_in_executor(
            self._thread, store.prune, oldest, self._retention.max_spans
        )
        if deleted:
            self._metrics.store_pruned_spans.inc(deleted)
            log.info("store retention applied", extra={"deleted_spans": deleted})
        return deleted

    async def _prune_periodically(self) -> None:
        while True:
            await self.prune()
            await asyncio.sleep(self._retention.interval)

    async def send(self, payload: bytes, spans: int) -> int:
        assert self._store is not None, "send before start"
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._store.write, payload)
        except sqlite3.Error as error:
            # Locked, busy or full can clear up; anything else (corruption, schema) will not.
            transient = any(word in str(error) for word in ("locked", "busy", "full"))
            raise SendError("sqlite_busy" if transient else "sqlite_error", str(error), retryable=transient) from None
        return 0

    async def close(self) -> None:
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
        if self._store is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._store.close)
        self._thread.shutdown(wait=True)
