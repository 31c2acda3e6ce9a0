"""The command line as a newcomer meets it, run from a directory outside the checkout: a packet file replays
with no config anywhere; a trace id says which config and data directory it looked in and how to pass
another; every command finds its config the same way (--config, $FAILPATH_CONFIG, ./config/failpath.yaml);
a relative data_dir is taken from where failpath starts; logs are text on a terminal and JSON otherwise,
and the ready line says where to point an agent, where data goes and how to see failures; --help gives an
example per command."""

import argparse
import json
import os
import pty
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from failpath.cli import EXAMPLES, build_parser
from failpath.config import load_config
from tests.support.agent_run import emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath
from tests.support.ports import free_port

SAMPLING = {"decision_wait": "100ms"}


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "FAILPATH_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "failpath", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def packet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A config file (absolute data_dir) and the trace id of the packet failpath wrote for a failing run."""
    folder = tmp_path_factory.mktemp("service")
    config_path = folder / "failpath.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(folder / "data"),
                "receivers": {"otlp": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}},
                "admin": {"enabled": False},
                "sampling": SAMPLING,
            }
        )
    )
    with RunningFailpath(load_config(config_path)) as failpath:
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=1, fail_tool=True)
        deadline = time.monotonic() + 15
        while failpath.metric_sum("failpath_packets_written_total") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    (written,) = load_config(config_path).packet_paths()[1].rglob("*.json")
    return config_path, written.stem


def test_a_packet_file_replays_from_anywhere_without_a_config(tmp_path: Path, packet: tuple[Path, str]) -> None:
    config_path, trace_id = packet
    (source,) = config_path.parent.rglob(f"{trace_id}.json")
    shutil.copy(source, tmp_path / "run.json")
    replayed = _cli(tmp_path, "replay", "run.json")
    assert replayed.returncode == 0, replayed.stderr
    assert f"trace_id: {trace_id}" in replayed.stdout and "failure_bucket: tool_execution" in replayed.stdout
    shown = _cli(tmp_path, "packets", "show", "run.json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["trace_id"] == trace_id


def test_a_trace_id_says_where_it_looked_and_how_to_pass_a_config(tmp_path: Path, packet: tuple[Path, str]) -> None:
    config_path, trace_id = packet
    lost = _cli(tmp_path, "replay", trace_id[:12])
    assert lost.returncode == 2
    assert "no config found (--config, else $FAILPATH_CONFIG, else ./config/failpath.yaml" in lost.stderr
    assert f"data_dir {tmp_path / 'data'}" in lost.stderr
    assert "pass --config FILE or set FAILPATH_CONFIG" in lost.stderr
    # The same lookup with the config named either way finds the packet.
    by_flag = _cli(tmp_path, "replay", trace_id[:12], "--config", str(config_path))
    by_env = _cli(tmp_path, "replay", trace_id[:12], env={"FAILPATH_CONFIG": str(config_path)})
    assert by_flag.returncode == by_env.returncode == 0 and by_flag.stdout == by_env.stdout
    # ./config/failpath.yaml in the directory a command starts in comes next.
    (tmp_path / "config").mkdir()
    shutil.copy(config_path, tmp_path / "config" / "failpath.yaml")
    assert _cli(tmp_path, "buckets", "--since", "1h").stdout.startswith("tool_execution: 1")


def test_a_relative_data_dir_is_taken_from_where_failpath_starts(tmp_path: Path) -> None:
    config_path = tmp_path / "elsewhere" / "failpath.yaml"
    config_path.parent.mkdir()
    config_path.write_text(yaml.safe_dump({"data_dir": "state"}))
    (tmp_path / "here").mkdir()
    listed = _cli(tmp_path / "here", "packets", "list", env={"FAILPATH_CONFIG": str(config_path)})
    assert listed.returncode == 2
    assert f"data_dir {tmp_path / 'here' / 'state'}, config {config_path} (FAILPATH_CONFIG)" in listed.stderr


def _serve(tmp_path: Path, stderr: int) -> tuple[subprocess.Popen[bytes], Path, dict[str, int]]:
    ports = {"grpc": free_port(), "http": free_port(), "admin": free_port()}
    config_path = tmp_path / "failpath.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "data_dir": "data",
                "receivers": {
                    "otlp": {
                        "grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"},
                        "http": {"endpoint": f"127.0.0.1:{ports['http']}"},
                    }
                },
                "admin": {"endpoint": f"127.0.0.1:{ports['admin']}"},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "failpath", "serve", "--config", str(config_path)], cwd=tmp_path, stderr=stderr
    )
    return process, config_path, ports


def _read_until_ready(read: Callable[[], bytes], process: subprocess.Popen[bytes]) -> str:
    text, deadline = "", time.monotonic() + 20
    while "failpath ready" not in text:
        assert time.monotonic() < deadline and process.poll() is None, text
        text += read().decode(errors="replace")
    while not text.rstrip("\r").endswith("\n"):
        text += read().decode(errors="replace")
    return text


def test_logs_are_json_lines_off_a_terminal_and_the_ready_line_says_what_to_do(tmp_path: Path) -> None:
    process, config_path, ports = _serve(tmp_path, subprocess.PIPE)
    assert process.stderr is not None
    try:
        text = _read_until_ready(lambda: process.stderr.readline() if process.stderr else b"", process)
    finally:
        process.terminate()
        process.wait(20)
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    started = next(line for line in lines if line["msg"] == "config")
    assert started["config"] == f"{config_path} (--config)" and started["data_dir"] == str(tmp_path / "data")
    ready = next(line for line in lines if line["msg"] == "failpath ready")
    assert ready["agents"] == f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{ports['http']}"
    assert ready["agents_grpc"] == f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{ports['grpc']}"
    assert ready["failures"] == f"failpath buckets --config {config_path}"


def test_logs_are_text_on_a_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    process, _, ports = _serve(tmp_path, terminal)
    os.close(terminal)
    try:
        text = _read_until_ready(lambda: os.read(controller, 4096), process)
    finally:
        process.terminate()
        process.wait(20)
        os.close(controller)
    ready = next(line for line in text.splitlines() if "failpath ready" in line)
    assert not ready.startswith("{") and " info    failpath: failpath ready " in ready
    assert f"agents=OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{ports['http']}" in ready


def test_help_gives_an_example_for_every_command(tmp_path: Path) -> None:
    parser = build_parser()
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    named = {command.split()[0] for command, _ in EXAMPLES}
    assert named == set(actions[0].choices)
    shown = _cli(tmp_path, "--help").stdout
    assert all(example in shown for _, example in EXAMPLES)
