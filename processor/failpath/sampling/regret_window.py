"""Dropped traces, held a while longer: a span with an error signal can arrive after its trace was decided
(an SDK exporting in batches, a retried export), and then the whole trace must come back, not just that
span. Held oldest first, bounded by age and bytes; what falls out is counted by the caller.
"""

from collections import OrderedDict
from collections.abc import Sequence

from failpath.sampling.span_reading import TraceRows
from failpath.sampling.trace_buffer import ScopeGroup, Trace, join


class RegretWindow:
    def __init__(self, duration: float, max_bytes: int) -> None:
        self._duration = duration
        self._max_bytes = max_bytes
        # trace id -> (when it falls out, the trace as it was decided, plus late spans)
        self._held: OrderedDict[bytes, tuple[float, Trace]] = OrderedDict()
        self.size = 0

    @property
    def enabled(self) -> bool:
        return self._duration > 0 and self._max_bytes > 0

    def hold(self, trace: Trace, now: float) -> int:
        """Hold a dropped trace; returns the spans of older traces that fell out to make room."""
        if not self.enabled or trace.size > self._max_bytes:
            return 0
        self._held[trace.trace_id] = (now + self._duration, trace)
        self.size += trace.size
        return self._shed()

    def get(self, trace_id: bytes) -> Trace | None:
        entry = self._held.get(trace_id)
        return entry[1] if entry is not None else None

    def add(self, trace: Trace, entry: TraceRows, scopes: Sequence[ScopeGroup], lsns: tuple[int, ...]) -> int:
        """Late spans of a held trace join it (as TraceBuffer.add); returns the spans that fell out to make
        room. (A trace that fell out meanwhile still takes them, for the caller, without counting against the
        window.)"""
        cost = join(trace, entry, scopes, lsns)
        if trace.trace_id not in self._held:
            return 0
        self.size += cost
        return self._shed()

    def release(self, trace_id: bytes) -> None:
        entry = self._held.pop(trace_id, None)
        if entry is not None:
            self.size -= entry[1].size

    def expire(self, now: float) -> int:
        """Let go of the traces held long enough; returns their spans."""
        spans = 0
        while self._held:
            if next(iter(self._held.values()))[0] > now:
                break
            spans += self._pop_oldest()
        return spans

    def _shed(self) -> int:
        spans = 0
        while self.size > self._max_bytes and self._held:
            spans += self._pop_oldest()
        return spans

    def _pop_oldest(self) -> int:
        _, (_, trace) = self._held.popitem(last=False)
        self.size -= trace.size
        return trace.spans
