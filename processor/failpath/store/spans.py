"""The embedded span store: SQLite under data_dir, read later by the CLI and the dashboard.

Each span is one row with the fields people filter on, plus the span's own protobuf bytes; resources
and scopes are stored once each and referenced by id. Re-sent spans (exporter retries) replace their row.
Rows go in arrival order (a rowid table) with a unique index on (trace id, span id): random trace ids as
the table's own key scattered every insert across the B-tree: less than half the rate on KB-sized spans
(bench/store.py). A store created before keeps its layout (`spans` WITHOUT ROWID), which reads the same.
Times past the signed 64-bit range (valid OTLP, year 2262 on) saturate in the start_ns/end_ns columns;
the span's bytes keep them exact.
"""

import hashlib
import sqlite3
from operator import itemgetter
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.store.connection import open_for_writing
from failpath.store.span_rows import read_rows
from failpath.store.write_errors import INT64_MAX

# A resource's or scope's last_start_ns: the latest start among its spans; rows an earlier version wrote (which
# the ALTER TABLE in SpanStore gives the default) count as still in use.
_LAST_START = f"last_start_ns INTEGER NOT NULL DEFAULT {INT64_MAX}"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    service_name TEXT NOT NULL,
    body BLOB NOT NULL,
    {_LAST_START}
);
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    body BLOB NOT NULL,
    {_LAST_START}
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_span_id BLOB NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    resource_id INTEGER NOT NULL REFERENCES resources(id),
    scope_id INTEGER NOT NULL REFERENCES scopes(id),
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
"""


class SpanStore:
    """Not thread-safe: one writer thread owns it (see exporters/store.py)."""

    def __init__(self, path: Path) -> None:
        self._db = open_for_writing(path)
        self._db.executescript(_SCHEMA)
        if not _keyed_by_id(self._db):  # the rowid layout: the unique (trace id, span id) is an index
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS spans_by_id ON spans (trace_id, span_id)")
        for table in ("resources", "scopes"):
            if "last_start_ns" not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {_LAST_START}")  # a store from before the column
        self._resources: dict[bytes, int] = {}
        self._scopes: dict[bytes, int] = {}

    def _row_id(self, table: str, cache: dict[bytes, int], body: bytes, columns: str, values: tuple[str, ...]) -> int:
        """The row id of a resource or scope (by its bytes), stored once however many spans share it; a new
        row's latest span start is set by write()."""
        digest = hashlib.blake2b(body, digest_size=16).digest()
        row_id = cache.get(digest)
        if row_id is None:
            marks = ", ?" * len(values)
            self._db.execute(
                f"INSERT OR IGNORE INTO {table} (digest, body, {columns}, last_start_ns) VALUES (?, ?{marks}, 0)",
                (digest, body, *values),
            )
            row_id = cache[digest] = int(
                self._db.execute(f"SELECT id FROM {table} WHERE digest = ?", (digest,)).fetchone()[0]
            )
        return row_id

    def write(self, payload: bytes) -> int:
        """Store every span of a serialized ExportTraceServiceRequest; returns the number written."""
        resources, scopes, spans = read_rows(payload)
        self._db.execute("BEGIN")
        try:
            resource_ids = [
                self._row_id("resources", self._resources, body, "service_name", (service,))
                for body, service in resources
            ]
            ids = [
                (resource_ids[resource], self._row_id("scopes", self._scopes, body, "name, version", (name, version)))
                for resource, body, name, version in scopes
            ]
            self._db.executemany(
                "INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(*row[1:9], *ids[row[0]], row[9]) for row in spans],
            )
            if spans:  # the latest start among the spans of each resource and scope, at most: see prune()
                latest = max(map(itemgetter(6), spans))
                for table, used in (("resources", set(resource_ids)), ("scopes", {scope for _, scope in ids})):
                    self._db.executemany(
                        f"UPDATE {table} SET last_start_ns = max(last_start_ns, ?) WHERE id = ?",
                        [(latest, row_id) for row_id in used],
                    )
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (disk full): a second ROLLBACK would hide the cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return len(spans)

    def prune(self, oldest_start_ns: int, max_spans: int) -> int:
        """Delete spans that started before oldest_start_ns, then the oldest beyond max_spans (0: no limit).
        Returns how many were deleted. Resources and scopes no span refers to go too."""
        db = self._db
        deleted = db.execute("DELETE FROM spans WHERE start_ns < ?", (oldest_start_ns,)).rowcount
        if max_spans:
            excess = db.execute("SELECT count(*) FROM spans").fetchone()[0] - max_spans
            if excess > 0:
                deleted += db.execute(
                    "DELETE FROM spans WHERE (trace_id, span_id) IN "
                    "(SELECT trace_id, span_id FROM spans ORDER BY start_ns LIMIT ?)",
                    (excess,),
                ).rowcount
        if deleted:
            # Every span of a resource (or scope) started by its last_start_ns: one whose last start is before
            # the oldest span left has none left. (Asking the spans which ids they use read the whole table,
            # every KB-sized row of it, at every prune.)
            oldest = db.execute("SELECT min(start_ns) FROM spans").fetchone()[0]
            bound = INT64_MAX if oldest is None else oldest
            db.execute("DELETE FROM resources WHERE last_start_ns < ?", (bound,))
            db.execute("DELETE FROM scopes WHERE last_start_ns < ?", (bound,))
            self._resources.clear()
            self._scopes.clear()
        return int(deleted)

    def close(self) -> None:
        self._db.close()


