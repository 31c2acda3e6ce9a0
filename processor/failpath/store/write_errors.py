"""Why a write to local storage failed, said the same way by the span store and the packet writer.

A cause is a short label for metrics and logs (never a path or a value) plus whether trying again can
help, and whether an operator has to act for that (disk full, read-only filesystem, too many open files).
"""

import errno
import sqlite3
from dataclasses import dataclass

# SQLite INTEGER columns are signed 64-bit; OTLP times are unsigned. Beyond this, a column saturates
# (the span's own bytes, stored beside it, keep the exact value).
INT64_MAX = (1 << 63) - 1


def int64(value: int) -> int:
    return min(value, INT64_MAX)


@dataclass(frozen=True, slots=True)
class WriteCause:
    label: str
    retryable: bool
    # What an operator should hear on /readyz and in logs; None for causes that clear up by themselves.
    condition: str | None = None


_OS_CAUSES = {
    errno.ENOSPC: WriteCause("disk_full", True, "disk full"),
    errno.EDQUOT: WriteCause("disk_full", True, "disk quota exceeded"),
    errno.EFBIG: WriteCause("disk_full", True, "file size limit reached"),
    errno.EROFS: WriteCause("read_only", True, "read-only filesystem"),
    errno.EACCES: WriteCause("permission", True, "permission denied"),
    errno.EPERM: WriteCause("permission", True, "permission denied"),
    errno.EMFILE: WriteCause("too_many_files", True, "too many open files"),
    errno.ENFILE: WriteCause("too_many_files", True, "too many open files"),
    errno.EIO: WriteCause("io_error", True, "I/O error"),
}

# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_CAUSES = {
    5: WriteCause("busy", True),  # SQLITE_BUSY
    6: WriteCause("busy", True),  # SQLITE_LOCKED
    7: WriteCause("out_of_memory", True),  # SQLITE_NOMEM
    8: WriteCause("read_only", True, "database is read-only"),  # SQLITE_READONLY
    10: WriteCause("io_error", True, "disk I/O error"),  # SQLITE_IOERR
    13: WriteCause("disk_full", True, "disk full"),  # SQLITE_FULL
    14: WriteCause("cannot_open", True, "cannot open the database file"),  # SQLITE_CANTOPEN
    3: WriteCause("permission", True, "permission denied"),  # SQLITE_PERM
    11: WriteCause("corrupt", False),  # SQLITE_CORRUPT
    26: WriteCause("corrupt", False),  # SQLITE_NOTADB
    18: WriteCause("too_big", False),  # SQLITE_TOOBIG
    19: WriteCause("constraint", False),  # SQLITE_CONSTRAINT
    20: WriteCause("mismatch", False),  # SQLITE_MISMATCH
}


def cause_of(error: BaseException) -> WriteCause:
    """The cause of a failed local write (an OSError or a sqlite3.Error)."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in _SQLITE_CAUSES:
            return _SQLITE_CAUSES[code & 0xFF]
        return WriteCause("sqlite_error", False)
    if isinstance(error, OSError) and error.errno in _OS_CAUSES:
        return _OS_CAUSES[error.errno]
    if isinstance(error, OSError):
        return WriteCause("os_error", True)
    return WriteCause("unexpected_error", False)
