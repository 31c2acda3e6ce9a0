"""Decisions already made, so spans arriving after a decision follow it instead of starting a new trace.

Kept traces: an LRU of trace id -> the decision (policy, rate, tracestate threshold), to decorate late
spans the same way. Dropped traces: 64-bit fingerprints in two fixed-size open-addressing tables (16
bytes per id at most, no Python object per id); when the newer table is half full the older one is
discarded, so the most recent `size` / 2 to `size` dropped ids are always remembered. A fingerprint
collision (about 1 in 10^13 per lookup at the default size) would drop a new trace's spans.
"""

from array import array
from collections import OrderedDict

from failpath.consumer import Decision


class _Fingerprints:
    """A set of non-zero 64-bit integers in a linear-probing table with a fixed capacity."""

    __slots__ = ("_mask", "_slots", "count")

    def __init__(self, capacity: int) -> None:
        size = 1
        while size < capacity * 2:
            size <<= 1
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self.count = 0

    def add(self, print_: int) -> None:
        slots, mask = self._slots, self._mask
        index = print_ & mask
        while slots[index]:
            if slots[index] == print_:
                return
            index = (index + 1) & mask
        slots[index] = print_
        self.count += 1

    def __contains__(self, print_: int) -> bool:
        slots, mask = self._slots, self._mask
        index = print_ & mask
        while slot := slots[index]:
            if slot == print_:
                return True
            index = (index + 1) & mask
        return False


def _fingerprint(trace_id: bytes) -> int:
    # Trace ids are random; mixing both halves keeps ids that only differ in one half apart. Never 0.
    return (int.from_bytes(trace_id[:8], "little") ^ int.from_bytes(trace_id[8:16], "little")) or 1


class DecisionCache:
    def __init__(self, kept_size: int, dropped_size: int) -> None:
        self._kept: OrderedDict[bytes, Decision] = OrderedDict()
        self._kept_size = kept_size
        self._generation = max(1, dropped_size // 2)
        self._dropped_new = _Fingerprints(self._generation)
        self._dropped_old = _Fingerprints(1)

    def record(self, trace_id: bytes, decision: Decision) -> None:
        if decision.keep:
            self._kept[trace_id] = decision
            self._kept.move_to_end(trace_id)
            if len(self._kept) > self._kept_size:
                self._kept.popitem(last=False)
            return
        if self._dropped_new.count >= self._generation:
            self._dropped_old, self._dropped_new = self._dropped_new, _Fingerprints(self._generation)
        self._dropped_new.add(_fingerprint(trace_id))

    def lookup(self, trace_id: bytes) -> Decision | bool | None:
        """The kept decision, False if the trace was dropped, None if unknown (or forgotten)."""
        kept = self._kept.get(trace_id)
        if kept is not None:
            return kept
        print_ = _fingerprint(trace_id)
        if print_ in self._dropped_new or print_ in self._dropped_old:
            return False
        return None
