"""docs/integrations.md's programs run as written against a running failpath: pydantic-ai, LangGraph (with
openinference-instrumentation-langchain), OpenAI Agents (with openinference-instrumentation-openai-agents)
and a plain OpenTelemetry SDK app, each offline with its framework's own test model, each a failing run
wrapped in failpath.agent's envelope. Each gets its packet, bucketed as the tool failure it is, with the
envelope's workflow, run id and actor."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failpath.packets.reader import load_file
from failpath.store.packets import PacketStore
from tests.support.harness import RunningFailpath, make_config

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples" / "integrations"
GUIDES = sorted(path.name for path in EXAMPLES.glob("*.py"))


def test_every_guide_has_its_program_and_the_page_names_it() -> None:
    page = (Path(__file__).parents[2] / "docs" / "integrations.md").read_text()
    assert GUIDES == [
        "langgraph_refunds.py",
        "openai_agents_refunds.py",
        "plain_otel_refunds.py",
        "pydantic_ai_refunds.py",
    ]
    assert all(f"docs/examples/integrations/{name}" in page for name in GUIDES)


@pytest.mark.parametrize("program", GUIDES)
def test_the_guide_program_gets_its_failing_run_bucketed(tmp_path: Path, program: str) -> None:
    config = make_config(tmp_path, {"sampling": {"enabled": True, "decision_wait": "1s"}})
    with RunningFailpath(config) as failpath:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = failpath.http_url.removesuffix("/v1/traces")
        environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        ran = subprocess.run(
            [sys.executable, str(EXAMPLES / program)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        trace_id = ran.stdout.split()[-1]
        deadline = time.monotonic() + 20
        while failpath.metric_sum("failpath_packets_written_total") < 1:
            assert time.monotonic() < deadline, "no packet for the failing run"
            time.sleep(0.05)
    store = PacketStore(*config.packet_paths(), readonly=True)
    rows = store.find(trace_id)
    store.close()
    assert len(rows) == 1, f"no packet for {trace_id}"
    packet = load_file(rows[0].path)
    assert packet["failure_bucket"] == "tool_execution", packet["evidence"]
    assert packet["workflow"] == "refunds" and packet["run"]["actor"] == "user-42" and packet["run"]["run_id"]
    assert packet["failing_span"] is not None and "refund_order" in packet["failing_span"]["label"]
