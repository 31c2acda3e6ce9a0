"""Rates that adapt to traffic: Refinery's EMA throughput sampler, and running duration quantiles.

EMA throughput (after honeycombio/dynsampler-go): spans are counted per key over each adjustment
interval; an exponential moving average of those counts is shared out so the expected kept spans per
second meet the goal, each key's share growing with the log of its volume, so rare keys are kept whole
and frequent keys sampled harder. Unused budget passes on to later keys.
"""

import math
from collections import OrderedDict, deque


def sample_rates(goal_ratio: float, counts: dict[str, float]) -> dict[str, int]:
    """dynsampler's allocator: a logarithmic share of the goal per key (alphabetical order, so rounding
    is deterministic), unused budget passed on to later keys."""
    rates: dict[str, int] = {}
    extra = 0.0
    remaining = len(counts)
    for key in sorted(counts):
        count = max(1.0, counts[key])
        goal = max(1.0, math.log10(count) * goal_ratio)
        share = extra / remaining
        goal += share
        extra -= share
        remaining -= 1
        if count <= goal:
            rates[key] = 1
            extra += goal - count
        else:
            rates[key] = math.ceil(count / goal)
            extra += goal - count / rates[key]
    return rates


class EmaThroughput:
    def __init__(
        self, goal_per_second: float, interval: float, weight: float, initial_rate: int, max_keys: int
    ) -> None:
        self._goal_count = goal_per_second * interval
        self._interval = interval
        self._weight = weight
        self._initial_rate = initial_rate
        self._max_keys = max_keys
        self._counts: dict[str, float] = {}
        self._ema: dict[str, float] = {}
        self._rates: dict[str, int] | None = None
        self._next_adjustment: float | None = None

    def rate(self, key: str, spans: int, now: float) -> int:
        """The rate for a trace of this key and size (1 in N kept); counts it toward the next adjustment."""
        if self._next_adjustment is None:
            self._next_adjustment = now + self._interval
        elif now >= self._next_adjustment:
            self._adjust()
            self._next_adjustment = now + self._interval
        if key in self._counts or len(self._counts) < self._max_keys:
            self._counts[key] = self._counts.get(key, 0.0) + spans
        if self._rates is None:
            return self._initial_rate
        return self._rates.get(key, 1)

    def _adjust(self) -> None:
        counts, self._counts = self._counts, {}
        if not counts:
            return  # an interval without traffic does not decay the average (outages keep their rates)
        weight, ema = self._weight, self._ema
        for key in ema.keys() | counts.keys():
            ema[key] = weight * counts.get(key, 0.0) + (1 - weight) * ema.get(key, 0.0)
        for key in [key for key, value in ema.items() if value < weight]:
            del ema[key]
        log_sum = sum(math.log10(max(1.0, value)) for value in ema.values())
        if log_sum == 0:
            self._rates = dict.fromkeys(ema, 1)
            return
        self._rates = sample_rates(self._goal_count / log_sum, ema)


class DurationQuantiles:
    """Per workflow, its last `window` durations and their quantile, recomputed after every 1/16th of
    the samples has changed (sorting on every trace would cost more than the rest of the decision)."""

    def __init__(self, quantile: float, min_samples: int, window: int = 1024, max_workflows: int = 1000) -> None:
        self._quantile = quantile
        self._min_samples = min_samples
        self._window = max(window, min_samples)
        self._max_workflows = max_workflows
        # workflow -> (recent durations, additions since the quantile was computed, the quantile)
        self._workflows: OrderedDict[str, tuple[deque[int], list[int]]] = OrderedDict()

    def add(self, workflow: str, duration_ns: int) -> None:
        entry = self._workflows.get(workflow)
        if entry is None:
            if len(self._workflows) >= self._max_workflows:
                self._workflows.popitem(last=False)
            entry = self._workflows[workflow] = (deque(maxlen=self._window), [0, -1])
        else:
            self._workflows.move_to_end(workflow)
        entry[0].append(duration_ns)
        entry[1][0] += 1

    def threshold(self, workflow: str) -> int | None:
        """The quantile of the workflow's recent durations, or None while there are too few."""
        entry = self._workflows.get(workflow)
        if entry is None or len(entry[0]) < self._min_samples:
            return None
        samples, state = entry
        if state[1] < 0 or state[0] >= max(1, len(samples) // 16):
            ordered = sorted(samples)
            state[1] = ordered[min(len(ordered) - 1, int(self._quantile * len(ordered)))]
            state[0] = 0
        return state[1]
