"""In-process cost and memory of the tail-sampling stage on the realistic agent spans of bench/agent_traces.py.

1. µs per span to buffer and decide (spans already redacted, as in the pipeline), with the default
   policies and the bench mix (~4% error runs, ~4% slow, healthy kept at 10%), against parse alone.
2. The packet stage's work per failing run: normalise, bucket, build and encode a replay packet; then
   write and index it (CPU, and wall time with the fsync).
3. Memory with 100k spans buffered: what the buffered traces hold per span (tracemalloc) against their
   serialized bytes, the buffer's own estimate, and RSS growth.

    .venv/bin/python bench/sampling.py [--traces 2000] [--buffered 100000] [--profile bench|realistic]
"""

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent_traces import PROFILES, count_spans, generate
from failpath.agents.config import AgentsConfig
from failpath.consumer import Batch, DecidedTrace
from failpath.metrics import Metrics
from failpath.packets.config import PacketsConfig
from failpath.packets.stage import PacketMaker
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage
from failpath.store.packets import PacketStore

POLICIES = [
    {"name": "errors", "type": "error"},
    {"name": "slow", "type": "latency", "threshold": "75s"},
    {"name": "healthy", "type": "probabilistic", "percentage": 10},
]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """The next stage: counts kept spans and keeps the failing traces for the packet measurement."""

    def __init__(self) -> None:
        self.spans = 0
        self.failing: list[tuple[bytes, DecidedTrace]] = []

    async def consume(self, batch: Batch) -> None:
        self.spans += batch.spans
        payload = batch.serialized()
        self.failing.extend(
            (payload[trace.offset : trace.offset + trace.size], trace)
            for trace in batch.traces
            if trace.decision.error is not None
        )


def packets(failing: list[tuple[bytes, DecidedTrace]]) -> None:
    sampling = SamplingConfig()
    maker = PacketMaker(PacketsConfig(), AgentsConfig(), sampling.errors, sampling.workflow_key)
    # Best of three passes: a single pass over ~100 runs moves by a third between runs here.
    elapsed = float("inf")
    for _ in range(3):
        made = []
        started = time.perf_counter()
        for payload, trace in failing:
            packet = maker.make(payload, trace)
            if packet is not None:
                made.append((packet, maker.encode(packet)))
        elapsed = min(elapsed, time.perf_counter() - started)
    sizes = [len(encoded) for _, encoded in made]
    print(
        f"packets: {len(failing)} failing runs, {elapsed / max(1, len(failing)) * 1e3:.2f} ms each to parse, "
        f"normalise, diagnose and encode; {statistics.median(sizes) / 1024:.1f} KiB median, "
        f"{max(sizes) / 1024:.1f} KiB largest"
    )
    # Writing them as the packet stage does: earlier attempts of the run looked up, the file written and
    # fsynced, the index row. CPU apart from the wall time (the fsync waits for the disk).
    with tempfile.TemporaryDirectory() as folder:
        store = PacketStore(Path(folder) / "index.db", Path(folder) / "replay")
        cpu, wall = time.process_time(), time.perf_counter()
        for packet, encoded in made:
            if run_id := packet["run"]["run_id"]:
                store.attempts(run_id, packet["trace_id"])
            store.write(packet, encoded)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        store.close()
    print(
        f"         and {cpu / max(1, len(made)) * 1e3:.2f} ms of CPU each to write and index "
        f"({wall / max(1, len(made)) * 1e3:.2f} ms wall, with the fsync)"
    )


def redacted(requests: list[bytes]) -> list[bytes]:
    os.environ.setdefault("FAILPATH_REDACTION_KEY", "bench-key-" + "0" * 32)
    redactor = build_redactor(RedactionConfig())
    out = []
    for body in requests:
        request = ExportTraceServiceRequest.FromString(body)
        redactor.redact(request)
        out.append(request.SerializeToString())
    return out


