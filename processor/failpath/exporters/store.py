"""Exporter into the embedded SQLite span store; writes and retention run on one dedicated thread."""

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from failpath.exporters.config import StoreRetentionConfig
from failpath.exporters.sender import SendError
from failpath.metrics import Metrics
from failpath.store.spans import SpanStore
from failpath.store.write_errors import cause_of

log = logging.getLogger("failpath.store")


class StoreSender:
    name = "store"

    def __init__(self, path: Path, retention: StoreRetentionConfig, metrics: Metrics) -> None:
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
            try:
                await self.prune()
            except (sqlite3.Error, OSError) as error:
                # A full or read-only disk stops pruning too; it is tried again next interval.
                log.warning("store retention not applied", extra={"cause": cause_of(error).label})
            await asyncio.sleep(self._retention.interval)

    async def send(self, payload: bytes, spans: int) -> int:
        assert self._store is not None, "send before start"
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._store.write, payload)
        except (sqlite3.Error, OSError) as error:
            # Busy, disk full, read-only and I/O errors can clear up and are retried; corruption cannot.
            cause = cause_of(error)
            raise SendError(
                f"store_{cause.label}", f"{type(error).__name__}: {error}", cause.retryable, condition=cause.condition
            ) from None
        return 0

    async def close(self) -> None:
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
        if self._store is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._store.close)
        self._thread.shutdown(wait=True)
