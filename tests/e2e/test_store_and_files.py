"""The embedded SQLite store and the JSONL exporter: what they hold, and that only the owner can read it."""

import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp import json_codec
from tests.support.agent_run import emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath, make_config


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_store_keeps_every_span_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = make_config(data, {"exporters": {"jsonl": {"enabled": True}}})
    with RunningFailpath(config) as failpath:
        sent = emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2)
    assert _mode(data) == 0o700
    assert _mode(data / "spans.db") == 0o600
    assert _mode(data / "spans.jsonl") == 0o600
    assert not [p for p in data.iterdir() if _mode(p) & 0o077]

    db = sqlite3.connect(data / "spans.db")
    rows = db.execute(
        "SELECT s.trace_id, s.span_id, s.name, s.status_code, s.body, r.service_name, c.name "
        "FROM spans s JOIN resources r ON r.id = s.resource_id JOIN scopes c ON c.id = s.scope_id"
    ).fetchall()
    assert len(rows) == len(sent)
    by_id = {row[1]: row for row in rows}
    for expected in sent:
        context = expected.get_span_context()
        assert context is not None
        trace_id, _, name, status_code, body, service, scope = by_id[context.span_id.to_bytes(8, "big")]
        assert trace_id == context.trace_id.to_bytes(16, "big")
        assert (name, status_code, service, scope) == (
            expected.name,
            expected.status.status_code.value,
            "support-agent",
            "failpath.tests",
        )
        assert Span.FromString(body).name == expected.name
    assert db.execute("SELECT count(*) FROM resources").fetchone()[0] == 1

    lines = (data / "spans.jsonl").read_text().splitlines()
    spans = [
        span
        for line in lines
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert len(spans) == len(sent)
    assert all(len(span["traceId"]) == 32 and len(span["spanId"]) == 16 for span in spans)


_EARLIER_LAYOUT = """
CREATE TABLE spans (
    trace_id BLOB NOT NULL, span_id BLOB NOT NULL, parent_span_id BLOB NOT NULL, name TEXT NOT NULL,
    kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, status_code INTEGER NOT NULL,
    resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
"""


@pytest.mark.parametrize("layout", ["current", "earlier"])
def test_store_deduplicates_resent_spans_and_reads_them_back_in_either_layout(tmp_path: Path, layout: str) -> None:
    """The current layout (rows in arrival order, a unique index on the ids) and a store made before it
    (keyed by the ids, WITHOUT ROWID) take the same writes, replace re-sent spans, read and prune alike."""
    from failpath.store.spans import SpanStore, read_trace
    from tests.support.requests import build_request

    if layout == "earlier":
        sqlite3.connect(tmp_path / "s.db").executescript(_EARLIER_LAYOUT)
    store = SpanStore(tmp_path / "s.db")
    request = build_request(spans=5)
    payload = request.SerializeToString()
    assert store.write(payload) == 5
    assert store.write(payload) == 5
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT count(*) FROM spans").fetchone()[0] == 5
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert ("spans_by_id" in indexes) is (layout == "current")
    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id
    back = read_trace(tmp_path / "s.db", trace_id.hex()[:10])
    assert sorted(s.span_id for rs in back.resource_spans for ss in rs.scope_spans for s in ss.spans) == sorted(
        s.span_id for ss in request.resource_spans[0].scope_spans for s in ss.spans if s.trace_id == trace_id
    )
    assert store.prune(0, 2) == 3
    store.close()


def test_json_codec_round_trip_keeps_every_field() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.support.requests import build_request

    original = build_request(spans=3)
    span = original.resource_spans[0].scope_spans[0].spans[0]
    span.parent_span_id = bytes.fromhex("0102030405060708")
    link = span.links.add()
    link.trace_id, link.span_id = bytes(range(16)), bytes(range(8))
    decoded = ExportTraceServiceRequest()
    json_codec.decode_request(json_codec.encode(original), decoded)
    assert decoded == original


def test_store_retention_by_age_and_count(tmp_path: Path) -> None:
    from failpath.store.spans import SpanStore
    from tests.support.requests import build_request

    store = SpanStore(tmp_path / "r.db")
    old = build_request(spans=3)
    for span in old.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano = 1_000  # 1970: far beyond any max_age
    store.write(old.SerializeToString())
    recent = build_request(spans=5)
    now = time.time_ns()
    for index, span in enumerate(recent.resource_spans[0].scope_spans[0].spans):
        span.start_time_unix_nano = now + index
    store.write(recent.SerializeToString())
    assert store.prune(oldest_start_ns=now - 3600 * 10**9, max_spans=0) == 3
    assert store.prune(oldest_start_ns=0, max_spans=2) == 3
    db = sqlite3.connect(tmp_path / "r.db")
    assert [row[0] for row in db.execute("SELECT start_ns FROM spans ORDER BY start_ns")] == [now + 3, now + 4]
    assert db.execute("SELECT count(*) FROM resources").fetchone()[0] == 1
    store.close()


def test_store_exporter_prunes_while_running(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"exporters": {"store": {"retention": {"max_spans": 4, "interval": "100ms"}}}})
    with RunningFailpath(config) as failpath:
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2)  # 14 spans
        deadline = time.monotonic() + 10
        while failpath.metric("failpath_store_pruned_spans_total") < 10:
            assert time.monotonic() < deadline, "retention never ran"
            time.sleep(0.05)
    assert sqlite3.connect(tmp_path / "spans.db").execute("SELECT count(*) FROM spans").fetchone()[0] == 4
