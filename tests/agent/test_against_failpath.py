"""Agents built on the helpers (Python's failpath.agent, and the TypeScript package in agent-ts/), as
processes of their own, against a running failpath: every bucket gets its packet with the right bucket,
healthy runs get none, a retry is an attempt of the same run, and no content leaves the agent (redaction
off here, so what arrives is what the agent sent). And `failpath demo` from a directory outside the
checkout, as a newcomer runs it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from failpath.packets.reader import load_file
from failpath.store.packets import PacketStore
from tests.support.harness import RunningFailpath, make_config
from tests.support.ports import free_port

# Argument values, model outputs, tool results of the scripted agent: none may leave it.
TS_AGENT = Path(__file__).parents[2] / "agent-ts" / "dist" / "examples" / "scenarios.js"
AGENTS = {
    "python": [sys.executable, "-m", "failpath.demo.scenarios"],
    "typescript": ["node", str(TS_AGENT)],
}
CONTENT = ("jane.doe@example.com", "A-1001", "Refund approved for order", "R-77")


@pytest.mark.parametrize("language", AGENTS)
def test_scripted_agents_get_the_right_bucket_and_their_retries_are_attempts_of_one_run(
    tmp_path: Path, language: str
) -> None:
    if language == "typescript" and not TS_AGENT.exists():
        pytest.skip("agent-ts is not built: make test builds it (npm ci, npm run build)")
    # A second for stragglers: an SDK may send a run's last batches side by side (Node's flush on shutdown
    # does), so the root can arrive before the request holding its steps.
    extra = {
        "sampling": {"enabled": True, "decision_wait": "1s"},
        "exporters": {"jsonl": {"enabled": True}},
    }
    config = make_config(tmp_path, extra)
    with RunningFailpath(config) as failpath:
        agent = subprocess.run(
            [*AGENTS[language], "--endpoint", failpath.http_url, "--healthy", "3"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        expected: dict[str, str | None] = json.loads(agent.stdout)
        failing = {trace_id: bucket for trace_id, bucket in expected.items() if bucket}
        deadline = time.monotonic() + 20
        while failpath.metric_sum("failpath_packets_written_total") < len(failing):
            assert time.monotonic() < deadline, "not every failing run got its packet"
            time.sleep(0.05)
        time.sleep(0.3)  # a healthy run's packet, were one wrongly made, would show by now
    store = PacketStore(*config.packet_paths(), readonly=True)
    got = {trace_id: (rows[0].bucket if (rows := store.find(trace_id)) else None) for trace_id in expected}
    assert got == expected
    attempts = [load_file(store.find(trace_id)[0].path) for trace_id in list(failing)[-2:]]
    store.close()
    first, second = attempts
    assert first["run"]["run_id"] == second["run"]["run_id"]
    assert (first["run"]["attempt"], second["run"]["attempt"]) == (1, 2)
    assert [a["trace_id"] for a in second["related_attempts"]] == [first["trace_id"]]
    sent = (tmp_path / "spans.jsonl").read_text()
    assert "agent.tool.argument_keys" in sent and not any(text in sent for text in CONTENT)


def test_failpath_demo_shows_packets_and_buckets_from_outside_the_checkout(tmp_path: Path) -> None:
    config = yaml.safe_load((Path(__file__).parents[2] / "config" / "failpath.yaml").read_text())
    config["data_dir"] = str(tmp_path / "data")
    config["receivers"]["otlp"]["grpc"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["receivers"]["otlp"]["http"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["admin"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["dashboard"]["endpoint"] = f"127.0.0.1:{free_port()}"
    (tmp_path / "failpath.yaml").write_text(yaml.safe_dump(config))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    shown = subprocess.run(
        [sys.executable, "-m", "failpath", "demo", "--config", "failpath.yaml"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    out = shown.stdout
    assert "7 of 7 failing runs have their replay packet" in out
    assert "$ failpath buckets --since 1h" in out and "tool_execution: 3" in out
    assert "earlier attempt: " in out and "next_action: Re-run tool refund_order" in out
    assert f"The dashboard: http://{config['dashboard']['endpoint']}/" in out
