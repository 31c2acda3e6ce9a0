"""The bounded queue in front of one exporter, and the workers that drain it with retries.

Capacity counts spans and serialized bytes, in flight included. When it is full, the fan-out refuses the
batch and the receivers push back (503/UNAVAILABLE), so nothing is dropped silently. Workers merge queued
requests by concatenating their bytes (repeated fields concatenate in protobuf) to send fewer, larger ones.

Each request may carry a ticket for the spool: finished once the request is delivered or dropped and
counted here, so the spool can forget it; spans still queued at shutdown are not finished, and are
replayed from the spool at the next start.
"""

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field

from failpath.consumer import Ticket
from failpath.exporters.config import QueueConfig, RetryConfig
from failpath.exporters.retry import Backoff
from failpath.exporters.sender import Sender, SendError
from failpath.metrics import Metrics

log = logging.getLogger("failpath.exporter")


# A send that raises anything but SendError (a failpath bug, or a value the sink cannot take) is retried like a
# transient failure, but at most this many times: one poison batch must not hold a queue forever.
UNEXPECTED = "unexpected_error"
_UNEXPECTED_ATTEMPTS = 5


@dataclass(slots=True)
class _Item:
    payload: bytes
    spans: int
    tickets: list[Ticket] = field(default_factory=list)
    # The queued requests a merged item was made of; empty for a single request.
    parts: list["_Item"] = field(default_factory=list)
    # Dropped at shutdown: left to the spool's replay, so its tickets are not finished.
    kept_for_replay: bool = False


