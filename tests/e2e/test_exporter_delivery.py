"""Exporter behaviour: retry until the backend is back, never retry permanent errors, push back when full."""

import json
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.http import request
from tests.support.ports import free_port
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _wait(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_spans_arrive_once_a_down_backend_comes_up(tmp_path: Path, protocol: str) -> None:
    port = free_port()
    endpoint = f"127.0.0.1:{port}" if protocol == "grpc" else f"http://127.0.0.1:{port}"
    config = make_config(tmp_path, {"exporters": {"otlp": [otlp_exporter("late", endpoint, protocol)]}})
    late = OtlpSink(grpc_port=port)
    with RunningFailpath(config) as failpath:
        sent = [build_request(spans=3) for _ in range(4)]
        for message in sent:
            status, _, _ = request(failpath.http_url, message.SerializeToString(), PROTOBUF)
            assert status == 200
        _wait(
            lambda: (
                failpath.metric("failpath_exporter_send_failures_total", exporter="late", reason="unavailable")
                + failpath.metric("failpath_exporter_send_failures_total", exporter="late", reason="unreachable")
                >= 2
            )
        )
        if protocol == "grpc":
            late.start_grpc()
        else:
            late.start_http_on(port)
        try:
            late.wait_for_spans(12)
            assert sorted(s.span_id for s in late.spans()) == sorted(
                s.span_id for m in sent for s in m.resource_spans[0].scope_spans[0].spans
            )
            _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="late") == 12)
        finally:
            late.stop()
    assert failpath.metric("failpath_exporter_spans_dropped_total", exporter="late", reason="shutdown") == 0


def test_retryable_backend_errors_are_retried(tmp_path: Path, sink: OtlpSink) -> None:
    sink.fail(grpc.StatusCode.UNAVAILABLE, 503, times=3)
    config = make_config(tmp_path, {"exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]}})
    with RunningFailpath(config) as failpath:
        status, _, _ = request(failpath.http_url, build_request(spans=2).SerializeToString(), PROTOBUF)
        assert status == 200
        sink.wait_for_spans(2)
        assert sink.failed_attempts == 3
        _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="sink") == 2)
        assert failpath.metric("failpath_exporter_send_failures_total", exporter="sink", reason="unavailable") == 3


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_permanent_errors_are_not_retried_but_counted(tmp_path: Path, sink: OtlpSink, protocol: str) -> None:
    sink.fail(grpc.StatusCode.INVALID_ARGUMENT, 400, times=1)
    endpoint = f"127.0.0.1:{sink.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{sink.http_port}"
    config = make_config(tmp_path, {"exporters": {"otlp": [otlp_exporter("sink", endpoint, protocol)]}})
    reason = "invalid_argument" if protocol == "grpc" else "http_400"
    with RunningFailpath(config) as failpath:
        request(failpath.http_url, build_request(spans=2).SerializeToString(), PROTOBUF)
        _wait(lambda: failpath.metric("failpath_exporter_spans_dropped_total", exporter="sink", reason=reason) == 2)
        status, _, body = request(f"{failpath.admin_url}/readyz", method="GET")
        assert status == 503
        assert "permanent" in json.loads(body)["problems"][0]
        # The next batch succeeds: counted as exported, and the exporter is ready again.
        request(failpath.http_url, build_request(spans=3).SerializeToString(), PROTOBUF)
        sink.wait_for_spans(3)
        assert sink.failed_attempts == 1
        _wait(lambda: request(f"{failpath.admin_url}/readyz", method="GET")[0] == 200)
        assert failpath.metric("failpath_exporter_send_failures_total", exporter="sink", reason=reason) == 1


def test_full_queue_pushes_back_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    port = free_port()
    exporter = otlp_exporter("slow", f"127.0.0.1:{port}", queue={"max_spans": 10})
    config = make_config(
        tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}, "jsonl": {"enabled": True}}}
    )
    late = OtlpSink(grpc_port=port)
    with RunningFailpath(config) as failpath:
        accepted: list[bytes] = []
        for _ in range(2):
            message = build_request(spans=4)
            assert request(failpath.http_url, message.SerializeToString(), PROTOBUF)[0] == 200
            accepted.extend(s.span_id for s in message.resource_spans[0].scope_spans[0].spans)
        # HTTP: 503 with Retry-After and a google.rpc.Status body.
        status, headers, body = request(failpath.http_url, build_request(spans=4).SerializeToString(), PROTOBUF)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert "queue is full" in status_pb2.Status.FromString(body).message
        # gRPC: UNAVAILABLE with RetryInfo, so SDK exporters retry.
        with grpc.insecure_channel(failpath.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary(EXPORT, None, None)(build_request(spans=4).SerializeToString(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        trailer: dict[str, bytes] = dict(caught.value.trailing_metadata())  # type: ignore[arg-type]
        details = trailer["grpc-status-details-bin"]
        info = error_details_pb2.RetryInfo()
        assert status_pb2.Status.FromString(details).details[0].Unpack(info)
        assert info.retry_delay.seconds == 1
        assert failpath.metric("failpath_receiver_spans_refused_total", transport="http", reason="overloaded") == 4
        assert failpath.metric("failpath_receiver_spans_refused_total", transport="grpc", reason="overloaded") == 4

        late.start_grpc()
        try:
            late.wait_for_spans(8)
            assert sorted(s.span_id for s in late.spans()) == sorted(accepted)
            # Room again: the next request is accepted.
            assert request(failpath.http_url, build_request(spans=4).SerializeToString(), PROTOBUF)[0] == 200
            late.wait_for_spans(12)
        finally:
            late.stop()
    # The other exporter (jsonl) got exactly what was acknowledged too: all or nothing per batch.
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    assert sum(len(json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]) for line in lines) == 12


def test_queue_is_bounded_in_bytes_too(tmp_path: Path) -> None:
    port = free_port()
    exporter = otlp_exporter("slow", f"127.0.0.1:{port}", queue={"max_spans": 100_000, "max_bytes": "4KiB"})
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}}})
    with RunningFailpath(config) as failpath:
        body = build_request(spans=1, text="x" * 1500).SerializeToString()
        statuses = [request(failpath.http_url, body, PROTOBUF)[0] for _ in range(4)]
        # Two fit in 4 KiB; the third would not.
        assert statuses == [200, 200, 503, 503]
        assert failpath.metric("failpath_exporter_queue_bytes", exporter="slow") == 2 * len(body)


