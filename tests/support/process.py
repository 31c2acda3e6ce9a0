"""failpath as a child process, for tests that need its real start-up, signals, logs or resource limits."""

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.http import request


def serve(
    config: dict[str, Any],
    folder: Path,
    admin_port: int,
    python_args: tuple[str, ...] = (),
    log: Path | None = None,
) -> "subprocess.Popen[str]":
    """`failpath serve` with this config (written to folder), once /readyz answers 200. python_args replace
    `-m failpath` (e.g. `-c` with a script that sets limits first and then runs the module). Its log goes to
    a pipe, or appended to `log` (for a process that may be killed before anyone reads the pipe)."""
    path = folder / "failpath.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, *(python_args or ("-m", "failpath")), "serve", "--config", str(path)],
        stderr=subprocess.PIPE if log is None else log.open("a"),
        text=True,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if request(f"http://127.0.0.1:{admin_port}/readyz", method="GET")[0] == 200:
                return process
        except OSError:
            pass
        assert process.poll() is None, process.communicate()[1] if log is None else log.read_text()[-3000:]
        assert time.monotonic() < deadline, "failpath did not become ready"
        time.sleep(0.05)
