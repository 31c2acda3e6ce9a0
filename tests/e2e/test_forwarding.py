"""Real OTel SDK exporters -> failpath -> a real OTLP backend: every span arrives whole and unchanged."""

from pathlib import Path

import pytest

from tests.support.agent_run import assert_same_spans, emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.sink import OtlpSink


@pytest.mark.parametrize("sdk_protocol", ["grpc", "http"])
@pytest.mark.parametrize("backend_protocol", ["grpc", "http"])
def test_sdk_spans_reach_backend_unchanged(
    tmp_path: Path, sink: OtlpSink, sdk_protocol: str, backend_protocol: str
) -> None:
    endpoint = f"127.0.0.1:{sink.grpc_port}" if backend_protocol == "grpc" else f"http://127.0.0.1:{sink.http_port}"
    exporter = otlp_exporter("backend", endpoint, backend_protocol, headers={"x-tenant": "acme"})
    config = make_config(tmp_path, {"exporters": {"otlp": [exporter]}})
    with RunningFailpath(config) as failpath:
        target = failpath.grpc_endpoint if sdk_protocol == "grpc" else failpath.http_url
        sent = emit_runs(sdk_exporter(sdk_protocol, target), runs=3)
        sink.wait_for_spans(len(sent))
        assert failpath.metric("failpath_receiver_spans_accepted_total", transport=sdk_protocol) == len(sent)
    assert_same_spans(sent, sink.requests)
    # Configured headers reach the backend (gRPC metadata / HTTP headers).
    assert all({k.lower(): v for k, v in metadata.items()}.get("x-tenant") == "acme" for metadata in sink.metadata)
    assert failpath.metric("failpath_exporter_spans_exported_total", exporter="backend") == len(sent)
