"""The spool stage, right after redaction: an accepted request is on disk before the client hears OK, and
after a crash what was not handed on for good is replayed into the next stage, beside new spans.

A request the next stage refuses is marked settled at once (the client was told to retry and will send it
again). Between the write and the next stage's answer, the stage itself holds the record.
"""

import asyncio
import contextlib
import logging
from collections import deque

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch, Consumer, Refused
from failpath.metrics import Metrics
from failpath.spool.write_ahead import Pending, Spool

log = logging.getLogger("failpath.spool")
# How often segments that every holder is done with are deleted.
_RELEASE_EVERY = 1.0


class SpoolStage:
    def __init__(self, spool: Spool, next_consumer: Consumer, metrics: Metrics) -> None:
        self._next = next_consumer
        self._metrics = metrics
        self.spool = spool
        spool.add_holder(self.oldest_lsn)
        self._in_flight: set[int] = set()
        self._pending: deque[Pending] = deque()
        self._task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._stopping = False

    def oldest_lsn(self) -> int | None:
        first_pending = self._pending[0].lsn if self._pending else None
        return min(self._in_flight, default=first_pending)

    async def start(self) -> None:
        """Recover the spool and start replaying what an earlier run left unfinished, beside new spans (a
        replay that waits for a backend to come back must not keep the receivers or probes down)."""
        self._pending = deque(self.spool.recover())
        await self.spool.start()
        self._task = asyncio.create_task(self._release_loop(), name="spool-release")
        if self._pending:
            self._replay_task = asyncio.create_task(self._replay(), name="spool-replay")

    async def _replay(self) -> None:
        """Hand the records to the next stage, oldest first; while it refuses (full), wait for it to drain."""
        records = len(self._pending)
        spans = 0
        while self._pending and not self._stopping:
            pending = self._pending[0]
            request = ExportTraceServiceRequest.FromString(pending.payload)
            count = _without(request, pending.settled_traces)
            batch = Batch(request, count)
            batch.lsns = (pending.lsn,)
            try:
                if count:
                    await self._next.consume(batch)
            except Refused:
                await asyncio.sleep(0.1)
                continue
            spans += count
            self._pending.popleft()
        self._metrics.spool_replayed_records.inc(records - len(self._pending))
        self._metrics.spool_replayed_spans.inc(spans)
        log.info("replayed the spool", extra={"records": records, "spans": spans})

    async def consume(self, batch: Batch) -> None:
        payload = batch.serialized()
        if not self.spool.has_room(len(payload)):
            self._metrics.spool_refused.inc()
            raise Refused("overloaded", "the spool is full; retry later")
        try:
            lsn = await self.spool.append(payload)
        except OSError as error:
            self._metrics.spool_refused.inc()
            log.error("cannot write to the spool", extra={"error": error.strerror})
            raise Refused("unavailable", "the spool cannot be written; retry later") from None
        self._in_flight.add(lsn)
        batch.lsns = (lsn,)
        try:
            await self._next.consume(batch)
        except Refused:
            self.spool.settle([(b"", (lsn,))])
            raise
        finally:
            self._in_flight.discard(lsn)

    async def _release_loop(self) -> None:
        while True:
            await asyncio.sleep(_RELEASE_EVERY)
            try:
                self.spool.release()
            except OSError as error:
                log.warning("cannot release spool segments", extra={"error": error.strerror})

    async def shutdown(self, deadline: float) -> None:
        """Stop replaying; the file stays open for what the later stages hand on while they drain."""
        self._stopping = True
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task

    async def close(self) -> None:
        """After every stage and queue has stopped: release what they finished, fsync and close."""
        if self._task is not None:
            self._task.cancel()
        self.spool.release()
        await self.spool.close()


def _without(request: ExportTraceServiceRequest, traces: set[bytes]) -> int:
    """Remove the spans of these traces from the request; returns the spans left."""
    left = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            if traces:
                kept = [span for span in scope_spans.spans if span.trace_id not in traces]
                if len(kept) != len(scope_spans.spans):
                    del scope_spans.spans[:]
                    scope_spans.spans.extend(kept)
            left += len(scope_spans.spans)
    return left
