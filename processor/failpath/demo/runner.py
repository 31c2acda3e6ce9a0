"""`failpath demo`: five minutes from a fresh clone to packets and buckets. Uses the failpath the config
describes when it is running (its admin /readyz answers), else starts one (`failpath serve`) and stops it
after; sends the scripted agent's runs (healthy ones and one failure per bucket, no model, no network
beyond 127.0.0.1), waits for their packets, then prints what `failpath buckets` and `failpath replay`
would, and the dashboard's address."""

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TextIO

from failpath import agent
from failpath.config import Config
from failpath.demo import scenarios
from failpath.listen import connect_address
from failpath.packets.reader import load_file
from failpath.packets.render import buckets_text, replay_text
from failpath.store.packets import IndexedPacket, PacketStore


def _ready(admin: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{admin}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _start(given: list[str], admin: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "failpath", "serve", *given], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _ready(admin):
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError(f"failpath did not start (try: {' '.join(['failpath', 'serve', *given])})")
        time.sleep(0.1)
    return process


def _packets(config: Config, expected: dict[str, str | None], wait_s: float) -> dict[str, IndexedPacket]:
    """The failing runs' packets, as they appear in the index (decisions come after decision_wait)."""
    failing = [trace_id for trace_id, bucket in expected.items() if bucket is not None]
    found: dict[str, IndexedPacket] = {}
    deadline = time.monotonic() + wait_s
    while len(found) < len(failing) and time.monotonic() < deadline:
        time.sleep(0.25)
        try:
            store = PacketStore(*config.packet_paths(), readonly=True)
        except FileNotFoundError:
            continue
        try:
            for trace_id in failing:
                rows = store.find(trace_id)
                if rows:
                    found[trace_id] = rows[0]
        finally:
            store.close()
    return found


def demo(config: Config, config_path: Path | None, out: TextIO) -> int:
    """config_path: the file config came from (None: the built-in defaults). Returns 0 when every failing
    run got its packet in the bucket expected."""
    admin = connect_address(config.admin.endpoint)
    given = [] if config_path is None else ["--config", str(config_path)]
    named = "the built-in defaults" if config_path is None else str(config_path)
    started = None
    if config.admin.enabled and _ready(admin):
        print(f"Using the failpath running with {named} (admin {admin}).", file=out)
    else:
        print(f"Starting failpath with {named} ...", file=out)
        started = _start(given, admin)
    try:
        http = config.receivers.otlp.http
        provider = agent.configure(f"http://{connect_address(http.endpoint)}", service_name="support-agent")
        print("Running the scripted support agent: 5 healthy runs, one failure per bucket, one retried run.", file=out)
        expected = scenarios.run_all()
        provider.force_flush()
        found = _packets(config, expected, config.sampling.decision_wait + 20)
    finally:
        if started is not None:
            started.terminate()
            started.wait(30)
    failing = {trace_id: bucket for trace_id, bucket in expected.items() if bucket is not None}
    print(f"\n{len(found)} of {len(failing)} failing runs have their replay packet:", file=out)
    for trace_id, bucket in failing.items():
        row = found.get(trace_id)
        got = row.bucket if row else "no packet yet"
        print(f"  {trace_id}  expected {bucket:24} got {got}", file=out)
    store = PacketStore(*config.packet_paths(), readonly=True)
    try:
        summaries = store.buckets(time.time_ns() - 3600 * 10**9)
        latest = {s.bucket: store.recent(0, None, s.bucket, 3) for s in summaries}
    finally:
        store.close()
    print("\n$ failpath buckets --since 1h", file=out)
    print(buckets_text(summaries, latest), file=out)
    retried = [trace_id for trace_id in failing if trace_id in found][-1:]
    if retried:
        print(f"\n$ failpath replay {retried[0]}", file=out)
        print(replay_text(load_file(found[retried[0]].path)), file=out)
    if config.dashboard.enabled:
        where = f"http://{connect_address(config.dashboard.endpoint)}/"
        how = (
            ""
            if started is None
            else f" once failpath runs (make run, or {' '.join(['failpath', 'dashboard', *given])})"
        )
        print(f"\nThe dashboard: {where}{how}", file=out)
    right = all(found[t].bucket == bucket for t, bucket in failing.items() if t in found)
    return 0 if right and len(found) == len(failing) else 1
