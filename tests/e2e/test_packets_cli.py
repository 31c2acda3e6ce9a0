"""Real OTel SDK -> failpath -> replay packet on disk -> the `failpath replay / packets / buckets` commands."""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from failpath.config import load_config
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file
from failpath.recorded import RecordingExhausted, load
from tests.support.agent_run import emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath
from tests.support.http import request
from tests.support.ports import free_port
from tests.support.sink import OtlpSink

ROOT = Path(__file__).parents[2]

SAMPLING = {
    "decision_wait": "100ms",
    "policies": [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 0}],
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command run from a directory outside the checkout, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "failpath", *args],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _config_file(folder: Path) -> Path:
    """A failpath config keeping its data under folder, on ports of its own."""
    path = folder / "failpath.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(folder / "data"),
                "receivers": {"otlp": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}},
                "admin": {"enabled": False},
                "sampling": SAMPLING,
                "logging": {"level": "warning"},
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Packet]:
    """A config file, and the packet failpath wrote for one failing SDK run."""
    tmp = tmp_path_factory.mktemp("packets")
    config_path = _config_file(tmp)
    with RunningFailpath(load_config(config_path)) as failpath:
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=1, fail_tool=True)
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=1, fail_tool=False)
        deadline = time.monotonic() + 15
        while not failpath.metric("failpath_packets_written_total", bucket="tool_execution"):
            assert time.monotonic() < deadline, "no packet was written"
            time.sleep(0.05)
    [path] = (tmp / "data" / "replay").glob("*/*.json")
    return config_path, load_file(path)


def test_replay_by_trace_id_prefix_prints_what_broke_and_what_to_do(recorded: tuple[Path, Packet]) -> None:
    config_path, packet = recorded
    result = _cli("replay", packet["trace_id"][:8], "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        f"trace_id: {packet['trace_id']}",
        "workflow: invoke_agent support",
        "selected_model: gpt-x",
        "replayed_steps: planner -> retriever -> model -> tool:search -> tool:deploy -> verifier",
        "failure_bucket: tool_execution",
        f"next_action: {packet['next_action']}",
    ]
    assert "Re-run tool deploy" in packet["next_action"]
    as_json = _cli("replay", packet["trace_id"], "--json", "--config", str(config_path))
    assert json.loads(as_json.stdout) == packet


def test_packets_list_show_and_buckets(recorded: tuple[Path, Packet]) -> None:
    config_path, packet = recorded
    listing = _cli("packets", "list", "--config", str(config_path))
    assert listing.returncode == 0, listing.stderr
    assert packet["trace_id"] in listing.stdout and "tool_execution" in listing.stdout
    rows = json.loads(_cli("packets", "list", "--json", "--config", str(config_path)).stdout)
    assert [row["trace_id"] for row in rows] == [packet["trace_id"]]
    shown = _cli("packets", "show", packet["trace_id"][:12], "--config", str(config_path))
    assert json.loads(shown.stdout) == packet
    buckets = _cli("buckets", "--since", "3650d", "--config", str(config_path))
    assert buckets.returncode == 0, buckets.stderr
    assert buckets.stdout.splitlines()[0] == "tool_execution: 1  top workflows: invoke_agent support (1)"
    counted = json.loads(_cli("buckets", "--json", "--since", "3650d", "--config", str(config_path)).stdout)
    assert counted == [
        {
            "bucket": "tool_execution",
            "count": 1,
            "top_workflows": {"invoke_agent support": 1},
            "top_models": {packet["selected_model"]: 1} if packet["selected_model"] else {},
            "latest": [packet["trace_id"]],
        }
    ]


