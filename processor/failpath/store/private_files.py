"""Owner-only folders (0700) and files (0600) for everything failpath writes."""

import os
import stat
import tempfile
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create path (and parents) as 0700; tighten it if it already exists with wider permissions."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure path exists as a 0600 file (created so, never briefly readable by others)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
    return path


def writable_dir_problem(path: Path) -> str | None:
    """Why failpath could not keep files under path (created if missing), or None. Nothing is left behind:
    a missing folder is judged by the nearest existing one above it."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"cannot write in {existing}: {error.strerror or type(error).__name__}"
    return None
