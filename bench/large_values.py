"""What one very large attribute value costs failpath: redaction time and memory per value shape, and the
event loop's stall while a running failpath takes such a request.

1. In-process, per shape (base64, hex, digits, JSON, prose, HTML, keyword floods...): the value as an
   ordinary attribute (cut at max_value_chars) and as a content key (summarized): seconds to redact,
   and the RSS growth of a child process that does only that (a fresh process per shape and key).
2. A running failpath (default pipeline, OTLP/HTTP on 127.0.0.1): one request holding a SIZE value
   of base64 in gen_ai.input.messages (an image in a prompt), while a second client sends small
   requests every 10 ms: the big request's latency, the longest stall of the event loop, the small
   requests' worst latency, and the RSS growth of failpath.

    .venv/bin/python bench/large_values.py [--mib 15] [--shapes base64,json] [--skip-inprocess]
"""

import argparse
import asyncio
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.config import parse_config
from failpath.otlp.values import key_value
from failpath.pipeline import Pipeline

SHAPES = (
    "base64",
    "hex",
    "digits",
    "digit-groups",
    "json",
    "prose",
    "emails",
    "html-scripts",
    "keyword-flood",
    "dashes",
)


def value(shape: str, size: int) -> str:
    def repeat(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    if shape == "base64":
        return base64.b64encode(os.urandom(size * 3 // 4)).decode()[:size]
    if shape == "hex":
        return os.urandom(size // 2 + 1).hex()[:size]
    units = {
        "digits": "4111",
        "digit-groups": "4111 1111 ",
        "json": '{"role":"tool","content":"result 17","token_count":5},',
        "prose": "The agent called the search tool and the password reset flow failed for user 42. ",
        "emails": "a.b@example.com ",
        "html-scripts": "<script>",
        "keyword-flood": "pass",
        "dashes": "-",
    }
    text = repeat(units[shape])
    return "<html>" + text[6:] if shape == "html-scripts" else text


def request_with(key: str, text: str) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), "chat"
    span.start_time_unix_nano, span.end_time_unix_nano = time.time_ns(), time.time_ns() + 1_000_000
    span.attributes.append(key_value(key, text))
    return request.SerializeToString()


_CHILD = """
import gc, os, sys, threading, time
import psutil
sys.path.insert(0, {bench!r})
from large_values import value, request_with
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor
redactor = build_redactor(RedactionConfig())
body = request_with({key!r}, value({shape!r}, {size}))
gc.collect()
process = psutil.Process()
baseline = peak = process.memory_info().rss
done = False
def sample():
    global peak
    while not done:
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.001)
sampler = threading.Thread(target=sample)
sampler.start()
started = time.perf_counter()
message = ExportTraceServiceRequest.FromString(body)
redactor.redact(message)
out = message.SerializeToString()
elapsed = time.perf_counter() - started
done = True
sampler.join()
print(elapsed, (peak - baseline) / 1e6, len(out))
"""


def in_process(shapes: list[str], size: int) -> None:
    print(f"1. redaction of one {size / (1 << 20):.0f} MiB value, in a fresh process per case (RSS growth")
    print("   over the process holding the serialized request, sampled every ms)")
    print(f"   {'shape':14} {'as':10} {'seconds':>8} {'peak RSS +MB':>13} {'out bytes':>10}")
    env = {**os.environ, "FAILPATH_REDACTION_KEY": os.environ.get("FAILPATH_REDACTION_KEY", "bench-" + "k" * 32)}
    for shape in shapes:
        for key, label in (("tool.log", "attribute"), ("gen_ai.input.messages", "content")):
            script = _CHILD.format(bench=str(Path(__file__).parent), key=key, shape=shape, size=size)
            result = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600, env=env
            )
            elapsed, grown, out = result.stdout.split()
            print(f"   {shape:14} {label:10} {float(elapsed):8.2f} {float(grown):13.0f} {int(out):10}")


class LoopWatch:
    """The longest gap between 5 ms ticks of the event loop, beyond the 5 ms."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - before - 0.005)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _post(port: int, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
    status = connection.getresponse().status
    connection.close()
    return status, time.perf_counter() - started


def running_failpath(size: int) -> None:
    print(f"2. a running failpath (default pipeline) taking one {size / (1 << 20):.0f} MiB base64 value in a prompt")
    os.environ.setdefault("FAILPATH_REDACTION_KEY", "bench-" + "k" * 32)
    data = tempfile.mkdtemp(prefix="failpath-bench-")
    text = yaml.safe_dump(
        {
            "data_dir": data,
            "receivers": {"otlp": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}}},
            "admin": {"enabled": False},
            "logging": {"level": "warning"},
        }
    )
    pipeline = Pipeline(parse_config(text, "bench"))
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(pipeline.start(), loop).result(30)
    watch = LoopWatch()
    loop.call_soon_threadsafe(watch.start)
    assert pipeline.http is not None
    port = pipeline.http.port
    process = psutil.Process()
    big = request_with("gen_ai.input.messages", "data:image/png;base64," + value("base64", size))
    small = request_with("tool.name", "search")
    for _ in range(20):  # warm up
        _post(port, small)
    time.sleep(0.5)
    watch.worst = 0.0
    rss_before = process.memory_info().rss
    peak = [rss_before]
    done = threading.Event()
    small_latencies: list[float] = []

    def sample_rss() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    def small_client() -> None:
        while not done.is_set():
            small_latencies.append(_post(port, small)[1])
            time.sleep(0.01)

    threads = [threading.Thread(target=sample_rss), threading.Thread(target=small_client)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    status, latency = _post(port, big)
    time.sleep(0.2)
    done.set()
    for thread in threads:
        thread.join()
    loop.call_soon_threadsafe(watch.stop)
    asyncio.run_coroutine_threadsafe(pipeline.shutdown(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    print(
        json.dumps(
            {
                "status": status,
                "big_request_s": round(latency, 3),
                "longest_loop_stall_ms": round(watch.worst * 1000, 1),
                "small_requests": len(small_latencies),
                "small_request_worst_ms": round(max(small_latencies) * 1000, 1),
                "rss_growth_mb": round((peak[0] - rss_before) / 1e6, 1),
                "request_bytes": len(big),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=float, default=15.0)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args()
    size = int(args.mib * (1 << 20))
    if not args.skip_inprocess:
        in_process(args.shapes.split(","), size)
    running_failpath(size)


if __name__ == "__main__":
    main()
