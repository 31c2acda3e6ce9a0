"""Decisions already made: kept traces in an LRU with their decision, dropped ones as fingerprints in two
rotating tables that always remember the most recent size/2 to size ids."""

import os

from failpath.consumer import Decision
from failpath.sampling.decision_cache import DecisionCache

KEEP = Decision(True, "errors", 1.0, None, "root", "status")
DROP = Decision(False, "probabilistic", 1.0, None, "root")


def test_a_kept_trace_returns_its_decision_a_dropped_one_false_an_unknown_none() -> None:
    cache = DecisionCache(kept_size=10, dropped_size=10)
    kept, dropped = os.urandom(16), os.urandom(16)
    cache.record(kept, KEEP)
    cache.record(dropped, DROP)
    assert cache.lookup(kept) is KEEP
    assert cache.lookup(dropped) is False
    assert cache.lookup(os.urandom(16)) is None


def test_kept_traces_are_forgotten_least_recently_recorded_first() -> None:
    cache = DecisionCache(kept_size=3, dropped_size=10)
    ids = [os.urandom(16) for _ in range(4)]
    for trace_id in ids:
        cache.record(trace_id, KEEP)
    assert cache.lookup(ids[0]) is None
    assert all(cache.lookup(trace_id) is KEEP for trace_id in ids[1:])


def test_the_most_recent_half_of_dropped_traces_is_always_remembered() -> None:
    size = 1000
    cache = DecisionCache(kept_size=10, dropped_size=size)
    ids = [os.urandom(16) for _ in range(5 * size)]
    for count, trace_id in enumerate(ids, start=1):
        cache.record(trace_id, DROP)
        if count % 997 == 0:
            assert all(cache.lookup(recent) is False for recent in ids[max(0, count - size // 2) : count])
    remembered = sum(cache.lookup(trace_id) is False for trace_id in ids)
    assert size // 2 <= remembered <= size
    assert cache.lookup(ids[0]) is None  # long gone


def test_ids_that_differ_in_one_half_stay_apart() -> None:
    cache = DecisionCache(kept_size=10, dropped_size=100)
    dropped = bytes(8) + os.urandom(8)
    cache.record(dropped, DROP)
    assert cache.lookup(os.urandom(8) + dropped[8:]) is None
    assert cache.lookup(dropped[:8] + os.urandom(8)) is None
