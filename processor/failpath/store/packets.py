"""Replay packet files and their index.

Files: <data_dir>/<packets.path>/YYYY-MM-DD/<trace_id>.json (the run's start date, UTC), folders 0700 and
files 0600, written to a temporary name and renamed so a reader never sees half a packet. Index: a
`packets` table in the embedded SQLite store (time, workflow, bucket, model, duration, trace id, run id),
pruned by age and count together with the files, and `packet_counts`, the same rows counted per UTC hour,
bucket, workflow and model, kept in step with it in the same transaction: counts over a week of 100k
packets read a few thousand rows instead of every packet.
"""

import contextlib
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failpath.otlp.timestamps import parse_iso_time
from failpath.store.connection import open_for_writing
from failpath.store.private_files import private_dir
from failpath.store.write_errors import int64

# A packet lists at most this many of its run's other attempts, the latest (packets/trimming.py says so).
MAX_ATTEMPTS = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS packets (
    trace_id TEXT PRIMARY KEY,
    run_id TEXT,
    workflow TEXT NOT NULL,
    bucket TEXT NOT NULL,
    model TEXT,
    started_ns INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    written_ns INTEGER NOT NULL,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS packets_by_start ON packets (started_ns);
CREATE INDEX IF NOT EXISTS packets_by_run ON packets (run_id);
CREATE INDEX IF NOT EXISTS packets_by_bucket ON packets (bucket, started_ns);
CREATE INDEX IF NOT EXISTS packets_by_workflow ON packets (workflow, started_ns);
CREATE TABLE IF NOT EXISTS packet_counts (
    hour INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    workflow TEXT NOT NULL,
    model TEXT NOT NULL,  -- '' for runs without a model
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, bucket, workflow, model)
) WITHOUT ROWID;
"""
_HOUR_NS = 3600 * 10**9
_COUNT = (
    "INSERT INTO packet_counts (hour, bucket, workflow, model, n) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (hour, bucket, workflow, model) DO UPDATE SET n = n + excluded.n"
)


class PacketWriteError(Exception):
    """A packet not written; target: "file" or "index" (the SQLite row)."""

    def __init__(self, target: str, error: OSError | sqlite3.Error) -> None:
        super().__init__(f"cannot write the packet {target}: {type(error).__name__}")
        self.target = target
        self.error = error


@dataclass(frozen=True, slots=True)
class BucketSummary:
    """One bucket's failures in a window, with its top workflows and models (name, count), most first."""

    bucket: str
    count: int
    workflows: list[tuple[str, int]]
    models: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class IndexedPacket:
    trace_id: str
    run_id: str | None
    workflow: str
    bucket: str
    model: str | None
    started_ns: int
    duration_ms: float
    path: Path


