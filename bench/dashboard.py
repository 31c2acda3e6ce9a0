"""Page speed of the dashboard on a big store: 100k packets in the index and 1M realistic spans in the span
store (the issue's target: overview and run lists in < 200 ms).

The store is generated once into --data (kept for the next run): the realistic agent traces of
bench/agent_traces.py, redacted and tail-sampled as the service does, give real replay packets; their trace
ids are re-numbered into copies until the span store holds --spans spans and the index --packets rows,
spread over the last 7 days, across 20 workflows. Packet files are written for the first 500 rows only (the
index rows beyond them point at files no page here opens). Then `failpath dashboard` serves it on 127.0.0.1
and each page is fetched --requests times; it prints the median, 95th percentile and largest time per page,
and the page size.

    .venv/bin/python bench/dashboard.py [--packets 100000] [--spans 1000000] [--data DIR] [--requests 20]
                                        [--pool 2000]
"""

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent_traces import count_spans, generate
from failpath.agents.config import AgentsConfig
from failpath.config import Config
from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.otlp.timestamps import iso_time
from failpath.packets.config import PacketsConfig
from failpath.packets.packet import Packet
from failpath.packets.stage import PacketMaker
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage
from failpath.store.packets import PacketStore
from failpath.store.spans import SpanStore
from sampling import POLICIES, Clock, Counter, redacted

WEEK_NS = 7 * 86400 * 10**9
FILES = 500
# The generator's runs share one workflow; a real deployment has many (the overview lists the top ones).
WORKFLOWS = 20


def _copy_id(trace_id: bytes, copy: int) -> bytes:
    return copy.to_bytes(4, "big") + trace_id[4:]


async def _real_packets(pool: list[bytes]) -> list[Packet]:
    """The pool's failing runs as the service packs them: tail-sampled, then made into packets."""
    clock, sink = Clock(), Counter()
    stage = TailSamplingStage(SamplingConfig.model_validate({"policies": POLICIES}), sink, Metrics(), clock=clock)
    for index, body in enumerate(pool):
        await stage.consume(Batch(ExportTraceServiceRequest.FromString(body), count_spans(body)))
        clock.now = index * 0.05
        if index % 10 == 0:
            await stage.tick()
    clock.now += 3600
    await stage.tick()
    sampling = SamplingConfig()
    maker = PacketMaker(PacketsConfig(), AgentsConfig(), sampling.errors, sampling.workflow_key)
    made = [maker.make(payload, trace) for payload, trace in sink.failing]
    return [packet for packet in made if packet is not None]