def test_queued_requests_are_merged_into_fewer_sends(tmp_path: Path) -> None:
    port = free_port()
    exporter = otlp_exporter("late", f"127.0.0.1:{port}", queue={"consumers": 1, "batch_max_spans": 6})
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}}})
    late = OtlpSink(grpc_port=port)
    with RunningFailpath(config) as failpath:
        sent = [build_request(spans=2) for _ in range(9)]
        for message in sent:
            assert request(failpath.http_url, message.SerializeToString(), PROTOBUF)[0] == 200
        late.start_grpc()
        try:
            late.wait_for_spans(18)
        finally:
            late.stop()
    sizes = [sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans) for r in late.requests]
    assert sum(sizes) == 18
    assert len(sizes) < 9 and max(sizes) <= 6
    assert sorted(s.span_id for s in late.spans()) == sorted(
        s.span_id for m in sent for s in m.resource_spans[0].scope_spans[0].spans
    )


def test_slow_backend_times_out_and_is_retried(tmp_path: Path, sink: OtlpSink) -> None:
    sink.delay = 1.0
    exporter = otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}", timeout="200ms")
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}}})
    with RunningFailpath(config) as failpath:
        sent = build_request(spans=2)
        assert request(failpath.http_url, sent.SerializeToString(), PROTOBUF)[0] == 200
        _wait(
            lambda: (
                failpath.metric("failpath_exporter_send_failures_total", exporter="sink", reason="deadline_exceeded")
                >= 1
            )
        )
        sink.delay = 0.0
        _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="sink") == 2)
    # At-least-once: the timed-out attempt may still have landed, but every span did.
    assert {s.span_id for s in sink.spans()} == {s.span_id for s in sent.resource_spans[0].scope_spans[0].spans}


def test_http_backend_retry_after_is_honoured(tmp_path: Path, sink: OtlpSink) -> None:
    sink.fail(grpc.StatusCode.UNAVAILABLE, 429, times=1)
    sink.retry_after = 1
    exporter = otlp_exporter("sink", f"http://127.0.0.1:{sink.http_port}", "http")  # backoff starts at 50 ms
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter], "store": {"enabled": False}}})
    with RunningFailpath(config) as failpath:
        assert request(failpath.http_url, build_request(spans=2).SerializeToString(), PROTOBUF)[0] == 200
        sink.wait_for_spans(2)
        assert failpath.metric("failpath_exporter_send_failures_total", exporter="sink", reason="http_429") == 1
    first, second = sink.attempt_times[:2]
    assert second - first >= 0.95


def test_grpc_backend_retry_info_is_honoured(tmp_path: Path) -> None:
    """B's queue is full (its own backend is down): it answers UNAVAILABLE with RetryInfo 1 s. A, whose own
    backoff starts at 50 ms, must not come back sooner than B asked."""
    down = free_port()
    down_exporter = otlp_exporter("down", f"127.0.0.1:{down}", queue={"max_spans": 2})
    backend = make_config(
        tmp_path / "b",
        {
            "receivers": {"otlp": {"retry_after": "1s"}},
            "exporters": {"otlp": [down_exporter], "store": {"enabled": False}},
            "service": {"shutdown_timeout": "200ms"},  # nothing will drain: the backends stay down
        },
    )
    with RunningFailpath(backend) as failpath_b:
        exporter = otlp_exporter("b", failpath_b.grpc_endpoint, queue={"batch_max_spans": 2, "consumers": 1})
        front = make_config(
            tmp_path / "a",
            {"exporters": {"otlp": [exporter], "store": {"enabled": False}}, "service": {"shutdown_timeout": "200ms"}},
        )
        with RunningFailpath(front) as failpath_a:
            for _ in range(2):
                body = build_request(spans=2).SerializeToString()
                assert request(failpath_a.http_url, body, PROTOBUF)[0] == 200
            _wait(
                lambda: (
                    failpath_b.metric("failpath_receiver_requests_refused_total", transport="grpc", reason="overloaded")
                    >= 1
                )
            )
            time.sleep(2.5)
            refused = failpath_b.metric(
                "failpath_receiver_requests_refused_total", transport="grpc", reason="overloaded"
            )
    # With 50-200 ms backoff alone there would be well over ten attempts in 2.5 s.
    assert 2 <= refused <= 4