class PacketStore:
    """Not thread-safe: one thread writes (the packet stage's), readers (the CLI) open their own."""

    def __init__(self, db_path: Path, folder: Path, readonly: bool = False) -> None:
        self.folder = folder
        self._days: dict[str, Path] = {}  # the dated folders made so far
        if readonly:
            if not db_path.exists():
                raise FileNotFoundError(f"no store at {db_path}")
            self._db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
            # An index the service has not opened since the counts came: counted from the packets instead.
            self._hourly = _has_table(self._db, "packet_counts")
        else:
            private_dir(folder)
            self._db = open_for_writing(db_path)
            counted = _has_table(self._db, "packet_counts")
            self._db.executescript(_SCHEMA)
            if not counted:  # an index written before the counts existed: count what it holds
                self._db.execute(
                    "INSERT INTO packet_counts SELECT started_ns / ?, bucket, workflow, coalesce(model, ''), COUNT(*) "
                    "FROM packets GROUP BY 1, 2, 3, 4",
                    (_HOUR_NS,),
                )
            self._hourly = True

    def close(self) -> None:
        self._db.close()

    def write(self, packet: Mapping[str, Any], encoded: bytes) -> Path:
        """Write the file, then its index row; raises PacketWriteError saying which of the two failed.
        Writing the same packet again replaces both."""
        try:
            path = self._write_file(packet, encoded)
        except OSError as error:
            raise PacketWriteError("file", error) from None
        try:
            self._index(packet, path)
        except sqlite3.Error as error:
            raise PacketWriteError("index", error) from None
        return path

    def _write_file(self, packet: Mapping[str, Any], encoded: bytes) -> Path:
        day = packet["started_at"][:10]
        directory = self._days.get(day)
        if directory is None:  # made once (pruning forgets what it removes; a failed write forgets its day)
            directory = self._days[day] = private_dir(self.folder / day)
        path = directory / f"{packet['trace_id']}.json"
        temporary = directory / f".{packet['trace_id']}.json.tmp"
        try:
            fd = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            try:
                view = memoryview(encoded)
                while view:  # a write to a nearly full disk can be short
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, path)
        except OSError:
            self._days.pop(day, None)  # the folder made again at the next try, if it is what went missing
            with contextlib.suppress(OSError):  # on a read-only disk this fails too; the first error matters
                temporary.unlink(missing_ok=True)
            raise
        return path

    def _index(self, packet: Mapping[str, Any], path: Path) -> None:
        started_ns = int64(parse_iso_time(packet["started_at"]))
        db = self._db
        with self._transaction():
            self._uncount(db.execute(f"{_COUNTED} WHERE trace_id = ?", (packet["trace_id"],)).fetchall())
            db.execute(
                "INSERT OR REPLACE INTO packets (trace_id, run_id, workflow, bucket, model, started_ns, duration_ms,"
                " written_ns, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    packet["trace_id"],
                    packet["run"]["run_id"],
                    packet["workflow"],
                    packet["failure_bucket"],
                    packet["selected_model"],
                    started_ns,
                    packet["duration_ms"],
                    time.time_ns(),
                    str(path.relative_to(self.folder)),
                ),
            )
            key = (started_ns // _HOUR_NS, packet["failure_bucket"], packet["workflow"], packet["selected_model"] or "")
            db.execute(_COUNT, (*key, 1))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The write lock taken first (BEGIN IMMEDIATE, so busy_timeout waits for it instead of a read turning
        into a write failing at once), committed, or rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (disk full): a second ROLLBACK would hide the cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _uncount(self, rows: list[tuple[int, str, str, str]]) -> None:
        """Take rows (hour, bucket, workflow, model) of packets being replaced or deleted out of the counts."""
        self._db.executemany(_COUNT, [(*row, -1) for row in rows])
        if rows:
            self._db.execute("DELETE FROM packet_counts WHERE n <= 0")

    def attempts(self, run_id: str, trace_id: str) -> tuple[list[IndexedPacket], bool]:
        """The packets of the run's other attempts (earlier and later), oldest first: the latest MAX_ATTEMPTS of
        them (a retry loop can reuse a run id thousands of times), and whether there are more."""
        latest = self._select(
            "WHERE run_id = ? AND trace_id != ? ORDER BY started_ns DESC LIMIT ?", (run_id, trace_id, MAX_ATTEMPTS + 1)
        )
        return latest[:MAX_ATTEMPTS][::-1], len(latest) > MAX_ATTEMPTS

    def prune(self, max_age_s: float, max_packets: int) -> int:
        """Delete packets older than max_age, then the oldest runs beyond max_packets; returns how many."""
        cutoff = time.time_ns() - int(max_age_s * 1e9)
        db = self._db
        doomed = db.execute("SELECT trace_id, path FROM packets WHERE written_ns < ?", (cutoff,)).fetchall()
        # Counted, then only the excess read in start order: a NOT IN over the newest max_packets read and
        # sorted the whole index every time (~0.3 s of CPU at 100k packets, every 500 packets written).
        excess = db.execute("SELECT count(*) FROM packets").fetchone()[0] - len(doomed) - max_packets
        if excess > 0:
            doomed += db.execute(
                "SELECT trace_id, path FROM packets WHERE written_ns >= ? ORDER BY started_ns LIMIT ?",
                (cutoff, excess),
            ).fetchall()
        for trace_id, relative in doomed:
            (self.folder / relative).unlink(missing_ok=True)
            with self._transaction():
                self._uncount(self._db.execute(f"{_COUNTED} WHERE trace_id = ?", (trace_id,)).fetchall())
                self._db.execute("DELETE FROM packets WHERE trace_id = ?", (trace_id,))
        for directory in self.folder.iterdir() if doomed else ():
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
                self._days.pop(directory.name, None)
        return len(doomed)

    # -- reading ---------------------------------------------------------------------------------------------
    def find(self, prefix: str) -> list[IndexedPacket]:
        low, high = _prefix_range(prefix)
        return self._select("WHERE trace_id >= ? AND trace_id < ? ORDER BY started_ns DESC LIMIT 20", (low, high))

    def recent(
        self, since_ns: int = 0, workflow: str | None = None, bucket: str | None = None, limit: int = 50
    ) -> list[IndexedPacket]:
        filters = {name: value for name, value in (("workflow", workflow), ("bucket", bucket)) if value is not None}
        return self.page(filters, None, since_ns, limit)

    def page(
        self, filters: dict[str, str], before: tuple[int, str] | None = None, since_ns: int = 0, limit: int = 50
    ) -> list[IndexedPacket]:
        """Newest first, filtered by exact bucket, workflow and model and by trace-id prefix; the next page
        starts after the last row, (start, trace id) (keyset paging: as fast on page 1,000 as on page 1)."""
        clauses: list[str] = ["started_ns >= ?"]
        params: list[object] = [since_ns]
        if before is not None:
            clauses.append("(started_ns < ? OR (started_ns = ? AND trace_id < ?))")
            params.extend((before[0], before[0], before[1]))
        for column in ("bucket", "workflow", "model"):
            if filters.get(column):
                clauses.append(f"{column} = ?")
                params.append(filters[column])
        if filters.get("trace"):
            clauses.append("trace_id >= ? AND trace_id < ?")
            params.extend(_prefix_range(filters["trace"]))
        where = " AND ".join(clauses)
        return self._select(f"WHERE {where} ORDER BY started_ns DESC, trace_id DESC LIMIT ?", (*params, limit))

    def _counts(self, since_ns: int, workflow: str | None) -> tuple[str, list[object]]:
        """A subquery of (at_ns, bucket, workflow, model, n) for the packets since since_ns: the hourly counts
        for whole hours, the packets themselves for the part of an hour before the first whole one."""
        only = " AND workflow = ?" if workflow is not None else ""
        chosen = [workflow] if workflow is not None else []
        if not self._hourly:
            query = "SELECT started_ns AS at_ns, bucket, workflow, coalesce(model, '') AS model, 1 AS n FROM packets"
            return f"{query} WHERE started_ns >= ?{only}", [since_ns, *chosen]
        first_hour = -(-since_ns // _HOUR_NS)
        query = (
            f"SELECT hour * {_HOUR_NS} AS at_ns, bucket, workflow, model, n FROM packet_counts "
            f"WHERE hour >= ?{only} UNION ALL "
            "SELECT started_ns, bucket, workflow, coalesce(model, ''), 1 FROM packets "
            f"WHERE started_ns >= ? AND started_ns < ?{only}"
        )
        return query, [first_hour, *chosen, since_ns, first_hour * _HOUR_NS, *chosen]

    def buckets(self, since_ns: int = 0, workflow: str | None = None) -> list[BucketSummary]:
        """Per bucket, most failures first, with its top 3 workflows and models."""
        counts, params = self._counts(since_ns, workflow)
        totals: Counter[str] = Counter()
        workflows: dict[str, Counter[str]] = {}
        models: dict[str, Counter[str]] = {}
        rows = self._db.execute(
            f"SELECT bucket, workflow, model, SUM(n) FROM ({counts}) GROUP BY bucket, workflow, model", params
        )
        for bucket, name, model, n in rows:
            totals[bucket] += n
            workflows.setdefault(bucket, Counter())[name] += n
            if model:
                models.setdefault(bucket, Counter())[model] += n
        return [
            BucketSummary(bucket, count, _ranked(workflows.get(bucket))[:3], _ranked(models.get(bucket))[:3])
            for bucket, count in _ranked(totals)
        ]

    def timeline(self, since_ns: int, slot_ns: int) -> list[tuple[int, str, int]]:
        """Failures per (slot, bucket) since since_ns, slots slot_ns wide counted from since_ns:
        (slot number, bucket, count), in slot order. Whole hours are counted in their first nanosecond, so
        slots should be whole hours from an hour's start."""
        counts, params = self._counts(since_ns, None)
        rows = self._db.execute(
            f"SELECT (at_ns - ?) / ? AS slot, bucket, SUM(n) FROM ({counts}) GROUP BY slot, bucket "
            "ORDER BY slot, bucket",
            (since_ns, slot_ns, *params),
        ).fetchall()
        return [(int(slot), str(bucket), int(count)) for slot, bucket, count in rows]

    def _select(self, where: str, params: tuple[object, ...]) -> list[IndexedPacket]:
        rows = self._db.execute(
            f"SELECT trace_id, run_id, workflow, bucket, model, started_ns, duration_ms, path FROM packets {where}",
            params,
        ).fetchall()
        return [
            IndexedPacket(row[0], row[1], row[2], row[3], row[4], row[5], row[6], self.folder / row[7]) for row in rows
        ]


_COUNTED = f"SELECT started_ns / {_HOUR_NS}, bucket, workflow, coalesce(model, '') FROM packets"


def _ranked(counts: Counter[str] | None) -> list[tuple[str, int]]:
    """Largest first, ties by name."""
    return sorted((counts or Counter()).items(), key=lambda item: (-item[1], item[0]))


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _prefix_range(prefix: str) -> tuple[str, str]:
    """The trace ids (lowercase hex) starting with prefix lie in [prefix, prefix + "g"): a range the
    primary key answers, where LIKE (case-insensitive) would read every row."""
    low = prefix.lower()
    return low, low + "g"
