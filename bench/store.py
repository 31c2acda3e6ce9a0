"""Write rate of the embedded span store (store/spans.py) on each data profile of bench/agent_traces.py, in
its current layout and in the earlier one (spans keyed by their ids, WITHOUT ROWID), one request of 128
spans per transaction as the store exporter writes them. In-process, on a temporary directory.

    .venv/bin/python bench/store.py [--traces 600]
"""

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from agent_traces import PROFILES, count_spans, generate
from failpath.store.spans import SpanStore

EARLIER = """
CREATE TABLE spans (
    trace_id BLOB NOT NULL, span_id BLOB NOT NULL, parent_span_id BLOB NOT NULL, name TEXT NOT NULL,
    kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, status_code INTEGER NOT NULL,
    resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
"""


def rate(requests: list[bytes], earlier: bool) -> tuple[float, int]:
    """(spans per second, bytes on disk with the WAL)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spans.db"
        if earlier:
            sqlite3.connect(path).executescript(EARLIER)
        store = SpanStore(path)
        started = time.perf_counter()
        written = sum(store.write(body) for body in requests)
        elapsed = time.perf_counter() - started
        store.close()
        size = sum(file.stat().st_size for file in Path(folder).iterdir())
    return written / elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=600)
    args = parser.parse_args()
    for profile in PROFILES:
        requests = generate(args.traces, 42, 128, profile)
        spans = sum(map(count_spans, requests))
        print(f"profile {profile}: {spans} spans, {sum(map(len, requests)) / spans:.0f} B/span")
        for name, earlier in (("current layout", False), ("earlier layout", True)):
            per_second, size = rate(requests, earlier)
            print(f"  {name:15} {per_second:9.0f} spans/s  {1e6 / per_second:6.1f} us/span  {size / 2**20:5.0f} MB")


if __name__ == "__main__":
    main()
