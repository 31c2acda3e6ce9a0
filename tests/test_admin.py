"""The admin endpoint: liveness, readiness and Prometheus metrics."""

import socket
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from failpath.metrics import label_value
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.requests import build_request


def test_health_ready_and_metrics(tmp_path: Path) -> None:
    with RunningFailpath(make_config(tmp_path)) as failpath:
        assert request(f"{failpath.admin_url}/healthz", method="GET")[0] == 200
        status, _, body = request(f"{failpath.admin_url}/readyz", method="GET")
        assert (status, body) == (200, b'{"status": "ready"}')
        body = build_request(spans=3).SerializeToString()
        assert request(failpath.http_url, body, {"Content-Type": "application/x-protobuf"})[0] == 200
        request(failpath.http_url, b"x", {"Content-Type": "text/plain"})
        status, headers, page = request(f"{failpath.admin_url}/metrics", method="GET")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.decode())
        for sample in family.samples
    }
    assert samples[("failpath_receiver_requests_total", (("transport", "http"),))] == 2
    assert samples[("failpath_receiver_spans_accepted_total", (("transport", "http"),))] == 3
    assert (
        samples[("failpath_receiver_requests_refused_total", (("reason", "content_type"), ("transport", "http")))] == 1
    )
    names = {name for name, _ in samples}
    for expected in (
        "failpath_exporter_queue_spans",
        "failpath_exporter_queue_bytes",
        "failpath_exporter_spans_in_flight",
        "failpath_receiver_requests_in_flight",
    ):
        assert expected in names


def test_admin_and_receivers_bind_only_what_config_asks(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"receivers": {"otlp": {"grpc": {"enabled": False}}}, "admin": {"enabled": False}})
    with RunningFailpath(config) as failpath:
        assert failpath.pipeline.grpc is None and failpath.pipeline.admin is None
        assert request(failpath.http_url, b"", {"Content-Type": "application/x-protobuf"})[0] == 200


def test_ipv6_loopback_endpoints(tmp_path: Path) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    config = make_config(
        tmp_path,
        {
            "receivers": {"otlp": {"grpc": {"endpoint": "[::1]:0"}, "http": {"endpoint": "[::1]:0"}}},
            "admin": {"endpoint": "[::1]:0"},
        },
    )
    body = build_request(spans=2).SerializeToString()
    with RunningFailpath(config) as failpath:
        assert failpath.pipeline.http is not None and failpath.pipeline.grpc is not None
        status, _, _ = request(
            f"http://[::1]:{failpath.pipeline.http.port}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
        )
        assert status == 200
        with grpc.insecure_channel(f"[::1]:{failpath.pipeline.grpc.port}") as channel:
            channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export", None, None)(
                body, timeout=5
            )
        assert failpath.metric("failpath_receiver_spans_accepted_total", transport="grpc") == 2
        assert failpath.metric("failpath_receiver_spans_accepted_total", transport="http") == 2


def test_metrics_can_require_a_token_while_probes_never_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILPATH_ADMIN_TOKEN", "admin-token-for-tests")
    config = make_config(tmp_path, {"admin": {"auth": {"token_env": "FAILPATH_ADMIN_TOKEN"}}})
    with RunningFailpath(config) as failpath:
        for probe in ("/healthz", "/readyz"):
            assert request(f"{failpath.admin_url}{probe}", method="GET")[0] == 200
        status, headers, _ = request(f"{failpath.admin_url}/metrics", method="GET")
        assert (status, headers["www-authenticate"]) == (401, "Bearer")
        wrong = {"Authorization": "Bearer nope"}
        assert request(f"{failpath.admin_url}/metrics", method="GET", headers=wrong)[0] == 401
        right = {"Authorization": "bearer admin-token-for-tests"}
        status, _, page = request(f"{failpath.admin_url}/metrics", method="GET", headers=right)
        assert status == 200 and b"failpath_receiver_requests_total" in page


def test_workflow_label_values_are_capped_and_cleaned() -> None:
    assert label_value("refunds") == "refunds"
    long_names = [label_value("w" * 5000), label_value("w" * 4999)]
    assert all(len(name) == 64 for name in long_names) and long_names[0] != long_names[1]
    assert label_value('a\nb\x00{c}="d"é') == "a_b__c___d__"
    assert label_value("") == "_empty"