def _keyed_by_id(db: sqlite3.Connection) -> bool:
    """Whether `spans` is the earlier layout, keyed by (trace id, span id) itself (WITHOUT ROWID)."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'spans'").fetchone()
    return row is not None and "WITHOUT ROWID" in row[0].upper()


class TraceNotFound(LookupError):
    """No trace, or more than one, for a trace id prefix; the message says which."""


def read_trace(path: Path, prefix: str) -> ExportTraceServiceRequest:
    """The stored spans of the one trace whose id starts with prefix (hex), as a request (resources and
    scopes as they were stored). Opens the store read-only."""
    if not path.exists():
        raise TraceNotFound(f"no span store at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # Trace ids are 16 bytes: those starting with the prefix lie between it padded with 0s and with fs,
        # a range the primary key answers (a LIKE over hex(trace_id) would read every span).
        digits = prefix.lower()
        if len(digits) > 32 or any(char not in "0123456789abcdef" for char in digits):
            raise TraceNotFound(f"{prefix}: a trace id is up to 32 hex digits")
        low, high = bytes.fromhex(digits.ljust(32, "0")), bytes.fromhex(digits.ljust(32, "f"))
        ids = db.execute(
            "SELECT DISTINCT lower(hex(trace_id)) FROM spans WHERE trace_id BETWEEN ? AND ? LIMIT 6", (low, high)
        ).fetchall()
        if not ids:
            raise TraceNotFound(f"no stored trace has an id starting with {prefix.lower()}")
        if len(ids) > 1:
            listed = ", ".join(row[0] for row in ids[:5])
            raise TraceNotFound(f"{prefix}: ambiguous, several stored traces match ({listed}); give more digits")
        rows = db.execute(
            "SELECT r.body, c.body, s.body FROM spans s JOIN resources r ON r.id = s.resource_id "
            "JOIN scopes c ON c.id = s.scope_id WHERE s.trace_id = ? ORDER BY s.resource_id, s.scope_id, s.start_ns",
            (bytes.fromhex(ids[0][0]),),
        ).fetchall()
    finally:
        db.close()
    request = ExportTraceServiceRequest()
    groups: dict[tuple[bytes, bytes], Any] = {}
    for resource, scope, body in rows:
        group = groups.get((resource, scope))
        if group is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.ParseFromString(resource)
            group = groups[(resource, scope)] = resource_spans.scope_spans.add()
            group.scope.ParseFromString(scope)
        group.spans.add().ParseFromString(body)
    return request
