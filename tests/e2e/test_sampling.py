"""Real OTel SDK -> failpath with tail sampling -> a real OTLP backend."""

import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags

from tests.support.agent_run import assert_same_spans, emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.sink import OtlpSink
from tests.support.traces import attribute

SAMPLING = {
    "enabled": True,
    "decision_wait": "200ms",
    "policies": [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 0}],
}


def _trace_ids(spans: list[ReadableSpan]) -> set[bytes]:
    ids = set()
    for span in spans:
        context = span.get_span_context()
        assert context is not None
        ids.add(context.trace_id.to_bytes(16, "big"))
    return ids


def _emit_late_span(target: str, root: ReadableSpan, error: str | None = None) -> None:
    """A span of an already decided trace, as a straggling worker of the same run would send it."""
    context = root.get_span_context()
    assert context is not None
    parent = SpanContext(context.trace_id, context.span_id, is_remote=True, trace_flags=TraceFlags(1))
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(sdk_exporter("grpc", target)))
    tracer = provider.get_tracer("failpath.tests")
    with tracer.start_as_current_span(
        "late cleanup", context=trace.set_span_in_context(NonRecordingSpan(parent))
    ) as span:
        if error is not None:
            span.set_status(StatusCode.ERROR, error)
    provider.shutdown()


def test_error_runs_arrive_whole_healthy_runs_are_dropped_late_spans_follow(tmp_path: Path, sink: OtlpSink) -> None:
    exporter = otlp_exporter("backend", f"127.0.0.1:{sink.grpc_port}")
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter]}, "sampling": SAMPLING})
    with RunningFailpath(config) as failpath:
        failed = emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2, fail_tool=True)
        healthy = emit_runs(sdk_exporter("http", failpath.http_url), runs=3, fail_tool=False)
        sink.wait_for_spans(len(failed))
        deadline = time.monotonic() + 10
        while failpath.metric("failpath_sampling_decisions_total", policy="rest", outcome="dropped") < 3:
            assert time.monotonic() < deadline, "healthy runs were not decided"
            time.sleep(0.05)
        assert_same_spans(failed, sink.requests, added="failpath.sampling.")
        assert {span.trace_id for span in sink.spans()} == _trace_ids(failed)
        assert {attribute(span, "failpath.sampling.policy") for span in sink.spans()} == {"errors"}
        assert failpath.metric("failpath_sampling_decided_spans_total", outcome="dropped") == len(healthy)

        root = next(span for span in failed if span.parent is None)
        _emit_late_span(failpath.grpc_endpoint, root)
        late = sink.wait_for_spans(len(failed) + 1)[-1]
        assert late.name == "late cleanup"
        assert attribute(late, "failpath.sampling.late") is True
        assert attribute(late, "failpath.sampling.policy") == "errors"
        assert failpath.metric("failpath_sampling_late_spans_total", outcome="kept") == 1


def _wait(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_late_error_brings_its_dropped_run_back_whole_with_a_packet(tmp_path: Path, sink: OtlpSink) -> None:
    exporter = otlp_exporter("backend", f"127.0.0.1:{sink.grpc_port}")
    sampling = {**SAMPLING, "regret_window": {"duration": "3s"}}
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter]}, "sampling": sampling})
    with RunningFailpath(config) as failpath:
        runs = emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2, fail_tool=False)
        _wait(
            lambda: failpath.metric("failpath_sampling_decisions_total", policy="rest", outcome="dropped") == 2,
            "the healthy runs were not decided",
        )
        first, second = (span for span in runs if span.parent is None)
        # Within the window: the run comes back whole, marked, and gets its packet.
        _emit_late_span(failpath.grpc_endpoint, first, error="callback failed after the answer")
        received = sink.wait_for_spans(len(runs) // 2 + 1)
        assert {span.trace_id for span in received} == _trace_ids([first])
        assert {attribute(span, "failpath.sampling.late_error") for span in received} == {True}
        assert {attribute(span, "failpath.sampling.policy") for span in received} == {"errors"}
        _wait(lambda: failpath.metric_sum("failpath_packets_written_total") == 1, "no packet for the saved run")
        assert failpath.metric("failpath_sampling_late_errors_total", outcome="saved") == 1
        # After the window: counted as lost, not silently gone.
        _wait(lambda: failpath.metric("failpath_sampling_regret_window_bytes") == 0, "the window never let go", 6)
        _emit_late_span(failpath.grpc_endpoint, second, error="callback failed after the answer")
        _wait(lambda: failpath.metric("failpath_sampling_late_errors_total", outcome="lost") == 1, "not counted")
        assert len(sink.spans()) == len(received)


def test_shutdown_forwards_kept_traces_still_buffered(tmp_path: Path, sink: OtlpSink) -> None:
    exporter = otlp_exporter("backend", f"127.0.0.1:{sink.grpc_port}")
    # A decision wait far beyond the test: only shutdown can decide these traces.
    config = make_config(
        tmp_path, {"exporters": {"otlp": [exporter]}, "sampling": {**SAMPLING, "decision_wait": "10m"}}
    )
    with RunningFailpath(config) as failpath:
        failed = emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2, fail_tool=True)
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2, fail_tool=False)
        deadline = time.monotonic() + 10
        while failpath.metric("failpath_sampling_buffer_traces") < 4:
            assert time.monotonic() < deadline, "runs did not reach the buffer"
            time.sleep(0.05)
        assert sink.span_count() == 0
    assert_same_spans(failed, sink.requests, added="failpath.sampling.")
    assert {attribute(span, "failpath.sampling.trigger") for span in sink.spans()} == {"shutdown"}