async def cost(requests: list[bytes], spans: int, repeats: int) -> None:
    times, parse_times, kept = [], [], 0
    failing: list[tuple[bytes, DecidedTrace]] = []
    counts = [count_spans(body) for body in requests]
    for _ in range(repeats):
        started = time.perf_counter()
        for body in requests:
            ExportTraceServiceRequest.FromString(body)
        parse_times.append(time.perf_counter() - started)
        clock, sink = Clock(), Counter()
        stage = TailSamplingStage(SamplingConfig.model_validate({"policies": POLICIES}), sink, Metrics(), clock=clock)
        started = time.perf_counter()
        for index, (body, count) in enumerate(zip(requests, counts, strict=True)):
            await stage.consume(Batch(None, count, body))  # bytes alone, as the redaction walk hands on
            clock.now = index * 0.05  # 20 requests/s of stream time: roots become due as the run goes on
            if index % 10 == 0:
                await stage.tick()
        clock.now += 3600
        await stage.tick()
        times.append(time.perf_counter() - started)
        kept, failing = sink.spans, sink.failing
    parse = statistics.median(parse_times) / spans * 1e6
    total = statistics.median(times) / spans * 1e6
    print(f"parse alone (for scale)          {parse:6.2f} µs/span")
    print(f"buffer + decide + output         {total:6.2f} µs/span  (from the request's bytes)")
    print(f"kept {kept} of {spans} spans ({kept / spans:.1%})")
    if failing:
        packets(failing)


async def memory(requests: list[bytes], target: int) -> None:
    """Python's own count of the bytes the buffered traces hold (tracemalloc: exact, unlike RSS, which
    reuses what the cost runs freed), against the serialized size of the spans buffered."""
    config = SamplingConfig.model_validate(
        {"decision_wait": "1h", "max_trace_wait": "1h", "buffer": {"max_traces": 1_000_000, "max_bytes": "4GiB"}}
    )
    # Every pass over the data gets fresh trace ids, so every span is buffered; made up front, so that only
    # the stage's allocations are traced.
    batches: list[tuple[bytes, int]] = []
    buffered, serialized, passes = 0, 0, 0
    while buffered < target:
        for body in requests:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        span.trace_id = passes.to_bytes(4, "big") + span.trace_id[4:]
            data = request.SerializeToString()
            batches.append((data, count_spans(data)))
            buffered += batches[-1][1]
            serialized += len(data)
            if buffered >= target:
                break
        passes += 1
    metrics = Metrics()
    stage = TailSamplingStage(config, Counter(), metrics, clock=Clock())
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    tracemalloc.start()
    for data, spans in batches:
        # As the pipeline hands it on: the parsed request with the received bytes beside it.
        await stage.consume(Batch(ExportTraceServiceRequest.FromString(data), spans, data))
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = process.memory_info().rss - rss_before
    estimate = metrics.registry.get_sample_value("failpath_sampling_buffer_bytes") or 0
    traces = metrics.registry.get_sample_value("failpath_sampling_buffer_traces") or 0
    print(
        f"{buffered} spans buffered in {traces:.0f} traces, {serialized / buffered:.0f} B/span serialized: "
        f"held {held / buffered:.0f} B/span ({held / serialized:.2f}x, target <= 1.5x), "
        f"buffer estimate {estimate / buffered:.0f} B/span, RSS +{grown / 2**20:.0f} MB "
        f"(peak {process.memory_info().rss / 2**20:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--profile", choices=PROFILES, default="bench", help="the span data (bench/agent_traces.py)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--buffered", type=int, default=100_000)
    args = parser.parse_args()
    requests = redacted(generate(args.traces, 42, 128, args.profile))
    spans = sum(map(count_spans, requests))
    print(f"{len(requests)} redacted requests, {spans} spans, {sum(map(len, requests)) / spans:.0f} B/span")
    asyncio.run(cost(requests, spans, args.repeats))
    asyncio.run(memory(requests, args.buffered))


if __name__ == "__main__":
    main()
