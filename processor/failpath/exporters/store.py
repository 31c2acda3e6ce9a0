"""Exporter into the embedded SQLite span store; writes run on one dedicated thread."""

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from failpath.exporters.sender import SendError
from failpath.store.spans import SpanStore


class StoreSender:
    name = "store"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="span-store")
        self._store: SpanStore | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._thread, SpanStore, self._path)

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
        if self._store is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._store.close)
        self._thread.shutdown(wait=True)
