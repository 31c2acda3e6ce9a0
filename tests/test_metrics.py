"""failpath's metrics: children looked up once per label values, counted in the registry as prometheus_client
counts them."""

import pytest

from failpath.metrics import Metrics


def test_remembered_children_count_in_the_registry() -> None:
    metrics = Metrics()
    first = metrics.sampling_decisions.labels("errors", "kept")
    assert metrics.sampling_decisions.labels("errors", "kept") is first
    first.inc()
    metrics.sampling_decisions.labels("errors", "kept").inc(2)
    metrics.sampling_decisions.labels(policy="errors", outcome="kept").inc()  # by name: the same series
    metrics.sampling_decisions.labels("errors", "dropped").inc()
    metrics.requests_in_flight.labels("grpc").inc()
    metrics.sampling_decision_latency.observe(0.5)
    sample = metrics.registry.get_sample_value
    assert sample("failpath_sampling_decisions_total", {"policy": "errors", "outcome": "kept"}) == 4
    assert sample("failpath_sampling_decisions_total", {"policy": "errors", "outcome": "dropped"}) == 1
    assert sample("failpath_receiver_requests_in_flight", {"transport": "grpc"}) == 1
    assert sample("failpath_sampling_decision_latency_seconds_count") == 1


def test_wrong_label_counts_are_still_refused() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="Incorrect label count"):
        metrics.sampling_decisions.labels("errors")
    with pytest.raises(ValueError, match="Incorrect label count"):
        metrics.sampling_decisions.labels("errors")  # not remembered either