def _spans(store_path: Path, pool: list[bytes], target: int, now: int) -> tuple[int, int]:
    """Copies of the pool with re-numbered trace ids, spread over the last week; returns (spans, copies)."""
    per_copy = sum(map(count_spans, pool))
    copies = max(1, -(-target // per_copy))
    store = SpanStore(store_path)
    written = 0
    for copy in range(copies):
        shift = now - WEEK_NS + copy * (WEEK_NS // copies) - 1_760_000_000 * 10**9
        for body in pool:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        span.trace_id = _copy_id(span.trace_id, copy)
                        span.start_time_unix_nano += shift
                        span.end_time_unix_nano += shift
            written += store.write(request.SerializeToString())
        print(f"  span store: {written} spans", end="\r", flush=True)
    store.close()
    print()
    return written, copies


def _packets(store_path: Path, folder: Path, real: list[Packet], target: int, now: int) -> None:
    """target index rows: copies of the real packets, newest last, the first FILES with their files."""
    store = PacketStore(store_path, folder)
    rows: list[tuple[Any, ...]] = []
    for index in range(target):
        template = real[index % len(real)]
        copy = index // len(real)
        started = now - WEEK_NS + index * (WEEK_NS // target)
        packet: dict[str, Any] = {
            **template,
            "trace_id": _copy_id(bytes.fromhex(template["trace_id"]), copy).hex(),
            "workflow": f"{template['workflow']}-{index % WORKFLOWS}",
            "started_at": iso_time(started),
        }
        if index < FILES:
            store.write(packet, json.dumps(packet).encode())
            continue
        relative = f"{packet['started_at'][:10]}/{packet['trace_id']}.json"
        rows.append(
            (
                packet["trace_id"],
                packet["run"]["run_id"],
                packet["workflow"],
                packet["failure_bucket"],
                packet["selected_model"],
                started,
                packet["duration_ms"],
                started,
                relative,
            )
        )
    store.close()
    with sqlite3.connect(store_path) as db:
        db.executemany("INSERT OR REPLACE INTO packets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("DROP TABLE packet_counts")
    PacketStore(store_path, folder).close()  # counts the rows per hour, as for an index from before the counts


def build(data: Path, packets: int, spans: int, pool_traces: int) -> dict[str, Any]:
    marker = data / "bench.json"
    wanted = {"packets": packets, "spans": spans, "pool": pool_traces, "layout": 2}
    if marker.exists() and json.loads(marker.read_text()).get("wanted") == wanted:
        return dict(json.loads(marker.read_text()))
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob("spans.db*"):
        stale.unlink()
    os.environ.setdefault("FAILPATH_REDACTION_KEY", "bench-key-" + "0" * 32)
    started = time.monotonic()
    pool = redacted(generate(pool_traces, 42, 128))
    real = asyncio.run(_real_packets(pool))
    now = time.time_ns()
    config = Config.model_validate({"data_dir": str(data)})
    store_path, folder = config.packet_paths()
    written, copies = _spans(store_path, pool, spans, now)
    _packets(store_path, folder, real, packets, now)
    with sqlite3.connect(store_path) as db:
        db.execute("ANALYZE")
    info = {
        "wanted": wanted,
        "spans": written,
        "real_packets": len(real),
        "span_copies": copies,
        "store_bytes": store_path.stat().st_size,
        "built_at_ns": now,
    }
    marker.write_text(json.dumps(info))
    print(f"built in {time.monotonic() - started:.0f} s")
    return info


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetch(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        body = answer.read()
    return (time.perf_counter() - started) * 1e3, len(body)


def measure(data: Path, info: dict[str, Any], requests: int) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "failpath.yaml"
        config.write_text(json.dumps({"data_dir": str(data), "dashboard": {"endpoint": f"127.0.0.1:{port}"}}))
        server = subprocess.Popen([sys.executable, "-m", "failpath", "dashboard", "--config", str(config)])
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    _fetch(base + "/buckets")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the dashboard did not start") from None
                    time.sleep(0.1)
            _pages(base, data, info, requests)
        finally:
            server.terminate()
            server.wait(10)


def _pages(base: str, data: Path, info: dict[str, Any], requests: int) -> None:
    store_path, _ = Config.model_validate({"data_dir": str(data)}).packet_paths()
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
        bucket = db.execute("SELECT bucket FROM packets GROUP BY bucket ORDER BY COUNT(*) DESC").fetchone()[0]
        model = db.execute("SELECT model FROM packets GROUP BY model ORDER BY COUNT(*) LIMIT 1").fetchone()[0]
        deep = db.execute("SELECT started_ns, trace_id FROM packets ORDER BY started_ns LIMIT 1 OFFSET 100").fetchone()
        # A run with its packet file and its spans in the span store (copy 0 of the first real packets).
        trace = db.execute(
            "SELECT trace_id FROM packets WHERE trace_id LIKE '00000000%' ORDER BY started_ns LIMIT 1"
        ).fetchone()[0]
        packets = db.execute("SELECT COUNT(*) FROM packets").fetchone()[0]
    pages = [
        ("overview, 24 h", "/"),
        ("overview, 7 d (every packet)", "/?hours=168"),
        ("runs, page 1", "/runs"),
        ("runs, the biggest bucket", f"/runs?bucket={bucket}"),
        ("runs, the rarest model", f"/runs?model={model}" if model else "/runs?model=none"),
        ("runs, trace-id prefix", f"/runs?trace={trace[:10]}"),
        (f"runs, page {(packets - 100) // 50 + 1} (keyset)", f"/runs?before={deep[0]}-{deep[1]}"),
        ("runs, bucket, last 24 h", f"/runs?bucket={bucket}&hours=24"),
        ("run page (packet + stored spans)", f"/runs/{trace}"),
        ("packet download", f"/runs/{trace}.json"),
        ("buckets, 7 d", "/buckets"),
    ]
    print(
        f"store: {packets} packets indexed, {info['spans']} spans, {info['store_bytes'] / 2**30:.2f} GiB "
        f"({info['real_packets']} real packets copied; spans in {info['span_copies']} copies of the pool)"
    )
    print(f"{'page':38} {'median':>8} {'p95':>8} {'max':>8} {'size':>8}")
    for name, path in pages:
        _fetch(base + path)  # the first read warms SQLite's page cache
        times, size = [], 0
        for _ in range(requests):
            elapsed, size = _fetch(base + path)
            times.append(elapsed)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{name:38} {statistics.median(times):6.1f}ms {p95:6.1f}ms {times[-1]:6.1f}ms {size / 1024:6.1f}KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "failpath-bench-dashboard")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--pool", type=int, default=2000, help="generated agent runs copied to fill the store")
    args = parser.parse_args()
    info = build(args.data, args.packets, args.spans, args.pool)
    measure(args.data, info, args.requests)


if __name__ == "__main__":
    main()
