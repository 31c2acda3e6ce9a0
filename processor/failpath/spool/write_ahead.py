"""The write-ahead spool: accepted requests on disk before they are acknowledged, until handed on for good.

Appends are written to the current segment at once (a killed process loses nothing written); with sync
"interval" an append also waits for an fsync that one background task runs for every append of the last
few milliseconds, or sooner once sync_bytes are written (group commit). Records get increasing LSNs.
Components that hold spans (the sampler's buffer, the packet writer, the exporter queues) name the oldest
record they still need; segments wholly older than every such record are deleted. Spans handed on for
good are recorded (SETTLED records), so a replay after a crash sends none of them twice.
"""

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from failpath.consumer import Settled
from failpath.metrics import Metrics
from failpath.spool import records
from failpath.spool.config import SpoolConfig
from failpath.store.private_files import private_dir

log = logging.getLogger("failpath.spool")


@dataclass(slots=True)
class _Segment:
    path: Path
    first_lsn: int
    last_lsn: int
    size: int
    created: float


@dataclass(slots=True)
class Pending:
    """A request to replay: its record, and the traces of it already handed on for good."""

    lsn: int
    payload: bytes
    settled_traces: set[bytes] = field(default_factory=set)


class Spool:
    def __init__(self, directory: Path, config: SpoolConfig, metrics: Metrics) -> None:
        self._directory = directory
        self._config = config
        self._metrics = metrics
        self._segments: list[_Segment] = []
        self._fd = -1
        self._retiring: list[int] = []
        self._next_lsn = 1
        self._written = 0  # bytes written since start, over every segment
        self._synced = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._syncer: asyncio.Task[None] | None = None
        self._holders: list[Callable[[], int | None]] = []
        self.size = 0
        # Why the last write or fsync failed, until one works again: /readyz says it.
        self.failing: str | None = None

    # -- recovery --------------------------------------------------------------------------------------------
    def recover(self) -> list[Pending]:
        """Read what an earlier run left (torn tails skipped and counted); returns the requests to replay in
        LSN order, and opens a fresh segment for new appends."""
        private_dir(self._directory)
        requests: dict[int, bytes] = {}
        settled: dict[int, set[bytes]] = {}
        for path in sorted(self._directory.glob(f"*{records.SUFFIX}")):
            found, torn = records.read_segment(path)
            if torn:
                self._metrics.spool_corrupt_segments.inc()
                log.warning(
                    "a spool segment ends in a torn or corrupt record; read up to it", extra={"file": path.name}
                )
            if not found:
                path.unlink()
                continue
            for record in found:
                if record.kind == records.REQUEST:
                    requests[record.lsn] = record.payload
                else:
                    for trace_id, lsns in records.decode_settled(record.payload):
                        for lsn in lsns:
                            settled.setdefault(lsn, set()).add(trace_id)
            size = path.stat().st_size
            self._segments.append(_Segment(path, found[0].lsn, found[-1].lsn, size, time.time()))
            self.size += size
            self._next_lsn = max(self._next_lsn, found[-1].lsn + 1)
        self._segments.sort(key=lambda segment: segment.first_lsn)
        pending = []
        for lsn in sorted(requests):
            traces = settled.get(lsn, set())
            if b"" not in traces:
                pending.append(Pending(lsn, requests[lsn], traces))
        self._open_segment()
        self._update_gauges()
        return pending

    # -- appending -------------------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """What /readyz reports about the spool."""
        problems = [f"the spool cannot be written ({self.failing}); refusing spans"] if self.failing else []
        if not self.has_room(0):
            problems.append("the spool is full; refusing spans until exporters catch up")
        return problems

    def has_room(self, size: int) -> bool:
        return self.size + size + records.HEADER.size <= self._config.max_bytes

    async def append(self, payload: bytes) -> int:
        """Write an accepted request; returns its LSN once it is as durable as the config asks."""
        lsn = self._write(records.REQUEST, payload)
        if self._config.sync == "interval":
            await self._synced_through(self._written)
        return lsn

    def settle(self, entries: Iterable[Settled]) -> None:
        """Record spans handed on for good; written at once, fsynced with the next group commit."""
        payload = records.encode_settled(entries)
        if payload:
            try:
                self._write(records.SETTLED, payload)
            except OSError as error:
                # Not fatal: without the record a replay may send these spans again, never lose them.
                log.warning("cannot record handed-on spans in the spool", extra={"error": error.strerror})

    def _write(self, kind: int, payload: bytes) -> int:
        if self._segments[-1].size >= self._config.segment_bytes:
            self._roll()
        lsn = self._next_lsn
        data = records.encode(kind, lsn, payload)
        try:
            written = os.write(self._fd, data)
        except OSError as error:
            self.failing = error.strerror or type(error).__name__
            raise
        if self.failing and self._config.sync == "none":
            self.failing = None  # with fsync, only a successful fsync clears it
        if written != len(data):  # a short write (disk full): the record is torn; the next segment starts clean
            self.failing = os.strerror(errno.ENOSPC)
            self._roll()
            raise OSError(errno.ENOSPC, self.failing)
        self._next_lsn += 1
        segment = self._segments[-1]
        if segment.size == 0:
            segment.first_lsn = lsn
        segment.last_lsn = lsn
        segment.size += len(data)
        self.size += len(data)
        self._written += len(data)
        if self._written - self._synced >= self._config.sync_bytes:
            self._full.set()
        return lsn

    def _open_segment(self) -> None:
        path = self._directory / records.segment_name(self._next_lsn)
        if path.exists():  # the torn segment of a short write that started at this LSN
            path = path.with_name(f"{path.stem}.{time.time_ns()}{records.SUFFIX}")
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segments.append(_Segment(path, self._next_lsn, self._next_lsn - 1, 0, time.time()))

    def _roll(self) -> None:
        old = self._fd
        self._open_segment()  # if this fails, the current segment stays current
        self._retiring.append(old)
        self._wake.set()

    async def _synced_through(self, position: int) -> None:
        if self._synced >= position:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((position, future))
        self._wake.set()
        await future

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._written - self._synced < self._config.sync_bytes:
                self._full.clear()
                with contextlib.suppress(TimeoutError):  # the interval, or sync_bytes written, whichever first
                    await asyncio.wait_for(self._full.wait(), self._config.sync_interval)
            target, fd, retiring = self._written, self._fd, self._retiring
            self._retiring = []
            started = loop.time()
            try:
                await asyncio.to_thread(_sync, fd, retiring)
            except OSError as error:
                log.error("spool fsync failed; refusing spans until it works", extra={"error": error.strerror})
                self.failing = error.strerror or type(error).__name__
                for _, future in self._waiters:
                    if not future.done():
                        future.set_exception(error)
                self._waiters = []
                continue
            self._metrics.spool_fsync_seconds.observe(loop.time() - started)
            self.failing = None
            self._synced = target
            waiting = []
            for position, future in self._waiters:
                if position <= target:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((position, future))
            self._waiters = waiting
            if waiting:
                self._wake.set()

    # -- releasing -------------------------------------------------------------------------------------------
    def add_holder(self, oldest_lsn: Callable[[], int | None]) -> None:
        self._holders.append(oldest_lsn)

    def release(self) -> int:
        """Delete the segments every holder is done with; returns how many."""
        held = [lsn for lsn in (holder() for holder in self._holders) if lsn is not None]
        watermark = min(held, default=self._next_lsn)
        current = self._segments[-1]
        if current.size and current.last_lsn < watermark:
            self._roll()  # everything in it is done: start a new one so it can go
        released = 0
        while len(self._segments) > 1 and self._segments[0].last_lsn < watermark:
            segment = self._segments.pop(0)
            segment.path.unlink(missing_ok=True)
            self.size -= segment.size
            released += 1
        self._update_gauges()
        return released

    def _update_gauges(self) -> None:
        metrics = self._metrics
        metrics.spool_bytes.set(self.size)
        metrics.spool_segments.set(len(self._segments))
        oldest = next((segment for segment in self._segments if segment.size), None)
        metrics.spool_oldest_age.set(time.time() - oldest.created if oldest else 0)

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._syncer = asyncio.create_task(self._sync_loop(), name="spool-sync")

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
        await asyncio.to_thread(_sync, self._fd, self._retiring)
        self._retiring = []
        os.close(self._fd)


def _sync(fd: int, retiring: list[int]) -> None:
    for old in retiring:
        os.fsync(old)
        os.close(old)
    os.fsync(fd)
