"""Replay packet files and their index.

Files: <data_dir>/<packets.path>/YYYY-MM-DD/<trace_id>.json (the run's start date, UTC), folders 0700 and
files 0600, written to a temporary name and renamed so a reader never sees half a packet. Index: a
`packets` table in the embedded SQLite store (time, workflow, bucket, model, duration, trace id, run id),
pruned by age and count together with the files.
"""

import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failpath.otlp.timestamps import parse_iso_time
from failpath.store.private_files import private_dir, private_file
from failpath.store.write_errors import int64

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
"""


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
        if readonly:
            if not db_path.exists():
                raise FileNotFoundError(f"no store at {db_path}")
            self._db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        else:
            private_dir(folder)
            private_file(db_path)
            self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            # As the span store: WAL with NORMAL sync survives a process crash; the packet file itself is fsynced.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

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
        directory = private_dir(self.folder / day)
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
            with contextlib.suppress(OSError):  # on a read-only disk this fails too; the first error matters
                temporary.unlink(missing_ok=True)
            raise
        return path

    def _index(self, packet: Mapping[str, Any], path: Path) -> None:
        started_ns = int64(parse_iso_time(packet["started_at"]))
        self._db.execute(
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

    def attempts(self, run_id: str, trace_id: str) -> list[IndexedPacket]:
        """Earlier packets of the same run (its other attempts), oldest first."""
        return self._select("WHERE run_id = ? AND trace_id != ? ORDER BY started_ns", (run_id, trace_id))

    def prune(self, max_age_s: float, max_packets: int) -> int:
        """Delete packets older than max_age or beyond the newest max_packets; returns how many."""
        cutoff = time.time_ns() - int(max_age_s * 1e9)
        doomed = self._db.execute(
            "SELECT trace_id, path FROM packets WHERE written_ns < ? UNION "
            "SELECT trace_id, path FROM packets WHERE trace_id NOT IN "
            "(SELECT trace_id FROM packets ORDER BY started_ns DESC LIMIT ?)",
            (cutoff, max_packets),
        ).fetchall()
        for trace_id, relative in doomed:
            (self.folder / relative).unlink(missing_ok=True)
            self._db.execute("DELETE FROM packets WHERE trace_id = ?", (trace_id,))
        for directory in self.folder.iterdir() if doomed else ():
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
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

    def buckets(self, since_ns: int = 0, workflow: str | None = None) -> list[BucketSummary]:
        """Per bucket, most failures first, with its top 3 workflows and models."""
        where = "WHERE started_ns >= ?"
        params: list[object] = [since_ns]
        if workflow is not None:
            where += " AND workflow = ?"
            params.append(workflow)
        totals = self._db.execute(
            f"SELECT bucket, COUNT(*) FROM packets {where} GROUP BY bucket ORDER BY COUNT(*) DESC, bucket", params
        ).fetchall()
        return [
            BucketSummary(
                str(bucket),
                int(count),
                self._top("workflow", where, (*params, bucket)),
                self._top("model", where, (*params, bucket)),
            )
            for bucket, count in totals
        ]

    def _top(self, column: str, where: str, params: tuple[object, ...]) -> list[tuple[str, int]]:
        rows = self._db.execute(
            f"SELECT {column}, COUNT(*) FROM packets {where} AND bucket = ? AND {column} IS NOT NULL "
            f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column} LIMIT 3",
            params,
        ).fetchall()
        return [(str(name), int(n)) for name, n in rows]

    def timeline(self, since_ns: int, slot_ns: int) -> list[tuple[int, str, int]]:
        """Failures per (slot, bucket) since since_ns, slots slot_ns wide counted from since_ns:
        (slot number, bucket, count), in slot order."""
        rows = self._db.execute(
            "SELECT (started_ns - ?) / ? AS slot, bucket, COUNT(*) FROM packets WHERE started_ns >= ? "
            "GROUP BY slot, bucket ORDER BY slot",
            (since_ns, slot_ns, since_ns),
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


def _prefix_range(prefix: str) -> tuple[str, str]:
    """The trace ids (lowercase hex) starting with prefix lie in [prefix, prefix + "g"): a range the
    primary key answers, where LIKE (case-insensitive) would read every row."""
    low = prefix.lower()
    return low, low + "g"