class ExportQueue:
    def __init__(self, sender: Sender, queue: QueueConfig, retry: RetryConfig | None, metrics: Metrics) -> None:
        self.name = sender.name
        self._sender = sender
        self._queue = queue
        self._retry = retry
        self._metrics = metrics
        self._items: deque[_Item] = deque()
        self._sending: list[_Item] = []
        self._nonempty = asyncio.Event()
        self._drained = asyncio.Event()
        self._held_spans = 0
        self._held_bytes = 0
        self._queued_spans = 0
        self._workers: list[asyncio.Task[None]] = []
        self._deadline: float | None = None
        # True after a permanent failure, until the next success: /readyz reports it.
        self.failing_permanently = False
        # What keeps sends failing while they are retried, when an operator must act (disk full, read-only).
        self.condition: str | None = None
        self._stopping = False
        metrics.queue_capacity_spans.labels(self.name).set(queue.max_spans)

    def has_room(self, spans: int, size: int) -> bool:
        if self._held_spans == 0:
            # An oversized batch still goes through an empty queue rather than being refused forever.
            return True
        return self._held_spans + spans <= self._queue.max_spans and self._held_bytes + size <= self._queue.max_bytes

    def put(self, payload: bytes, spans: int, ticket: Ticket | None = None) -> None:
        """Enqueue; the caller checked has_room (no await in between, so the check still holds)."""
        self._items.append(_Item(payload, spans, [ticket] if ticket else []))
        self._held_spans += spans
        self._held_bytes += len(payload)
        self._queued_spans += spans
        self._nonempty.set()
        self._update_gauges()

    def _update_gauges(self) -> None:
        self._metrics.queue_spans.labels(self.name).set(self._queued_spans)
        self._metrics.queue_bytes.labels(self.name).set(self._held_bytes)
        self._metrics.spans_in_flight.labels(self.name).set(self._held_spans - self._queued_spans)

    async def start(self) -> None:
        await self._sender.start()
        self._workers = [
            asyncio.create_task(self._work(), name=f"export-{self.name}-{index}")
            for index in range(self._queue.consumers)
        ]

    async def _next_batch(self) -> _Item:
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        first = self._items.popleft()
        parts, spans, size = [first], first.spans, len(first.payload)
        limit_spans, limit_bytes = self._queue.batch_max_spans, self._queue.batch_max_bytes
        while self._items:
            item = self._items[0]
            if spans + item.spans > limit_spans or size + len(item.payload) > limit_bytes:
                break
            self._items.popleft()
            parts.append(item)
            spans += item.spans
            size += len(item.payload)
        self._queued_spans -= spans
        if len(parts) == 1:
            return first
        tickets = [ticket for part in parts for ticket in part.tickets]
        return _Item(b"".join(part.payload for part in parts), spans, tickets, parts)

    async def _work(self) -> None:
        while True:
            item = await self._next_batch()
            self._sending.append(item)
            self._update_gauges()
            try:
                await self._deliver(item)
            except Exception:
                # _deliver accounts for every failure of a send; getting here is a failpath bug, and the worker
                # must outlive it. The batch is counted as dropped, never lost without a trace.
                log.exception("export worker error", extra={"exporter": self.name})
                self._metrics.spans_dropped.labels(self.name, "internal_error").inc(item.spans)
            finally:
                self._sending.remove(item)
                self._held_spans -= item.spans
                self._held_bytes -= len(item.payload)
                if not self._held_spans:
                    self._drained.set()
                self._update_gauges()

    def _drop(self, spans: int, reason: str, message: str) -> None:
        self._metrics.spans_dropped.labels(self.name, reason).inc(spans)
        log.error(
            "spans dropped by exporter",
            extra={"exporter": self.name, "reason": reason, "spans": spans, "detail": message[:300]},
        )

    def oldest_lsn(self) -> int | None:
        """The oldest spool record of a request queued or in flight here."""
        items = (*self._items, *self._sending)
        return min((ticket.oldest for item in items for ticket in item.tickets), default=None)

    async def _deliver(self, item: _Item) -> None:
        failure = await self._send_with_retries(item)
        if failure is None:
            if not item.kept_for_replay:
                for ticket in item.tickets:
                    ticket.finish()
            return
        if item.parts:
            # One bad request must not take down the requests merged with it: each is sent on its own.
            for part in item.parts:
                await self._deliver(part)
            return
        self._drop(item.spans, failure.reason, str(failure))
        for ticket in item.tickets:
            ticket.finish()

    async def _send(self, item: _Item) -> int:
        try:
            rejected = await self._sender.send(item.payload, item.spans)
        except SendError:
            raise
        except Exception as error:
            log.error("exporter send raised an unexpected error", exc_info=True, extra={"exporter": self.name})
            raise SendError(UNEXPECTED, f"unexpected {type(error).__name__}", retryable=True) from None
        # A backend's count is not trusted beyond the batch it answers for.
        return min(max(rejected, 0), item.spans)

    async def _send_with_retries(self, item: _Item) -> SendError | None:
        """Send, retrying what may succeed later. None: delivered, or dropped and counted here (retries
        exhausted, shutdown). A SendError: this payload failed for good."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(self._retry) if self._retry and self._retry.enabled else None
        started = loop.time()
        unexpected = 0
        while True:
            try:
                rejected = await self._send(item)
            except SendError as error:
                self._metrics.send_failures.labels(self.name, error.reason).inc()
                self.condition = error.condition
                unexpected += error.reason == UNEXPECTED
                if not error.retryable or backoff is None or self._retry is None:
                    self.failing_permanently = not error.retryable
                    return error
                if unexpected >= _UNEXPECTED_ATTEMPTS:
                    return error
                delay = max(backoff.next_delay(), error.retry_after or 0.0)
                now = loop.time()
                limit = self._retry.max_elapsed_time
                if limit and now + delay - started > limit:
                    self._drop(item.spans, "retries_exhausted", f"{error.reason}: {error}")
                    return None
                if self._deadline is not None and now + delay > self._deadline:
                    self._drop(item.spans, "shutdown", f"backend still failing at shutdown: {error.reason}")
                    item.kept_for_replay = True
                    return None
                log.warning(
                    "export failed, will retry",
                    extra={"exporter": self.name, "reason": error.reason, "retry_in_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            self.failing_permanently = False
            self.condition = None
            self._metrics.spans_exported.labels(self.name).inc(item.spans - rejected)
            if rejected:
                self._drop(rejected, "rejected_by_backend", "backend reported partial success")
            return None

    def problems(self) -> list[str]:
        """What /readyz reports about this exporter."""
        problems = []
        if self.failing_permanently:
            problems.append(f"exporter {self.name!r} is failing with a permanent error")
        if self.condition:
            problems.append(f"exporter {self.name!r} cannot deliver ({self.condition}); retrying")
        if not self._stopping and any(worker.done() for worker in self._workers):
            problems.append(f"exporter {self.name!r} has a stopped worker")
        return problems

    async def shutdown(self, deadline: float) -> None:
        """Drain until empty or deadline; whatever is left is counted and logged, never silently lost."""
        loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._stopping = True
        if self._held_spans:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), max(0.0, deadline - loop.time()))
        # Counted before cancelling: a cancelled send is not known to have arrived.
        left = self._held_spans
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if left:
            self._drop(left, "shutdown", "drain timeout reached with spans still queued or in flight")
            self._items.clear()
            self._held_spans = self._held_bytes = self._queued_spans = 0
            self._update_gauges()
        await self._sender.close()
