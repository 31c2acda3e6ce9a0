"""Acknowledged means kept: failpath is killed with SIGKILL at random moments while clients send error and
healthy traces over gRPC, three times (the second time with the backend down), the last time with a torn
record left at the end of the spool. After the restarts every span of every error trace a client got OK
for is at the backend, each of those runs has its packet, and no span arrives twice, except from an
export the backend took just before a kill, which failpath never heard back about."""

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.ports import free_port
from tests.support.process import serve
from tests.support.sink import OtlpSink
from tests.support.traces import TraceSpec, request_of

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class _Load:
    """A client sending traces until stopped: an error run and two healthy ones per round, the error run's
    root sometimes in a later request than its children. Remembers the error spans it got OK for."""

    def __init__(self, port: int, seed: int) -> None:
        self._port = port
        self._rng = random.Random(seed)
        self.acknowledged: dict[bytes, set[bytes]] = {}  # error trace id -> span ids acknowledged
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_Load":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{self._port}") as channel:
            export = channel.unary_unary(EXPORT, None, None)
            for _ in range(100_000):
                if self._stop.is_set():
                    return
                error = TraceSpec(self._rng.randbytes(16), children=4, error=True).spans()
                healthy = [span for _ in range(2) for span in TraceSpec(self._rng.randbytes(16)).spans()]
                split = self._rng.random() < 0.3
                requests = [error[1:] + healthy, error[:1]] if split else [error + healthy]
                for spans in requests:
                    try:
                        export(request_of(spans).SerializeToString(), timeout=2)
                    except grpc.RpcError:
                        time.sleep(0.05)  # killed, or refused: a real exporter would retry later
                        break
                    ids = {span.span_id for span in spans if span.trace_id == error[0].trace_id}
                    self.acknowledged.setdefault(error[0].trace_id, set()).update(ids)


@pytest.fixture
def started() -> Iterator[list["subprocess.Popen[str]"]]:
    """Every failpath process the test starts, killed at its end whatever happened."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start(
    config: dict[str, Any], folder: Path, admin_port: int, started: list["subprocess.Popen[str]"]
) -> "subprocess.Popen[str]":
    process = serve(config, folder, admin_port, log=folder / "failpath.log")
    started.append(process)
    return process


def _tear_the_last_segment(spool: Path) -> None:
    newest = max(spool.glob("*.seg"))
    with newest.open("ab") as file:
        file.write(b"\x01\x00\x10\x00\x00" + os.urandom(40))  # a header promising more than follows


def test_sigkill_loses_no_acknowledged_error_span(
    tmp_path: Path, sink: OtlpSink, started: list["subprocess.Popen[str]"]
) -> None:
    ports = {"grpc": free_port(), "admin": free_port()}
    config = {
        "data_dir": str(tmp_path / "data"),
        "receivers": {
            "otlp": {"grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"}, "http": {"enabled": False}},
        },
        "admin": {"endpoint": f"127.0.0.1:{ports['admin']}"},
        "redaction": {"enabled": False},
        "sampling": {
            "decision_wait": "300ms",
            # An error run whose root never got through is decided this long after its first span.
            "max_trace_wait": "5s",
            "policies": [
                {"name": "errors", "type": "error"},
                {"name": "rest", "type": "probabilistic", "percentage": 0},
            ],
        },
        "exporters": {
            "otlp": [
                {
                    "name": "backend",
                    "endpoint": f"127.0.0.1:{sink.grpc_port}",
                    "retry": {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": 0},
                }
            ],
            "store": {"enabled": False},
        },
        "logging": {"level": "warning"},
        "service": {"shutdown_timeout": "5s"},
    }
    rng = random.Random(15)
    loads: list[_Load] = []
    kills: list[float] = []
    for backend_up in (True, False, True):
        if not backend_up:
            sink.fail(grpc.StatusCode.UNAVAILABLE, 503, 1 << 30)
        process = _start(config, tmp_path, ports["admin"], started)
        with _Load(ports["grpc"], seed=len(loads)) as load:
            loads.append(load)
            time.sleep(rng.uniform(1.0, 3.0))
            kills.append(time.monotonic())
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        sink.fail(grpc.StatusCode.UNAVAILABLE, 503, 0)
    _tear_the_last_segment(tmp_path / "data" / "spool")

    process = _start(config, tmp_path, ports["admin"], started)
    acknowledged = {trace: ids for load in loads for trace, ids in load.acknowledged.items()}
    wanted = {(trace, span) for trace, ids in acknowledged.items() for span in ids}
    assert len(acknowledged) > 20
    deadline = time.monotonic() + 60
    while not wanted <= {(span.trace_id, span.span_id) for span in sink.spans()}:
        assert time.monotonic() < deadline, "acknowledged error spans are missing at the backend"
        time.sleep(0.2)
    time.sleep(1.0)  # anything still on its way would arrive now
    process.send_signal(signal.SIGTERM)
    process.wait(20)

    assert "torn or corrupt" in (tmp_path / "failpath.log").read_text()
    packets = {path.stem for path in (tmp_path / "data" / "replay").glob("*/*.json")}
    assert {trace.hex() for trace in acknowledged} <= packets
    first_seen: dict[tuple[bytes, bytes], float] = {}
    for arrived, received in zip(sink.arrivals, sink.requests, strict=True):
        for resource_spans in received.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    key = (span.trace_id, span.span_id)
                    if key in first_seen:
                        # A second copy only of what the backend took just before a kill.
                        before = [round(kill - first_seen[key], 2) for kill in kills]
                        assert any(0 <= gap < 1.0 for gap in before), (
                            f"a span arrived twice: first {before} s before the kills, again at "
                            f"{[round(arrived - kill, 2) for kill in kills]} s after them"
                        )
                    first_seen.setdefault(key, arrived)
