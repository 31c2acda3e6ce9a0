"""The tail-sampling stage: buffers redacted spans per trace, decides each trace once, hands kept traces on.

A trace is decided at the first of: its root span's arrival plus decision_wait; max_trace_wait after its
first span; reaching the per-trace span or byte cap; the buffer needing room (healthy traces first, then
traces with errors, which are kept); shutdown. Decisions are remembered so late spans follow them. A
dropped trace is held a while in the regret window: a late span with an error signal brings it back whole.

Kept traces wait in an outbox until the next stage accepts them; if it refuses (exporter queues full),
they stay, still counted against the buffer's memory, and once the buffer cannot make room the
receivers are refused (503/UNAVAILABLE) instead of anything being dropped.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from failpath.consumer import Batch, Consumer, DecidedTrace, Decision, Refused
from failpath.metrics import Metrics
from failpath.otlp.values import Value
from failpath.sampling.conditions import CompiledConditions
from failpath.sampling.config import DynamicPolicyConfig, SamplingConfig
from failpath.sampling.decision_cache import DecisionCache
from failpath.sampling.kept_output import KeptOutput
from failpath.sampling.policies import PolicyEngine
from failpath.sampling.regret_window import RegretWindow
from failpath.sampling.span_facts import SpanInspector
from failpath.sampling.span_reading import SpanRow, TraceRows, read_traces, tells_by_itself
from failpath.sampling.trace_buffer import (
    SPAN_OVERHEAD,
    TRACE_OVERHEAD,
    Group,
    ScopeGroup,
    Trace,
    TraceBuffer,
    resource_frame,
    scope_frame,
)
from failpath.signals.errors import ErrorReader
from failpath.signals.vocabulary import SignalsConfig

log = logging.getLogger("failpath.sampling")


@dataclass(slots=True)
class _Kept:
    trace_id: bytes
    decision: Decision
    payload: bytes
    spans: int
    late: bool
    lsns: tuple[int, ...]


# Room made under memory pressure: down to this share of the limits, so the next batch does not repeat it.
_RELIEF = 0.9
# Kept traces are handed on in batches of at most this many spans or bytes.
_HANDOFF_SPANS = 4096
_HANDOFF_BYTES = 8 << 20
_TRACE_ID, _SIZE = itemgetter(0), itemgetter(4)  # of TraceRows
# Scope groups remembered by their bytes (the same few resources and scopes come in every request), so their
# frames are made once and shared by every trace under them; past this many they are read anew (traces
# keep references to theirs).
_MAX_GROUPS = 1024


class TailSamplingStage:
    def __init__(
        self,
        config: SamplingConfig,
        next_consumer: Consumer,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 0.1,
        facts: SignalsConfig | None = None,
    ) -> None:
        self._config = config
        self._next = next_consumer
        self._metrics = metrics
        self._clock = clock
        self._tick = tick
        conditions = CompiledConditions()
        self._engine = PolicyEngine(config, conditions)
        root_keys = [key for p in config.policies if isinstance(p, DynamicPolicyConfig) for key in p.key_attributes]
        # facts (`agents.signals`): where a run's outcome and feedback are read, which make it an error run too.
        self._inspector = SpanInspector(
            conditions.leaves, ErrorReader(config.errors, facts), config.workflow_key, root_keys
        )
        self._buffer = TraceBuffer()
        self._groups: dict[tuple[bytes, bytes, bytes, bytes], ScopeGroup] = {}
        self._cache = DecisionCache(config.decision_cache.kept_traces, config.decision_cache.dropped_traces)
        self._output = KeptOutput(config.span_attributes)
        self._window = RegretWindow(config.regret_window.duration, config.regret_window.max_bytes)
        # Kept traces (and late spans of kept traces) waiting to be handed on.
        self._outbox: deque[_Kept] = deque()
        self._outbox_bytes = 0
        # Kept traces the next stage is being offered right now (neither in the outbox nor beyond).
        self._handing: list[_Kept] = []
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tail-sampling-ticks")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.tick()
            except Exception:
                log.exception("tail-sampling tick failed; retrying at the next tick")

    async def shutdown(self, deadline: float) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        now = self._clock()
        for trace in list(self._buffer.traces.values()):
            self._decide(trace, "shutdown", now)
        loop = asyncio.get_running_loop()
        # The exporter queues drain meanwhile; poll them rather than plumb a "room again" signal through.
        while not await self._flush() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self._outbox:
            lost = sum(kept.spans for kept in self._outbox)
            self._metrics.sampling_spans_lost.labels("shutdown").inc(lost)
            log.warning("kept spans not handed on before the shutdown deadline", extra={"spans": lost})
            self._outbox.clear()
            self._outbox_bytes = 0
        self._update_gauges()

    def oldest_lsn(self) -> int | None:
        """The oldest spool record whose spans are buffered, waiting in the outbox or being handed on."""
        buffered = [min(trace.lsns) for trace in self._buffer.traces.values() if trace.lsns]
        waiting = [min(kept.lsns) for kept in (*self._outbox, *self._handing) if kept.lsns]
        return min(buffered + waiting, default=None)

    # -- intake ----------------------------------------------------------------------------------------------
    async def consume(self, batch: Batch) -> None:
        traces, groups, size = self._split(batch)
        new = len(traces) - sum(map(self._buffer.traces.__contains__, map(_TRACE_ID, traces)))  # no Python per trace
        needed = size + batch.spans * SPAN_OVERHEAD + new * TRACE_OVERHEAD
        if not self._fits(needed, new):
            self._make_room(needed, new, self._clock())
            await self._flush()
            if not self._fits(needed, new):
                self._update_gauges()
                raise Refused("overloaded", "the tail-sampling buffer is full; retry later")
        # From here on no await: the room just checked is still there. (Run for every trace of every request:
        # kept inline.)
        now = self._clock()
        buffer, config = self._buffer, self._config
        buffered, limits, wait, lsns = buffer.traces, config.buffer, config.decision_wait, batch.lsns
        for entry in traces:
            trace_id, notable = entry[0], entry[2]
            trace = buffered.get(trace_id)
            if trace is None:
                known = self._cache.lookup(trace_id)
                if known is not None:
                    self._late(entry, groups, known, lsns, now)
                    continue
                trace = buffer.open(trace_id, now, now + config.max_trace_wait)
            buffer.add(trace, entry, groups, lsns)
            if notable and self._absorb(trace, notable, groups, now) and now + wait < trace.deadline:
                trace.due = "root"
                buffer.move_deadline(trace, now + wait)
            # Caps are checked once the request's spans of the trace are all in, so an error among them counts.
            if trace.spans >= limits.max_spans_per_trace:
                self._decide(trace, "span_limit", now)
            elif trace.size >= limits.max_trace_bytes:
                self._decide(trace, "byte_limit", now)
        self._update_gauges()
        if self._outbox:
            await self._flush()

    def _split(self, batch: Batch) -> tuple[list[TraceRows], list[ScopeGroup], int]:
        """The batch's spans by trace, each scope's group, and the spans' total size."""
        resources, scopes, traces = read_traces(batch, self._inspector.watching)
        groups: list[ScopeGroup] = []
        known = self._groups
        for index, scope, schema_url in scopes:
            resource, resource_schema_url = resources[index]
            key = (resource, resource_schema_url, scope, schema_url)
            group = known.get(key)
            if group is None:
                if len(known) >= _MAX_GROUPS:
                    known.clear()
                group = known[key] = self._group(resource, resource_schema_url, scope, schema_url)
            groups.append(group)
        return traces, groups, sum(map(_SIZE, traces))

    def _group(self, resource: bytes, resource_schema_url: bytes, scope: bytes, schema_url: bytes) -> ScopeGroup:
        """The group of spans under a scope and resource, and the resource's leaf bits and watched values."""
        bits, values = self._inspector.resource(Resource.FromString(resource).attributes)
        return (resource_frame(resource, resource_schema_url), scope_frame(scope, schema_url)), bits, values

    def _absorb(self, trace: Trace, notable: Sequence[SpanRow], groups: list[ScopeGroup], now: float) -> bool:
        """What the rows of a request's notable spans of a trace (span_reading.notable) tell about it (error,
        conditions, root); True if its root span is among them. The other spans tell only their times and
        their resources' leaf bits, which joining them (trace_buffer.join) took."""
        root = False
        for row in notable:
            if self._note(trace, row, groups[row[0]][2], now):
                root = True
        return root

    def _note(self, trace: Trace, row: SpanRow, resource_values: dict[str, Value], now: float) -> bool:
        """What one notable span tells about its trace (error, conditions, root); True for the root span."""
        root, start, end, name, trace_state = row[3], row[5], row[6], row[7], row[9]
        bits, error, found = self._inspect(row, resource_values)
        trace.bits |= bits
        if error is not None and trace.error is None:
            trace.error = error
        if not trace.trace_state and trace_state:
            trace.trace_state = trace_state
        if not tells_by_itself(row):
            self._inspector.learn(found)  # looked at for its watched values alone
        if root:
            trace.has_root = True
            trace.root_start, trace.root_end = start, end
            trace.root_seen = now
            trace.workflow = self._inspector.workflow(name, found, resource_values)
            trace.root_values = {**resource_values, **found} if found else resource_values
        return root

    def _late(
        self, entry: TraceRows, groups: list[ScopeGroup], known: Decision | bool, lsns: tuple[int, ...], now: float
    ) -> None:
        metrics = self._metrics
        trace_id, runs, notable, spans = entry[:4]
        if isinstance(known, Decision):
            by_group: dict[Group, list[bytes]] = {}
            for scope, blobs in runs:
                by_group.setdefault(groups[scope][0], []).extend(blobs)
            self._hand_on(_Kept(trace_id, known, self._output.encode(by_group, known, True), spans, True, lsns))
            metrics.sampling_late_spans.labels("kept").inc(spans)
            return
        held = self._window.get(trace_id)
        if held is None:
            if any(self._inspect(row, groups[row[0]][2])[1] is not None for row in notable):
                metrics.sampling_late_errors.labels("lost").inc()
                log.warning("an error signal arrived after its trace was dropped and let go", extra={"spans": spans})
            metrics.sampling_late_spans.labels("dropped").inc(spans)
            return
        # The trace is still held: the late spans join it, and an error among them brings it all back.
        had_error = held.error is not None
        self._release(self._window.add(held, entry, groups, lsns), "evicted")
        self._absorb(held, notable, groups, now)
        decision = None if had_error else self._engine.late_error(held)
        if decision is None:
            metrics.sampling_late_spans.labels("dropped").inc(spans)
            return
        self._window.release(trace_id)
        self._cache.record(trace_id, decision)
        metrics.sampling_late_errors.labels("saved").inc()
        metrics.sampling_late_spans.labels("saved").inc(spans)
        metrics.sampling_decisions.labels(decision.policy, "kept").inc()
        metrics.sampling_triggers.labels(decision.trigger).inc()
        payload = self._output.encode(held.groups, decision)
        self._hand_on(_Kept(trace_id, decision, payload, held.spans, False, tuple(held.lsns)))

    def _inspect(self, row: SpanRow, resource_values: dict[str, Value]) -> tuple[int, str | None, dict[str, Value]]:
        """A notable span's leaf bits, error reason (or None) and watched attribute values."""
        _, blob, _, root, code, _, _, name, has_events, _, watched = row
        return self._inspector.inspect(blob, root, code, name, has_events, resource_values, watched)

    def _release(self, spans: int, reason: str) -> None:
        if spans:
            self._metrics.sampling_regret_released_spans.labels(reason).inc(spans)

    # -- deciding --------------------------------------------------------------------------------------------
    async def tick(self) -> None:
        """Decide the traces that are due, and hand kept ones on. Runs every tick; tests call it directly."""
        now = self._clock()
        for trace in self._buffer.due(now):
            self._decide(trace, trace.due, now)
        self._release(self._window.expire(now), "expired")
        self._update_gauges()
        await self._flush()

    def _decide(self, trace: Trace, trigger: str, now: float) -> None:
        self._buffer.remove(trace)
        decision = self._engine.decide(trace, trigger, now)
        self._cache.record(trace.trace_id, decision)
        metrics = self._metrics
        outcome = "kept" if decision.keep else "dropped"
        metrics.sampling_decisions.labels(decision.policy, outcome).inc()
        metrics.sampling_decided_spans.labels(outcome).inc(trace.spans)
        metrics.sampling_triggers.labels(trigger).inc()
        metrics.sampling_decision_latency.observe(now - (trace.root_seen or trace.first_seen))
        if decision.keep:
            payload = self._output.encode(trace.groups, decision)
            self._hand_on(_Kept(trace.trace_id, decision, payload, trace.spans, False, tuple(trace.lsns)))
        elif trigger != "shutdown":
            self._release(self._window.hold(trace, now), "evicted")

    def _fits(self, needed: int, new: int) -> bool:
        held = self._buffer.size + self._outbox_bytes
        if held == 0:
            return True  # an oversized batch still goes into an empty buffer rather than being refused forever
        limits = self._config.buffer
        return held + needed <= limits.max_bytes and len(self._buffer.traces) + new <= limits.max_traces

    def _make_room(self, needed: int, new: int, now: float) -> None:
        """Decide traces early, healthy ones first and within each kind the heaviest and oldest first
        (Refinery's size x age impact), until the buffer is back under the relief level."""
        limits, buffer = self._config.buffer, self._buffer
        target_bytes = limits.max_bytes * _RELIEF - needed
        target_traces = limits.max_traces * _RELIEF - new
        wait = self._config.max_trace_wait

        def order(trace: Trace) -> tuple[bool, float]:
            return trace.error is not None, -trace.size * (1 + 4 * (now - trace.first_seen) / wait)

        for trace in sorted(buffer.traces.values(), key=order):
            if buffer.size <= target_bytes and len(buffer.traces) <= target_traces:
                break
            self._metrics.sampling_early_decisions.labels(str(trace.error is not None).lower()).inc()
            self._decide(trace, "memory_pressure", now)

    # -- handing on ------------------------------------------------------------------------------------------
    def _hand_on(self, kept: _Kept) -> None:
        self._outbox.append(kept)
        self._outbox_bytes += len(kept.payload)

    async def _flush(self) -> bool:
        """Hand kept traces to the next stage, merged into batches; False if it refused (they stay)."""
        outbox = self._outbox
        while outbox:
            taken: list[_Kept] = []
            traces: list[DecidedTrace] = []
            spans = size = 0
            while outbox and (
                not taken
                or (spans + outbox[0].spans <= _HANDOFF_SPANS and size + len(outbox[0].payload) <= _HANDOFF_BYTES)
            ):
                kept = outbox.popleft()
                taken.append(kept)
                traces.append(DecidedTrace(kept.trace_id, kept.decision, size, len(kept.payload), kept.late, kept.lsns))
                spans += kept.spans
                size += len(kept.payload)
            batch = Batch(None, spans, b"".join(kept.payload for kept in taken), traces)
            self._handing = taken
            try:
                await self._next.consume(batch)
            except Refused:
                outbox.extendleft(reversed(taken))
                return False
            finally:
                self._handing = []
            self._outbox_bytes -= size
        self._update_gauges()
        return True

    def _update_gauges(self) -> None:
        metrics, buffer = self._metrics, self._buffer
        metrics.sampling_traces.set(len(buffer.traces))
        metrics.sampling_spans.set(buffer.spans)
        metrics.sampling_bytes.set(buffer.size + self._outbox_bytes)
        metrics.sampling_regret_bytes.set(self._window.size)
