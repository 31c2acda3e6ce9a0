"""How failpath opens its SQLite store for writing (the span store and the packet index share the file)."""

import sqlite3
from pathlib import Path

from failpath.store.private_files import private_file

# Rows are KB-sized spans written in batches: 16 KiB pages take ~25% less CPU per span than SQLite's 4 KiB
# (fewer page writes to the WAL and checkpoints), where 64 KiB ones gain little more for spans and cost the
# packet index's small transactions ~50% more (each writes whole pages). Only a new file takes it; an
# existing store keeps its page size.
PAGE_SIZE = 16384
# Checkpoint once the WAL holds ~4 MiB, SQLite's default amount (1,000 pages of 4 KiB).
CHECKPOINT_PAGES = 4 * 2**20 // PAGE_SIZE


def open_for_writing(path: Path) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) on an owner-only file, in WAL mode with NORMAL
    sync (a process crash loses nothing committed), waiting up to 5 s for the other writer's lock."""
    private_file(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL mode: a WAL database keeps its page size
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
    return db
