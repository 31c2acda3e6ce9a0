"""Backoff between retries: grows by the multiplier up to max_interval, each wait jittered by
randomization_factor around the current interval (as the Collector's retry_on_failure)."""

import pytest

from failpath.exporters.config import RetryConfig
from failpath.exporters.retry import Backoff


def _delays(config: RetryConfig, draws: list[float]) -> list[float]:
    values = iter(draws)
    backoff = Backoff(config, rng=lambda: next(values))
    return [round(backoff.next_delay(), 6) for _ in draws]


def test_the_interval_grows_by_the_multiplier_up_to_the_cap() -> None:
    config = RetryConfig(initial_interval=1, max_interval=5, multiplier=2, randomization_factor=0)
    assert _delays(config, [0.5] * 6) == [1, 2, 4, 5, 5, 5]


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.5), (0.5, 1.0), (0.999999, 1.499999)])
def test_each_wait_is_jittered_within_the_factor(draw: float, expected: float) -> None:
    config = RetryConfig(initial_interval=1, max_interval=1, randomization_factor=0.5)
    assert _delays(config, [draw]) == [expected]


def test_the_config_refuses_a_cap_below_the_first_interval() -> None:
    with pytest.raises(ValueError, match="max_interval must be at least initial_interval"):
        RetryConfig(initial_interval=5, max_interval=1)
