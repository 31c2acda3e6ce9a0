"""Slow and surplus connections cannot starve failpath: with a 256-descriptor limit and 300 connections that
never finish their headers (or their handshake), the probes still answer, new clients get a fast 503 /
UNAVAILABLE instead of a hang, the slow connections are cut after the header timeout, and then spans
flow again. The process's own log stays short and never quotes what the clients sent."""

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import request
from tests.support.ports import free_port
from tests.support.process import serve
from tests.support.requests import build_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MARKER = "slow-header-marker-never-logged"
# Run failpath with a small open-file limit, as a container with a tight ulimit would.
_LIMITED = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
    "sys.argv = ['failpath', *sys.argv[1:]]; runpy.run_module('failpath', run_name='__main__')"
)


@pytest.fixture
def limited_failpath(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    ports = {"grpc": free_port(), "http": free_port(), "admin": free_port()}
    config = {
        "data_dir": str(tmp_path / "data"),
        "receivers": {
            "otlp": {
                "grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}", "handshake_timeout": "2s"},
                "http": {"endpoint": f"127.0.0.1:{ports['http']}", "read_header_timeout": "2s"},
            }
        },
        "admin": {"endpoint": f"127.0.0.1:{ports['admin']}"},
        "sampling": {"enabled": False},
        "service": {"shutdown_timeout": "2s"},
    }
    process = serve(config, tmp_path, ports["admin"], ("-c", _LIMITED))
    yield process, ports
    process.terminate()
    process.wait(20)


def _slow_clients(port: int, count: int, opening: bytes) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(opening)
        clients.append(client)
    return clients


def _exchange(port: int, data: bytes) -> bytes:
    """Send a request and read the answer to the end. A server that answers early (a header too long, no
    room for the connection) closes at once; the rest of the request may then meet a closed socket, which is
    not what the test is about."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.sendall(data)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := client.recv(65536):
                answer += chunk
        return answer


def _closed_by_server(client: socket.socket) -> bool:
    """Read to the end (a refused one got a 503 first); still open if nothing comes for a while."""
    client.settimeout(0.2)
    try:
        while client.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


def _timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = request(url, method="GET")[0]
    return status, time.monotonic() - started


def _grpc_export(port: int) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary(EXPORT, None, None)(build_request(spans=1).SerializeToString(), timeout=3)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_slow_connections_cannot_starve_the_receivers_or_the_probes(
    limited_failpath: tuple[subprocess.Popen[str], dict[str, int]],
) -> None:
    process, ports = limited_failpath
    admin = f"http://127.0.0.1:{ports['admin']}"
    traces = f"http://127.0.0.1:{ports['http']}/v1/traces"
    # A header too long for the parser: answered 431, and neither the answer nor the log quotes it.
    opening = f"POST /v1/traces HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {MARKER}".encode()
    answer = _exchange(ports["http"], opening + b"A" * 9000 + b"\r\nContent-Length: 0\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"431" and MARKER.encode() not in answer
    http_clients = _slow_clients(ports["http"], 300, opening)
    grpc_clients = _slow_clients(ports["grpc"], 300, b"PRI * HTTP/2.0\r\n")  # half a preface, then nothing
    try:
        # The probes answer at once, and new OTLP clients are told to come back instead of hanging.
        assert _timed_get(f"{admin}/healthz")[0] == 200
        status, elapsed = _timed_get(f"{admin}/readyz")
        assert (status, elapsed < 1.0) == (200, True)
        started = time.monotonic()
        body = build_request(spans=1).SerializeToString()
        head = f"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: {PROTOBUF['Content-Type']}\r\n"
        answer = _exchange(ports["http"], f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 1\r\n" in answer
        assert time.monotonic() - started < 1.0
        # Past the header and handshake timeouts, every slow connection has been cut.
        time.sleep(3.0)
        assert all(_closed_by_server(client) for client in http_clients)
        assert all(_closed_by_server(client) for client in grpc_clients)
    finally:
        for client in http_clients + grpc_clients:
            client.close()
    assert request(traces, build_request(spans=2).SerializeToString(), PROTOBUF)[0] == 200
    assert _grpc_export(ports["grpc"]) == grpc.StatusCode.OK
    metrics = request(f"{admin}/metrics", method="GET")[2].decode()
    refused = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "failpath_receiver_connections_refused_total" and sample.labels["transport"] == "http"
    }
    # auto: (256 - 64 reserved) / 2 receivers = 96 connections each.
    assert refused == {"malformed_http": 1, "too_many_connections": 300 - 96 + 1, "header_timeout": 96}
    assert process.poll() is None
    process.terminate()
    stderr = process.communicate(timeout=20)[1]
    assert MARKER not in stderr
    assert len(stderr.splitlines()) < 60, stderr[-3000:]
    assert all(json.loads(line)["level"] for line in stderr.splitlines() if line.startswith("{"))
