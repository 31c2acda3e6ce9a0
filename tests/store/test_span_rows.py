"""The store's native row reading (otlp/_spans.c: store_rows) against the reference (store/span_rows.rows_of,
upb messages): the same rows on recorded framework traces, the redaction mix and generated requests; encodings
a slice cannot reproduce give None; and a store written through either path holds the same rows."""

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp.wire import numbered_field as _field
from failpath.store import span_rows
from failpath.store.connection import PAGE_SIZE
from failpath.store.span_rows import rows_of
from failpath.store.spans import SpanStore
from tests.support.any_values import VALUES, requests
from tests.support.any_values import spans as spans_of
from tests.support.framework_traces import recorded_requests
from tests.support.redaction_mix import request

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")


def test_recorded_framework_traces_and_the_redaction_mix_give_the_reference_rows() -> None:
    rng = random.Random(5)
    messages = recorded_requests() + [request(rng) for _ in range(4)]
    checked = 0
    for message in messages:
        data = message.SerializeToString()
        native = spans.store_rows(data)
        assert native == rows_of(ExportTraceServiceRequest.FromString(data))
        checked += len(native[2])
    assert checked > 300


_texts = st.text(max_size=10)
_service_values = st.one_of(
    st.builds(AnyValue, string_value=_texts), st.builds(AnyValue, int_value=st.integers(-5, 5)), VALUES
)
_resources = st.builds(
    Resource,
    attributes=st.lists(
        st.builds(KeyValue, key=st.sampled_from(["service.name", "service.version", "", "é"]), value=_service_values),
        max_size=3,
    ),
)
_requests = requests(spans_of(_texts), _resources)


@settings(max_examples=300, deadline=None)
@given(_requests)
def test_generated_requests_give_the_reference_rows(message: ExportTraceServiceRequest) -> None:
    """Absent and empty resources and scopes, service.name of every type and written twice (the first one
    counts), every kind and status code (negative ones too), times up to 2**64 - 1 (saturated)."""
    data = message.SerializeToString()
    assert spans.store_rows(data) == rows_of(ExportTraceServiceRequest.FromString(data))


def test_repeated_singular_fields_read_as_upb_reads_them() -> None:
    """A span's name and kind written twice: the last one, as upb keeps it (the row keeps the span's bytes as
    they came, which parse to the same span)."""
    span = _field(5, b"first") + b"\x30\x02" + _field(5, b"second") + b"\x30\x03" + b"\x39" + b"\xff" * 8
    data = _field(1, _field(2, _field(1, _field(1, b"lib") + _field(1, b"lib2")) + _field(2, span)))
    (resource,), (scope,), (row,) = spans.store_rows(data)
    _, _, (expected,) = rows_of(ExportTraceServiceRequest.FromString(data))
    assert row[:9] == expected[:9] and row[4:9] == ("second", 3, 2**63 - 1, 0, 0)
    assert row[9] == span and Span.FromString(row[9]) == Span.FromString(expected[9])
    assert resource == (b"", "") and scope[2:] == ("lib2", "")


@pytest.mark.parametrize(
    "data",
    [
        _field(1, _field(2, _field(2, _field(5, b"\xff")))),  # a span name that is not UTF-8
        _field(1, _field(2, _field(2, _field(6, b"x")))),  # kind as a length-delimited field
        _field(1, _field(2, _field(1, _field(2, b"\xc3")) + _field(2, b""))),  # a scope version that is not UTF-8
        _field(1, _field(1, b"") + _field(1, b"")),  # a resource written twice: upb merges them
        _field(1, _field(1, _field(1, _field(1, b"service.name") + _field(2, b"\x0a\x01a\x18\x01")))),  # 2 members
        _field(1, _field(2, _field(2, b"\x0a\x10" + b"\1" * 15))),  # cut short
    ],
)
def test_what_a_slice_cannot_reproduce_gives_none(data: bytes) -> None:
    assert spans.store_rows(data) is None


def _contents(path: Path) -> list[list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return [
            db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in (("spans", "rowid"), ("resources", "id"), ("scopes", "id"))
        ]
    finally:
        db.close()


def test_a_store_written_natively_holds_what_the_reference_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(8)
    payloads = [message.SerializeToString() for message in recorded_requests() + [request(rng) for _ in range(3)]]
    native, reference = tmp_path / "native.db", tmp_path / "reference.db"
    store = SpanStore(native)
    written = sum(map(store.write, payloads))
    store.close()
    monkeypatch.setattr(span_rows, "store_rows", None)
    store = SpanStore(reference)
    assert sum(map(store.write, payloads)) == written > 300
    store.close()
    assert _contents(native) == _contents(reference)
    assert sqlite3.connect(native).execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE


def _spans_of(service: str, starts: list[int]) -> bytes:
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = service
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = f"{service}-lib"
    for index, start in enumerate(starts):
        span_id = hashlib.blake2b(f"{service}/{index}".encode(), digest_size=8).digest()
        scope_spans.spans.add(trace_id=bytes([index + 1]) * 16, span_id=span_id, start_time_unix_nano=start)
    return message.SerializeToString()


def _services(path: Path) -> list[list[str]]:
    db = sqlite3.connect(path)
    try:
        return [
            [row[0] for row in db.execute(query)]
            for query in ("SELECT service_name FROM resources ORDER BY id", "SELECT name FROM scopes ORDER BY id")
        ]
    finally:
        db.close()


def test_pruning_removes_the_resources_and_scopes_no_span_is_left_in(tmp_path: Path) -> None:
    """Judged by the latest start of their spans against the oldest span left, never by reading every span."""
    path = tmp_path / "spans.db"
    store = SpanStore(path)
    store.write(_spans_of("old-service", [100, 200]))
    store.write(_spans_of("shared", [150, 900]))
    store.write(_spans_of("new-service", [1_000]))
    assert store.prune(oldest_start_ns=300, max_spans=0) == 3  # old-service's two spans and shared's first
    assert _services(path) == [["shared", "new-service"], ["shared-lib", "new-service-lib"]]
    assert store.prune(oldest_start_ns=0, max_spans=1) == 1  # shared's last span
    assert _services(path) == [["new-service"], ["new-service-lib"]]
    store.write(_spans_of("old-service", [2_000]))  # a pruned resource comes back
    assert _services(path) == [["new-service", "old-service"], ["new-service-lib", "old-service-lib"]]
    store.close()
    db = sqlite3.connect(path)  # a row as an earlier version writes it, without the latest start
    db.execute("INSERT INTO resources (digest, service_name, body) VALUES (x'01', 'earlier-version', x'')")
    db.commit()
    db.close()
    store = SpanStore(path)
    assert store.prune(oldest_start_ns=1_500, max_spans=0) == 1
    assert _services(path)[0] == ["old-service", "earlier-version"]
    store.close()


def test_a_store_from_before_the_column_keeps_its_rows_and_prunes_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "spans.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE resources (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, service_name TEXT NOT NULL,"
        " body BLOB NOT NULL);"
        "CREATE TABLE scopes (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, name TEXT NOT NULL,"
        " version TEXT NOT NULL, body BLOB NOT NULL);"
        "INSERT INTO resources VALUES (1, x'00', 'from-before', x'');"
    )
    db.close()
    store = SpanStore(path)
    store.write(_spans_of("later", [100]))
    store.write(_spans_of("latest", [500]))
    assert store.prune(oldest_start_ns=200, max_spans=0) == 1
    assert _services(path)[0] == ["from-before", "latest"]  # its spans unknown: kept
    store.close()
