"""A full or read-only disk: the store retries and says why on /readyz and in metrics, packets are retried
(bounded) and counted by cause, and both recover when space returns. Nothing is dropped while retrying."""

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from failpath.config import Config
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.requests import build_request
from tests.support.small_disk import small_disk

PROTOBUF = {"Content-Type": "application/x-protobuf"}
FAST_RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": 0}


def _wait(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _on_store_connection(failpath: RunningFailpath, sql: str) -> Any:
    """Run SQL on the live span store's own connection, on its own thread: SQLite-level fault injection
    (max_page_count, query_only) where the test cannot make a real small or read-only disk."""
    queue = next(queue for queue in failpath.pipeline._queues if queue.name == "store")
    sender: Any = queue._sender

    async def run() -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            sender._thread, lambda: sender._store._db.execute(sql).fetchall()
        )

    return failpath.call(run())


def _readyz(failpath: RunningFailpath) -> tuple[int, list[str]]:
    status, _, body = request(f"{failpath.admin_url}/readyz", method="GET")
    return status, json.loads(body).get("problems", [])


def _wait_for_retries(failpath: RunningFailpath, reason: str, attempts: int) -> None:
    _wait(lambda: failpath.metric("failpath_exporter_send_failures_total", exporter="store", reason=reason) >= attempts)


def _send(failpath: RunningFailpath, requests: int, spans: int) -> None:
    for _ in range(requests):
        body = build_request(spans=spans, text="x" * 500).SerializeToString()
        assert request(failpath.http_url, body, PROTOBUF)[0] == 200


def test_store_retries_a_full_disk_reports_it_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        data = disk.path if disk else tmp_path / "data"
        # The spool on another disk: here the store's own behaviour is under test.
        spool = {"path": str(tmp_path / "spool")}
        config = make_config(data, {"exporters": {"store": {"retry": FAST_RETRY}}, "spool": spool})
        with RunningFailpath(config) as failpath:
            _send(failpath, 1, 3)
            _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="store") == 3)
            if disk is not None:
                disk.fill()
            else:
                pages = _on_store_connection(failpath, "PRAGMA page_count")[0][0]
                _on_store_connection(failpath, f"PRAGMA max_page_count = {pages}")
            _send(failpath, 10, 20)
            _wait_for_retries(failpath, "store_disk_full", 3)
            assert _readyz(failpath) == (503, ["exporter 'store' cannot deliver (disk full); retrying"])
            assert failpath.metric_sum("failpath_exporter_spans_dropped_total", exporter="store") == 0
            if disk is not None:
                disk.free()
            else:
                _on_store_connection(failpath, "PRAGMA max_page_count = 1073741823")
            _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="store") == 203)
            assert _readyz(failpath) == (200, [])
        assert sqlite3.connect(data / "spans.db").execute("SELECT count(*) FROM spans").fetchone() == (203,)


def test_store_retries_a_read_only_database(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"exporters": {"store": {"retry": FAST_RETRY}}})
    with RunningFailpath(config) as failpath:
        _send(failpath, 1, 2)
        _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="store") == 2)
        _on_store_connection(failpath, "PRAGMA query_only = 1")  # SQLITE_READONLY on every write, as a ro mount
        _send(failpath, 2, 2)
        _wait_for_retries(failpath, "store_read_only", 2)
        assert _readyz(failpath) == (503, ["exporter 'store' cannot deliver (database is read-only); retrying"])
        _on_store_connection(failpath, "PRAGMA query_only = 0")
        _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="store") == 6)
        assert _readyz(failpath) == (200, [])


def _failing_trace() -> bytes:
    message = build_request(spans=2)
    message.resource_spans[0].scope_spans[0].spans[1].status.code = Status.STATUS_CODE_ERROR
    return message.SerializeToString()


@pytest.fixture
def packets_on_small_disk(tmp_path: Path) -> Any:
    with small_disk(tmp_path / "disk") as disk:
        if disk is None:
            pytest.skip("needs a tmpfs it can mount (root): packet files are plain files, not SQLite pages")
        config = make_config(
            disk.path,
            {
                "sampling": {"enabled": True, "decision_wait": "50ms"},
                "exporters": {"store": {"enabled": False}, "jsonl": {"enabled": True}},
                "spool": {"path": str(tmp_path / "spool")},
            },
        )
        yield disk, config


def test_a_full_spool_disk_refuses_spans_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        if disk is None:
            pytest.skip("needs a tmpfs it can mount (root)")
        config = make_config(disk.path, {"exporters": {"store": {"enabled": False}, "jsonl": {"enabled": True}}})
        with RunningFailpath(config) as failpath:
            _send(failpath, 1, 3)
            _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="jsonl") == 3)
            disk.fill()
            body = build_request(spans=20, text="x" * 500).SerializeToString()
            status, headers, _ = request(failpath.http_url, body, PROTOBUF)
            assert (status, headers.get("retry-after")) == (503, "1")  # not acknowledged, so nothing is lost
            assert failpath.metric("failpath_spool_refused_requests_total") == 1
            assert _readyz(failpath) == (503, ["the spool cannot be written (No space left on device); refusing spans"])
            disk.free()
            _send(failpath, 1, 20)
            _wait(lambda: failpath.metric("failpath_exporter_spans_exported_total", exporter="jsonl") == 23)
            _wait(lambda: _readyz(failpath) == (200, []))


def _packet_log(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == message]


@contextlib.contextmanager
def _failing_run_on_a_full_disk(
    disk: Any, config: Config, caplog: pytest.LogCaptureFixture
) -> Iterator[RunningFailpath]:
    """failpath running, its packet disk full, and a failing run accepted: its packet cannot be written."""
    caplog.set_level(logging.WARNING, logger="failpath.packets")
    with RunningFailpath(config) as failpath:
        disk.fill()
        assert request(failpath.http_url, _failing_trace(), PROTOBUF)[0] == 200
        yield failpath


def test_packet_write_is_retried_through_a_full_disk(
    packets_on_small_disk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    disk, config = packets_on_small_disk
    with _failing_run_on_a_full_disk(disk, config, caplog) as failpath:
        _wait(lambda: _packet_log(caplog, "cannot write a replay packet, will retry"))
        record = _packet_log(caplog, "cannot write a replay packet, will retry")[0]
        assert (record.cause, record.target, record.error) == ("disk_full", "file", "ENOSPC")  # type: ignore[attr-defined]
        disk.free()
        _wait(lambda: failpath.metric("failpath_packets_written_total", bucket="unknown") == 1)
    assert len(list((disk.path / "replay").glob("*/*.json"))) == 1
    assert not list((disk.path / "replay").glob("*/.*.tmp"))


def test_packet_lost_to_a_full_disk_is_counted_by_cause(
    packets_on_small_disk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    disk, config = packets_on_small_disk
    with _failing_run_on_a_full_disk(disk, config, caplog) as failpath:
        _wait(lambda: failpath.metric("failpath_packets_failed_total", stage="write", cause="disk_full") == 1)
        disk.free()
    retries = _packet_log(caplog, "cannot write a replay packet, will retry")
    assert [record.attempt for record in retries] == [1, 2, 3]  # type: ignore[attr-defined]
    (lost,) = _packet_log(caplog, "replay packet lost: cannot write it")
    assert (lost.cause, lost.error, lost.levelname) == ("disk_full", "ENOSPC", "ERROR")  # type: ignore[attr-defined]
