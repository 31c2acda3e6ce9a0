"""Load sender: replays pre-serialized requests over grpc.aio at full speed with N in flight.

Bounded by --duration seconds and --max-requests. Prints one JSON line: acked spans, errors, elapsed, latencies.
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

import grpc

from agent_traces import count_spans, read

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


async def main(target: str, data: Path, duration: float, concurrency: int, max_requests: int) -> None:
    requests = read(data)
    spans = [count_spans(body) for body in requests]
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
    args = parser.parse_args()
    asyncio.run(main(args.target, args.data, min(args.duration, 300.0), args.concurrency, args.max_requests))