def test_replay_refuses_missing_unreadable_and_invalid_packets(tmp_path: Path, recorded: tuple[Path, Packet]) -> None:
    config_path, packet = recorded
    missing = _cli("replay", "deadbeef", "--config", str(config_path))
    assert missing.returncode == 2
    assert "no packet for a trace id starting with deadbeef" in missing.stderr
    not_an_id = _cli("replay", "no-such-thing", "--config", str(config_path))
    assert "no such file, and not a trace id" in not_an_id.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "invalid JSON" in _cli("replay", str(broken), "--config", str(config_path)).stderr
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({**packet, "failure_bucket": 7}))
    result = _cli("replay", str(foreign), "--config", str(config_path))
    assert result.returncode == 2
    assert "not a valid replay packet: failure_bucket: 7 is not of type 'string'" in result.stderr
    unreadable = tmp_path / "a-directory.json"
    unreadable.mkdir()
    assert "cannot read" in _cli("replay", str(unreadable), "--config", str(config_path)).stderr


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_replay_to_an_otlp_backend_sends_a_linked_trace(
    recorded: tuple[Path, Packet], sink: OtlpSink, protocol: str
) -> None:
    config_path, packet = recorded
    endpoint = f"127.0.0.1:{sink.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{sink.http_port}"
    result = _cli("replay", packet["trace_id"][:10], "--otlp", endpoint, "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    spans = sink.wait_for_spans(len(packet["steps"]) + 1)
    root = next(span for span in spans if not span.parent_span_id)
    assert root.trace_id.hex() != packet["trace_id"]
    assert root.links[0].trace_id.hex() == packet["trace_id"]
    assert packet["failing_span"] is not None
    assert root.links[0].span_id.hex() == packet["failing_span"]["span_id"]
    failed = [span for span in spans if span.status.code == 2 and span.parent_span_id]
    assert [span.name for span in failed] == ["execute_tool deploy", "verify_answer"]  # the rejection too
    assert f"as trace {root.trace_id.hex()}" in result.stdout
    # A viewer (Phoenix, Jaeger) files the replay beside the original and reads its steps' kinds and status.
    (replayed,) = [r for r in sink.requests if r.resource_spans[0].scope_spans[0].spans[0].trace_id == root.trace_id]
    resource = {kv.key: kv.value.string_value for kv in replayed.resource_spans[0].resource.attributes}
    assert resource == {"service.name": "support-agent", "deployment.environment": "test"}
    sent = replayed.resource_spans[0].scope_spans[0].spans
    kinds = {span.name: {kv.key: kv.value.string_value for kv in span.attributes} for span in sent}
    assert all("openinference.span.kind" in attributes for attributes in kinds.values())
    assert kinds["execute_tool deploy"]["gen_ai.operation.name"] == "execute_tool"
    assert kinds["execute_tool deploy"]["gen_ai.tool.name"] == "deploy"
    assert kinds[root.name]["openinference.span.kind"] == "AGENT"
    assert kinds[root.name]["failpath.replay.of_trace_id"] == packet["trace_id"]
    assert root.status.code == 2 and root.status.message.startswith("tool_execution: tool:deploy: ")


def test_replay_to_an_unreachable_backend_says_so(recorded: tuple[Path, Packet]) -> None:
    config_path, packet = recorded
    result = _cli("replay", packet["trace_id"], "--otlp", f"127.0.0.1:{free_port()}", "--config", str(config_path))
    assert result.returncode == 1
    assert "cannot send the replay" in result.stderr and "UNAVAILABLE" in result.stderr


def test_recorded_outputs_api_and_the_documented_example(tmp_path: Path, recorded: tuple[Path, Packet]) -> None:
    config_path, packet = recorded
    run = load(packet["trace_id"][:8], config_path)
    assert [call.name for call in run.calls] == ["gpt-x", "search", "deploy"]
    assert [call.failed for call in run.calls] == [False, False, True]
    deploy = run.stub("deploy")
    assert deploy("any", args=1) is None  # the run recorded no result for deploy
    with pytest.raises(RecordingExhausted):
        deploy()
    # The example in docs/replay.md runs as written.
    source = (ROOT / "docs" / "replay.md").read_text()
    example = tmp_path / "example.py"
    example.write_text(source.split("```python\n")[1].split("```")[0])
    [packet_file] = (config_path.parent / "data" / "replay").glob("*/*.json")
    result = subprocess.run(
        [sys.executable, str(example), str(packet_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"replaying {packet['trace_id']} (tool_execution)" in result.stdout
    assert "agent decided: retry later" in result.stdout
    assert "as recorded, no more calls" in result.stdout


def test_replay_of_a_run_blamed_on_a_step_that_did_not_error(tmp_path: Path) -> None:
    """The documented empty-retrieval example, posted as OTLP/JSON: the packet blames the retriever (no
    error of its own) and the replay says so plainly, with the runner-up it rejected."""
    config_path = _config_file(tmp_path)
    body = (ROOT / "docs" / "examples" / "retrieval_empty.json").read_bytes()
    with RunningFailpath(load_config(config_path)) as failpath:
        status, _, _ = request(failpath.http_url, body, {"Content-Type": "application/json"})
        assert status == 200
        deadline = time.monotonic() + 15
        while not failpath.metric("failpath_packets_written_total", bucket="retrieval_miss"):
            assert time.monotonic() < deadline, "no packet was written"
            time.sleep(0.05)
    [path] = (tmp_path / "data" / "replay").glob("*/*.json")
    result = _cli("replay", str(path), "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "failure_bucket: retrieval_miss" in lines
    assert "failing_span: retriever 'retrieval kb-search' (1a1e000000000003)" in lines
    assert "  - retriever 'retrieval kb-search' returned 0 documents" in lines
    assert any(line.startswith("why not planner_drift: that is how the failure showed") for line in lines)


def test_a_packet_written_before_version_3_still_reads(tmp_path: Path, recorded: tuple[Path, Packet]) -> None:
    """Version 2 had no run.resource: read as version 3 with the service name as its resource."""
    _, packet = recorded
    older = json.loads(json.dumps(packet))
    older["packet_version"] = 2
    del older["run"]["resource"]
    (tmp_path / "old.json").write_text(json.dumps(older))
    shown = _cli("packets", "show", str(tmp_path / "old.json"))
    assert shown.returncode == 0, shown.stderr
    upgraded = json.loads(shown.stdout)
    assert upgraded["packet_version"] == 3 and upgraded["run"]["resource"] == {"service.name": "support-agent"}
    older["packet_version"] = 1
    (tmp_path / "older.json").write_text(json.dumps(older))
    refused = _cli("packets", "show", str(tmp_path / "older.json"))
    assert refused.returncode == 2 and "packet_version" in refused.stderr
