"""Load sender: replays pre-serialized requests over grpc.aio at full speed with N in flight.

Bounded by --duration seconds and --max-requests. Prints one JSON line: acked spans, errors, elapsed, latencies.
With --fresh-trace-ids every pass over the data gets new trace ids (the first 4 bytes XOR the pass number;
the low 56 bits, the sampling randomness, stay), so a tail sampler sees new traces instead of late spans,
and new run ids (bench/agent_traces.py's run.id: its first four hex digits XOR the pass number), so each
failing run is a run of its own rather than one more attempt of the same dozens of runs (whose packets would
list up to 20 earlier attempts each, as real traffic's seldom do).
"""

import argparse
import asyncio
import json
import struct
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent_traces import count_spans, read

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def trace_id_offsets(body: bytes) -> list[tuple[int, int]]:
    """(offset, first 4 bytes as an int) of every span and link trace id in a serialized request."""
    ids = {
        span.trace_id
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    }
    offsets = []
    for trace_id in ids:
        needle = b"\x0a\x10" + trace_id  # field 1, 16 bytes: Span.trace_id and Link.trace_id
        position = body.find(needle)
        while position >= 0:
            offsets.append((position + 2, int.from_bytes(trace_id[:4], "big")))
            position = body.find(needle, position + 1)
    return offsets


# A run.id attribute: KeyValue(key "run.id", value AnyValue(string_value: 12 hex digits)), as agent_traces.py writes it.
RUN_ID = b"\x0a\x06run.id\x12\x0e\x0a\x0c"


def run_id_offsets(body: bytes) -> list[tuple[int, int]]:
    """(offset, first four hex digits as an int) of every run.id value in a serialized request."""
    offsets = []
    position = body.find(RUN_ID)
    while position >= 0:
        start = position + len(RUN_ID)
        offsets.append((start, int(body[start : start + 4], 16)))
        position = body.find(RUN_ID, start)
    return offsets


def with_pass(body: bytes, offsets: tuple[list[tuple[int, int]], list[tuple[int, int]]], number: int) -> bytes:
    """The request with pass `number`'s trace ids and run ids (offsets: trace_id_offsets, run_id_offsets)."""
    if number == 0:
        return body
    patched = bytearray(body)
    trace_ids, run_ids = offsets
    for offset, first in trace_ids:
        struct.pack_into(">I", patched, offset, first ^ number)
    for offset, first in run_ids:
        patched[offset : offset + 4] = b"%04x" % ((first ^ number) & 0xFFFF)
    return bytes(patched)


async def main(
    target: str, data: Path, duration: float, concurrency: int, max_requests: int, fresh_trace_ids: bool
) -> None:
    requests = read(data)
    spans = [count_spans(body) for body in requests]
    offsets = [(trace_id_offsets(body), run_id_offsets(body)) for body in requests] if fresh_trace_ids else []
    channel = grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", -1)])
    call = channel.unary_unary(METHOD, None, None)
    await channel.channel_ready()
    acked_spans = acked = 0
    errors: dict[str, int] = {}
    latencies: list[float] = []
    next_index = 0
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal next_index, acked_spans, acked
        while time.perf_counter() < deadline and next_index < max_requests:
            index = next_index
            next_index += 1
            body = requests[index % len(requests)]
            if fresh_trace_ids:
                body = with_pass(body, offsets[index % len(requests)], index // len(requests))
            sent = time.perf_counter()
            try:
                await call(body, timeout=30)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
                continue
            latencies.append(time.perf_counter() - sent)
            acked += 1
            acked_spans += spans[index % len(requests)]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await channel.close(None)
    latencies.sort()

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else 0.0

    print(
        json.dumps(
            {
                "acked_requests": acked,
                "acked_spans": acked_spans,
                "elapsed_s": round(elapsed, 3),
                "errors": errors,
                "p50_ms": quantile(0.5),
                "p99_ms": quantile(0.99),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--fresh-trace-ids", action="store_true")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.target,
            args.data,
            min(args.duration, 300.0),
            args.concurrency,
            args.max_requests,
            args.fresh_trace_ids,
        )
    )
