"""In-process cost of the redaction stage on the realistic agent spans of bench/agent_traces.py.

Prints µs per span and MB/s of string data scanned, for the default config, for every engine, against
parse + serialize alone; then the native walk (redaction/_native.c) on the same requests' bytes. One core,
no network: the stage's own cost. For the native walk also the Hyperscan scan alone and confirming the
scan's hits per detector (best of the repeats).

    .venv/bin/python bench/redaction.py [--traces 1000] [--repeats 5] [--profile bench|realistic]
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent_traces import PROFILES, count_spans, generate
from failpath.redaction.config import RedactionConfig
from failpath.redaction.engine import Finding, Hints, HyperscanScanner
from failpath.redaction.stage import build_redactor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--profile", choices=PROFILES, default="bench", help="the span data (bench/agent_traces.py)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("FAILPATH_REDACTION_KEY", "bench-key-" + "0" * 32)
    requests = generate(args.traces, 42, 128, args.profile)
    spans = sum(count_spans(body) for body in requests)
    print(f"{len(requests)} requests, {spans} spans, {sum(map(len, requests)) / spans:.0f} B/span")

    def run(label: str, redact: object | None) -> None:
        times, chars = [], 0
        for _ in range(args.repeats):
            chars = 0
            started = time.perf_counter()
            for body in requests:
                request = ExportTraceServiceRequest.FromString(body)
                if redact is not None:
                    chars += redact(request).scanned_bytes  # type: ignore[operator]
                request.SerializeToString()
            times.append(time.perf_counter() - started)
        best = min(times)
        median = statistics.median(times)
        line = f"{label:34} {median / spans * 1e6:6.2f} µs/span (best {best / spans * 1e6:.2f})"
        if chars:
            line += f"  {chars / median / 1e6:6.1f} MB/s scanned ({chars / spans:.0f} B/span)"
        print(line)

    run("parse + serialize", None)
    for engine in ("hyperscan", "re2", "python"):
        try:
            redactor = build_redactor(RedactionConfig(engine=engine))
        except ImportError:
            print(f"{engine}: not installed")
            continue
        run(f"+ redaction, default config, {engine}", redactor.redact)
    redactor = build_redactor(RedactionConfig(engine="auto", keys={"keep_content": True}))  # type: ignore[arg-type]
    run("+ redaction, keep_content (scan all)", redactor.redact)
    native(requests, spans, args.repeats)


def native(requests: list[bytes], spans: int, repeats: int) -> None:
    """The native walk on the received bytes (no parse, no serialize: it reads and writes bytes)."""
    try:
        from failpath.redaction.native_redactor import NativeRedactor
    except ImportError:
        print("native walk: not built")
        return
    for label, config in (
        ("default config", RedactionConfig()),
        ("keep_content", RedactionConfig.model_validate({"keys": {"keep_content": True}})),
    ):
        redactor = NativeRedactor(build_redactor(config))
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for body in requests:
                if redactor.redact(body) is None:
                    raise SystemExit("the native walk left a bench request to the reference")
            times.append(time.perf_counter() - started)
        median, best = statistics.median(times), min(times)
        print(
            f"native walk, {label:22} {median / spans * 1e6:6.2f} µs/span "
            f"(best {best / spans * 1e6:.2f}), bytes in and out"
        )
        if label == "default config":
            scan_alone(requests, spans, repeats)
            confirmation(redactor, requests, spans, repeats)


def scan_alone(requests: list[bytes], spans: int, repeats: int) -> None:
    """The one Hyperscan scan of each request's bytes that the native walk starts from (default detectors):
    the part of redaction's cost that moving work into C cannot lower."""
    scanner = build_redactor(RedactionConfig()).scanner
    if not isinstance(scanner, HyperscanScanner):
        return
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for body in requests:
            scanner.request_matches(body)
        times.append(time.perf_counter() - started)
    median, best = statistics.median(times), min(times)
    print(f"  of which the Hyperscan scan      {median / spans * 1e6:6.2f} µs/span (best {best / spans * 1e6:.2f})")


def confirmation(redactor: object, requests: list[bytes], spans: int, repeats: int) -> None:
    """Confirming the scan's hits, per detector: each (value, detector, where its raw matches end) the native
    walk hands to HyperscanScanner.confirm, recorded in one pass, then confirmed alone (best of repeats)."""
    scanner = redactor._reference.scanner  # type: ignore[attr-defined]
    if not isinstance(scanner, HyperscanScanner):
        return
    recorded: list[tuple[Sequence[str], Hints]] = []
    confirm = scanner.confirm

    def recording(values: Sequence[str], pairs: Hints) -> dict[int, list[Finding]]:
        recorded.append((values, dict(pairs)))
        return confirm(values, pairs)

    scanner.confirm = recording  # type: ignore[method-assign]
    for body in requests:
        redactor.redact(body)  # type: ignore[attr-defined]
    del scanner.confirm
    for number, detector in enumerate(scanner.detectors):
        calls = [
            (values, {pair: near for pair, near in pairs.items() if pair[1] == number}) for values, pairs in recorded
        ]
        calls = [(values, pairs) for values, pairs in calls if pairs]
        if calls:
            best = min(_timed(scanner, calls) for _ in range(repeats))
            values = sum(len(pairs) for _, pairs in calls)
            print(
                f"  confirming {detector.name:21} {best / spans * 1e6:6.2f} µs/span ({values / spans:.3f} values/span)"
            )


def _timed(
    scanner: HyperscanScanner, calls: list[tuple[Sequence[str], dict[tuple[int, int], tuple[int, int] | None]]]
) -> float:
    started = time.perf_counter()
    for values, pairs in calls:
        scanner.confirm(values, pairs)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
