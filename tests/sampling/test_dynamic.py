"""Rates that adapt to traffic: Refinery's allocator and EMA throughput sampler, and running duration
quantiles per workflow."""

from failpath.sampling.dynamic import DurationQuantiles, EmaThroughput, sample_rates


def test_rate_allocator_reproduces_refinery_worked_example() -> None:
    counts = {"A": 1000.0, "B": 100.0, "C": 10.0, "D": 1.0}
    # EMA throughput goal 10/s over 15 s: goal count 150 over sum(log10) = 6.
    assert sample_rates(150 / 6, counts) == {"A": 14, "B": 2, "C": 1, "D": 1}


def test_ema_throughput_starts_at_the_initial_rate_then_meets_the_goal() -> None:
    sampler = EmaThroughput(goal_per_second=10, interval=15, weight=0.5, initial_rate=7, max_keys=500)
    counts = {"A": 10_000, "B": 1000, "C": 10, "D": 1}
    for key, count in counts.items():
        assert sampler.rate(key, count, now=0) == 7
    # After the interval the average is half the counts (weight 0.5), shared out for 150 spans per interval.
    rates = {key: sampler.rate(key, 0, now=15) for key in counts}
    assert rates["A"] > rates["B"] > 1 and rates["C"] == 1 and rates["D"] == 1
    expected_kept = sum(count / 2 / rates[key] for key, count in counts.items())
    assert 100 <= expected_kept <= 200


def test_keys_past_max_keys_are_not_counted_and_get_rate_1() -> None:
    sampler = EmaThroughput(goal_per_second=1, interval=10, weight=0.5, initial_rate=1, max_keys=2)
    for key in ("a", "b", "c"):
        sampler.rate(key, 10_000, now=0)
    assert sampler.rate("c", 0, now=10) == 1
    assert sampler.rate("a", 0, now=10) > 1


def test_duration_quantile_waits_for_enough_samples_per_workflow() -> None:
    quantiles = DurationQuantiles(quantile=0.9, min_samples=10)
    for duration in range(1, 10):
        quantiles.add("refunds", duration)
    assert quantiles.threshold("refunds") is None
    quantiles.add("refunds", 10)
    assert quantiles.threshold("refunds") == 10  # index int(0.9 * 10) of 1..10
    assert quantiles.threshold("search") is None


def test_duration_quantile_forgets_the_least_recent_workflow_past_its_cap() -> None:
    quantiles = DurationQuantiles(quantile=0.5, min_samples=1, max_workflows=2)
    quantiles.add("a", 1)
    quantiles.add("b", 2)
    quantiles.add("a", 3)  # a is now the most recent
    quantiles.add("c", 4)
    assert quantiles.threshold("b") is None
    assert quantiles.threshold("a") is not None and quantiles.threshold("c") == 4
