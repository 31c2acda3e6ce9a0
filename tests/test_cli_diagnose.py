"""`failpath diagnose`: the verdict on traces from a file (OTLP/JSON, JSON lines, protobuf) or from the
embedded store by trace id prefix, without running the service; bad input gets an error naming the file."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp import json_codec
from tests.support.diagnosis_corpus import RunSpec, S, build
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.traces import request_of

FIXTURES = Path(__file__).parent / "fixtures" / "frameworks"


def _diagnose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "failpath", "diagnose", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _verdicts(*args: str) -> list[dict[str, Any]]:
    result = _diagnose(*args, "--json")
    assert result.returncode == 0, result.stderr
    verdicts: list[dict[str, Any]] = json.loads(result.stdout)
    return verdicts


def _empty_retrieval_run() -> ExportTraceServiceRequest:
    spec = RunSpec(
        [S("planner"), S("retriever", documents=0), S("model"), S("verifier", passed=False)], error="rejected"
    )
    return request_of(build("genai", spec, b"\x5a" * 16))


def test_a_recorded_trace_file_is_diagnosed(tmp_path: Path) -> None:
    result = _diagnose(str(FIXTURES / "openai_agents" / "max_turns.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].startswith("failure_bucket: planner_drift")
    assert any("turns limit" in line for line in lines)
    [verdict] = _verdicts(str(FIXTURES / "langgraph" / "empty_retrieval.json"))
    assert (verdict["failure_bucket"], verdict["cause"]["finding"]) == ("retrieval_miss", "retrieval_empty")
    assert verdict["confidence"] > 0.5 and verdict["evidence"]
    assert all("Traceback" not in line for line in verdict["evidence"])
    # A repr()'d exception (LangGraph's GraphRecursionError) is quoted up to its first escaped newline.
    [verdict] = _verdicts(str(FIXTURES / "langgraph" / "recursion_limit.json"))
    shown = verdict["evidence"][1]
    assert shown.startswith("then: the run ('LangGraph') stopped at its recursion limit: status ERROR: GraphRecursion")
    assert "troubleshooting" not in shown and "\\n" not in shown


def test_every_file_format_gives_the_same_verdict(tmp_path: Path) -> None:
    message = _empty_retrieval_run()
    (tmp_path / "run.json").write_bytes(json_codec.encode(message))
    (tmp_path / "run.pb").write_bytes(message.SerializeToString())
    healthy = request_of(build("genai", RunSpec([S("planner"), S("model"), S("tool", "lookup_order")]), b"\x5b" * 16))
    lines = [json_codec.encode(message), json_codec.encode(healthy)]
    (tmp_path / "runs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    as_json = _verdicts(str(tmp_path / "run.json"))
    assert as_json == _verdicts(str(tmp_path / "run.pb"))
    assert as_json[0]["failure_bucket"] == "retrieval_miss"
    both = _verdicts(str(tmp_path / "runs.jsonl"))
    assert [(v["trace_id"], v["failure_bucket"], v["failed"]) for v in both] == [
        ("5a" * 16, "retrieval_miss", True),
        ("5b" * 16, "none", False),
    ]


def test_a_stored_trace_is_diagnosed_by_id_prefix(tmp_path: Path) -> None:
    config_path = tmp_path / "failpath.yaml"
    config_path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))  # the store is where serve put it
    config = make_config(tmp_path / "data", {"redaction": {"enabled": True}})
    with RunningFailpath(config) as failpath:
        body = _empty_retrieval_run().SerializeToString()
        assert request(failpath.http_url, body, {"Content-Type": "application/x-protobuf"})[0] == 200
    [verdict] = _verdicts("5a5a5a5a5a", "--config", str(config_path))
    assert verdict["failure_bucket"] == "retrieval_miss"
    missing = _diagnose("abcdef0123", "--config", str(config_path))
    assert missing.returncode == 2
    assert "no stored trace has an id starting with abcdef0123" in missing.stderr


def test_your_config_is_what_it_diagnoses_with(tmp_path: Path) -> None:
    """A mapping checked on your own traces: a bucket rule of yours wins where it applies."""
    (tmp_path / "run.json").write_bytes(json_codec.encode(_empty_retrieval_run()))
    rules = {
        "name": "knowledge_gap",
        "description": "the knowledge base has nothing on this",
        "first_check": "coverage of the knowledge base",
        "avoid": "do not retune the retriever",
        "next_action": "Add the topic to the knowledge base.",
        "match": [{"finding": ["retrieval_empty"]}],
    }
    config_path = tmp_path / "failpath.yaml"
    config_path.write_text(yaml.safe_dump({"packets": {"buckets": [rules]}}))
    [verdict] = _verdicts(str(tmp_path / "run.json"), "--config", str(config_path))
    assert verdict["failure_bucket"] == "knowledge_gap"


def test_bad_input_says_which_file_and_what_is_wrong(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not traces at all")
    shapeless = tmp_path / "shapeless.json"
    shapeless.write_text('{"resourceSpans": 5}')
    empty = tmp_path / "empty.json"
    empty.write_text('{"resourceSpans": []}')
    cases = {
        str(text): f"{text}: neither OTLP/JSON nor an OTLP protobuf ExportTraceServiceRequest",
        str(shapeless): f"{shapeless}: not an OTLP/JSON trace request: resourceSpans: expected an array, got a number",
        str(empty): f"{empty}: holds no spans",
        "no-such-file.json": "no-such-file.json: no such file, and not a trace id",
    }
    for source, message in cases.items():
        result = _diagnose(source)
        assert result.returncode == 2
        assert result.stderr.startswith(f"failpath: {message}"), result.stderr
        assert "Traceback" not in result.stderr
