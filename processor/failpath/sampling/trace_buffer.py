"""Spans held per trace until the trace is decided, compactly: each span as its serialized bytes, grouped
under its resource and scope, which are serialized once and shared by every trace that uses them (the
sampling stage remembers each scope group by its bytes).

The buffer knows sizes and deadlines; it does not decide. A deadline heap with lazy deletion gives the
traces due at each tick without scanning the buffer.
"""

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from failpath.otlp import wire
from failpath.otlp.values import Value
from failpath.sampling.span_reading import TraceRows

# Bytes a buffered span costs beyond its serialized size (the bytes object and its list slot), so the
# memory bound is honest for small spans.
SPAN_OVERHEAD = 48
TRACE_OVERHEAD = 600

# (resource frame, scope frame): ResourceSpans fields without scope_spans, ScopeSpans fields without spans.
Group = tuple[bytes, bytes]
# What the spans under one scope of a request share: their group, and their resource's leaf bits and
# watched values.
ScopeGroup = tuple[Group, int, dict[str, Value]]


@dataclass(slots=True, eq=False)
class Trace:
    trace_id: bytes
    first_seen: float
    deadline: float
    # What makes the deadline due: "max_wait", or "root" once the root span moved it earlier.
    due: str = "max_wait"
    root_seen: float = 0.0
    groups: dict[Group, list[bytes]] = field(default_factory=dict)
    spans: int = 0
    size: int = 0
    # Span timestamps (ns): earliest start (a start of 0 is none), latest end; root start/end once the root
    # has arrived.
    start: int = 0
    end: int = 0
    root_start: int = 0
    root_end: int = 0
    has_root: bool = False
    workflow: str = ""
    # The root span's watched attribute values (over its resource's), for sampling keys.
    root_values: dict[str, Value] | None = None
    # OR of the condition-leaf bits its spans set.
    bits: int = 0
    # The first error signal seen, e.g. "status", "exception", "error.type".
    error: str | None = None
    # Tracestate of a span, for its explicit randomness (rv), when any span had one.
    trace_state: str = ""
    # The spool records its spans came from.
    lsns: list[int] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        if self.has_root:
            return self.root_end - self.root_start
        return self.end - self.start


class TraceBuffer:
    def __init__(self) -> None:
        self.traces: dict[bytes, Trace] = {}
        self.size = 0
        self.spans = 0
        # (deadline, order set, trace id): traces due at the same instant are decided in the order their
        # deadlines were set, so a run's attempts exported together are decided (and packed) in turn.
        self._deadlines: list[tuple[float, int, bytes]] = []
        self._order = itertools.count()

    def open(self, trace_id: bytes, now: float, deadline: float) -> Trace:
        trace = Trace(trace_id, now, deadline, size=TRACE_OVERHEAD)
        self.traces[trace_id] = trace
        self.size += TRACE_OVERHEAD
        heapq.heappush(self._deadlines, (deadline, next(self._order), trace_id))
        return trace

    def add(self, trace: Trace, entry: TraceRows, scopes: Sequence[ScopeGroup], lsns: tuple[int, ...]) -> None:
        """A request's spans of a buffered trace join it (see join)."""
        self.size += join(trace, entry, scopes, lsns)
        self.spans += entry[3]

    def move_deadline(self, trace: Trace, deadline: float) -> None:
        """Bring the decision forward (never back)."""
        if deadline < trace.deadline:
            trace.deadline = deadline
            heapq.heappush(self._deadlines, (deadline, next(self._order), trace.trace_id))

    def due(self, now: float) -> list[Trace]:
        """Traces whose deadline has come, oldest deadline first."""
        heap, traces = self._deadlines, self.traces
        found: list[Trace] = []
        while heap and heap[0][0] <= now:
            deadline, _, trace_id = heapq.heappop(heap)
            trace = traces.get(trace_id)
            if trace is not None and trace.deadline == deadline:
                found.append(trace)
        return found

    def remove(self, trace: Trace) -> None:
        del self.traces[trace.trace_id]
        self.size -= trace.size
        self.spans -= trace.spans
        # Stale heap entries are skipped by due(); rebuild when they dominate, to keep the heap bounded.
        if len(self._deadlines) > 4 * len(self.traces) + 1024:
            self._deadlines = [(t.deadline, next(self._order), t.trace_id) for t in self.traces.values()]
            heapq.heapify(self._deadlines)


def join(trace: Trace, entry: TraceRows, scopes: Sequence[ScopeGroup], lsns: tuple[int, ...]) -> int:
    """A request's spans of a trace join it: each run of them under its scope's group (the lists are taken,
    not copied), their resources' leaf bits, counts and times, and the spool records they came from (each
    request is one record). Returns what they cost in memory. Their rows (notable spans) are not read here.
    Called for every trace of every request: one function, no generators."""
    _, runs, _, spans, size, start, end = entry
    held, bits = trace.groups, trace.bits
    for scope, blobs in runs:
        group, group_bits, _ = scopes[scope]
        bits |= group_bits
        run = held.get(group)
        if run is None:
            held[group] = blobs
        else:
            run.extend(blobs)
    trace.bits = bits
    trace.lsns.extend(lsns)
    if start and (trace.start == 0 or start < trace.start):
        trace.start = start
    trace.end = max(trace.end, end)
    cost = size + spans * SPAN_OVERHEAD
    trace.spans += spans
    trace.size += cost
    return cost


def resource_frame(resource: bytes, schema_url: bytes) -> bytes:
    frame = wire.field(wire.RESOURCE, resource)
    return frame + wire.field(wire.SCHEMA_URL, schema_url) if schema_url else frame


def scope_frame(scope: bytes, schema_url: bytes) -> bytes:
    frame = wire.field(wire.SCOPE, scope)
    return frame + wire.field(wire.SCHEMA_URL, schema_url) if schema_url else frame
