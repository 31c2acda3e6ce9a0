"""failpath as a subprocess: SIGTERM stops intake, drains what was acknowledged, exits 0, and says what it lost."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support.http import request
from tests.support.ports import free_port
from tests.support.process import serve
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SECRET = "attribute-value-that-must-never-be-logged"


def _start(tmp_path: Path, backend_port: int, shutdown_timeout: str) -> tuple[subprocess.Popen[str], int, int]:
    http_port, admin_port = free_port(), free_port()
    config = {
        "data_dir": str(tmp_path / "data"),
        "receivers": {"otlp": {"grpc": {"enabled": False}, "http": {"endpoint": f"127.0.0.1:{http_port}"}}},
        "exporters": {
            "otlp": [
                {
                    "name": "backend",
                    "endpoint": f"127.0.0.1:{backend_port}",
                    "retry": {"initial_interval": "50ms", "max_interval": "100ms"},
                    "queue": {"consumers": 1, "batch_max_spans": 5},
                }
            ]
        },
        "admin": {"endpoint": f"127.0.0.1:{admin_port}"},
        "service": {"shutdown_timeout": shutdown_timeout},
        # Off: these tests are about the exporters' drain; tests/e2e/test_sampling.py covers the sampler's.
        "sampling": {"enabled": False},
    }
    process = serve(config, tmp_path, admin_port)
    return process, http_port, admin_port


def _logs(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_sigterm_drains_everything_acknowledged(tmp_path: Path) -> None:
    sink = OtlpSink()
    sink.delay = 0.3  # a slow backend (10 sends: 3 s), so spans are still queued when SIGTERM arrives
    sink.start_grpc()
    process, http_port, _ = _start(tmp_path, sink.grpc_port, "20s")
    try:
        for _ in range(10):
            body = build_request(spans=5, text=SECRET).SerializeToString()
            assert request(f"http://127.0.0.1:{http_port}/v1/traces", body, PROTOBUF)[0] == 200
        assert sink.span_count() < 50
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert sink.span_count() == 50
        # Intake is closed: nothing listens any more.
        try:
            request(f"http://127.0.0.1:{http_port}/v1/traces", b"", PROTOBUF)
            raise AssertionError("receiver still listening after shutdown")
        except ConnectionError:
            pass
    finally:
        if process.poll() is None:
            process.kill()
        sink.stop()
    assert SECRET not in stderr
    assert [entry["msg"] for entry in _logs(stderr)][-2:] == ["shutting down", "stopped"]


def test_sigterm_with_backend_down_counts_and_logs_the_loss(tmp_path: Path) -> None:
    process, http_port, _ = _start(tmp_path, free_port(), "1s")
    try:
        for _ in range(3):
            body = build_request(spans=4, text=SECRET).SerializeToString()
            assert request(f"http://127.0.0.1:{http_port}/v1/traces", body, PROTOBUF)[0] == 200
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
    drops = [entry for entry in _logs(stderr) if entry["msg"] == "spans dropped by exporter"]
    assert sum(int(str(entry["spans"])) for entry in drops) == 12
    assert {entry["reason"] for entry in drops} == {"shutdown"}
    assert SECRET not in stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        for receiver in ("grpc", "http"):
            other = "http" if receiver == "grpc" else "grpc"
            config = {
                "data_dir": str(tmp_path / "data"),
                "receivers": {"otlp": {receiver: {"endpoint": f"127.0.0.1:{port}"}, other: {"enabled": False}}},
                "admin": {"enabled": False},
            }
            path = tmp_path / "failpath.yaml"
            path.write_text(yaml.safe_dump(config))
            result = subprocess.run(
                [sys.executable, "-m", "failpath", "serve", "--config", str(path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert result.returncode == 1
            errors = [entry for entry in _logs(result.stderr) if entry["level"] == "error"]
            message = str(errors[0]["error"])
            assert message.startswith(f"otlp {receiver} receiver cannot listen on 127.0.0.1:{port}: ")
            assert "in use" in message
            assert "Traceback" not in result.stderr
