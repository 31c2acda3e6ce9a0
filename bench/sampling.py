"""In-process cost and memory of the tail-sampling stage on the realistic agent spans of bench/agent_traces.py.

1. µs per span to buffer and decide (spans already redacted, as in the pipeline), with the default
   policies and the bench mix (~4% error runs, ~4% slow, healthy kept at 10%), against parse alone.
2. Memory with 100k spans buffered: RSS growth and the buffer's own estimate, per span.

    .venv/bin/python bench/sampling.py [--traces 2000] [--buffered 100000]
"""

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent_traces import count_spans, generate
from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage

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
    def __init__(self) -> None:
        self.spans = 0

    async def consume(self, batch: Batch) -> None:
        self.spans += batch.spans


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
    for _ in range(repeats):
        started = time.perf_counter()
        for body in requests:
            ExportTraceServiceRequest.FromString(body)
        parse_times.append(time.perf_counter() - started)
        clock, sink = Clock(), Counter()
        stage = TailSamplingStage(SamplingConfig.model_validate({"policies": POLICIES}), sink, Metrics(), clock=clock)
        started = time.perf_counter()
        for index, body in enumerate(requests):
            request = ExportTraceServiceRequest.FromString(body)
            await stage.consume(Batch(request, count_spans(body)))
            clock.now = index * 0.05  # 20 requests/s of stream time: roots become due as the run goes on
            if index % 10 == 0:
                await stage.tick()
        clock.now += 3600
        await stage.tick()
        times.append(time.perf_counter() - started)
        kept = sink.spans
    parse = statistics.median(parse_times) / spans * 1e6
    total = statistics.median(times) / spans * 1e6
    print(f"parse alone                      {parse:6.2f} µs/span")
    print(f"parse + buffer + decide + output {total:6.2f} µs/span  (sampling ~{total - parse:.2f} µs/span)")
    print(f"kept {kept} of {spans} spans ({kept / spans:.1%})")


async def memory(requests: list[bytes], target: int) -> None:
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    config = SamplingConfig.model_validate(
        {"decision_wait": "1h", "max_trace_wait": "1h", "buffer": {"max_traces": 1_000_000, "max_bytes": "4GiB"}}
    )
    stage = TailSamplingStage(config, Counter(), Metrics(), clock=Clock())
    buffered, passes = 0, 0
    while buffered < target:
        for body in requests:
            request = ExportTraceServiceRequest.FromString(body)
            if passes:  # fresh trace ids on each pass, so every span is buffered
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            span.trace_id = passes.to_bytes(4, "big") + span.trace_id[4:]
            await stage.consume(Batch(request, count_spans(body)))
            buffered += count_spans(body)
            if buffered >= target:
                break
        passes += 1
    gc.collect()
    grown = process.memory_info().rss - before
    metrics = stage._metrics.registry
    estimate = metrics.get_sample_value("failpath_sampling_buffer_bytes") or 0
    traces = metrics.get_sample_value("failpath_sampling_buffer_traces") or 0
    print(
        f"{buffered} spans buffered in {traces:.0f} traces: RSS +{grown / 2**20:.0f} MB "
        f"({grown / buffered:.0f} B/span), buffer estimate {estimate / 2**20:.0f} MB "
        f"({estimate / buffered:.0f} B/span); peak RSS {process.memory_info().rss / 2**20:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--buffered", type=int, default=100_000)
    args = parser.parse_args()
    requests = redacted(generate(args.traces, 42, 128))
    spans = sum(map(count_spans, requests))
    print(f"{len(requests)} redacted requests, {spans} spans, {sum(map(len, requests)) / spans:.0f} B/span")
    asyncio.run(cost(requests, spans, args.repeats))
    asyncio.run(memory(requests, args.buffered))


if __name__ == "__main__":
    main()
