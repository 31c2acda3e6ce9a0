"""Exponential backoff with jitter, as the Collector's retry_on_failure does it."""

import random
from collections.abc import Callable

from failpath.exporters.config import RetryConfig


class Backoff:
    def __init__(self, config: RetryConfig, rng: Callable[[], float] = random.random) -> None:
        self._config = config
        self._rng = rng
        self._interval = config.initial_interval

    def next_delay(self) -> float:
        """The next wait: the current interval +- randomization_factor, then the interval grows."""
        spread = self._config.randomization_factor * self._interval
        delay = self._interval - spread + 2 * spread * self._rng()
        self._interval = min(self._interval * self._config.multiplier, self._config.max_interval)
        return delay
