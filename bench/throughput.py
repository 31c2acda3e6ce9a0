"""Throughput of failpath against a minimal Python pass-through, in one run on this machine.

Scenarios, each repeated: (a) load -> sink, (b) load -> pass-through -> sink, (c) load -> failpath -> sink
(no stages, store off, one OTLP/gRPC exporter without compression), the same with the write-ahead spool
(fsync off, and every 5 ms: the default), (e) the same as (c) with the default redaction,
(f) with redaction and tail sampling (errors and slow runs kept, healthy runs at 10%; the load gives every
pass over the data new trace ids), (g) the default pipeline (f plus the spool, packets and the embedded
store), and with --rotel (d) load -> Rotel -> sink and (d2) Rotel with a 4-regex Python redaction
processor. For the middle hop it prints
spans/s (delivered; for (f), accepted, as most are sampled away), CPU microseconds per span (the steadier
figure on a shared 2-core machine), peak RSS, and the ratios to (b); for (f) also the share kept and the
decision latency after the root span arrives. It does so for each data profile of bench/agent_traces.py
(the bench's spans, then realistic agent traffic). Every process binds 127.0.0.1 only; every load is bounded.

    .venv/bin/python bench/throughput.py [--duration 10] [--repeats 3] [--profile both] [--rotel]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).parent
# Scenarios that tail-sample: counted by the spans accepted (most are sampled away), with new trace ids.
SAMPLED = ("sampling", "default")
SCENARIOS = ("direct", "passthrough", "failpath", "spool-none", "spool-fsync", "redaction", "sampling", "default")
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def wait_quiet(limit: float = 15.0, patience: float = 30.0) -> None:
    """Wait (bounded) for other work on the machine to settle below `limit` percent busy."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and psutil.cpu_percent(interval=1.0) > limit:
        pass


@dataclass
class Result:
    scenario: str
    spans: int
    seconds: float
    middle_cpu_s: float
    middle_rss_mb: float
    sink_cpu_s: float
    load_cpu_s: float
    foreign_cpu_pct: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    # Sampling scenario only: spans kept, decision latency p50/p99 (s), spans still buffered at the end.
    sampling: dict[str, float] = field(default_factory=dict)

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.seconds

    @property
    def us_per_span(self) -> float:
        return self.middle_cpu_s / self.spans * 1e6 if self.spans else 0.0


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _sink_spans(report: Path) -> int:
    try:
        return int(json.loads(report.read_text())["spans"])
    except (OSError, ValueError, KeyError):
        return 0


SAMPLING = {
    "enabled": True,
    "policies": [
        {"name": "errors", "type": "error"},
        {"name": "slow", "type": "latency", "threshold": "75s"},
        {"name": "healthy", "type": "probabilistic", "percentage": 10},
    ],
}


def _metrics(admin_port: int) -> dict[str, float]:
    """failpath's Prometheus text, as {sample name with labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def _latency_quantile(metrics: dict[str, float], q: float) -> float:
    """An upper bound of the q quantile from the decision latency histogram's buckets."""
    prefix = "failpath_sampling_decision_latency_seconds_bucket{le="
    buckets = sorted(
        (float(name[len(prefix) + 1 : -2]), count)
        for name, count in metrics.items()
        if name.startswith(prefix) and "+Inf" not in name
    )
    total = metrics.get("failpath_sampling_decision_latency_seconds_count", 0.0)
    return next((bound for bound, count in buckets if total and count >= q * total), float("inf"))


def _middle(scenario: str, port: int, sink_port: int, workdir: Path, admin_port: int) -> subprocess.Popen[bytes] | None:
    if scenario == "direct":
        return None
    if scenario == "passthrough":
        command = [PYTHON, str(HERE / "passthrough.py"), "--port", str(port), "--upstream", f"127.0.0.1:{sink_port}"]
    elif scenario in ("failpath", "spool-none", "spool-fsync", "redaction", "sampling", "default"):
        config = {
            "data_dir": str(workdir / "data"),
            "receivers": {
                "otlp": {
                    "grpc": {"endpoint": f"127.0.0.1:{port}", "max_recv_msg_size": "64MiB"},
                    "http": {"enabled": False},
                }
            },
            "exporters": {
                "store": {"enabled": scenario == "default"},
                "otlp": [
                    {
                        "name": "sink",
                        "endpoint": f"127.0.0.1:{sink_port}",
                        "compression": "none",
                        # A modest queue keeps acknowledged-but-unsent spans from flattering the figure.
                        "queue": {"max_spans": 20000},
                    }
                ],
            },
            "admin": {"enabled": scenario in SAMPLED, "endpoint": f"127.0.0.1:{admin_port}"},
            "logging": {"level": "error"},
            # "failpath": forwarding alone; "redaction": with the default redaction stage; "sampling": both;
            # "default": everything the default config runs (spool, redaction, sampling, packets, store).
            "redaction": {"enabled": scenario in ("redaction", *SAMPLED)},
            "sampling": SAMPLING if scenario in SAMPLED else {"enabled": False},
            # "spool-none" / "spool-fsync": forwarding with the write-ahead spool, fsync off / every 5 ms.
            "spool": {
                "enabled": scenario.startswith("spool") or scenario == "default",
                "sync": "none" if scenario == "spool-none" else "interval",
            },
        }
        path = workdir / "failpath.json"
        path.write_text(json.dumps(config))  # JSON is YAML
        command = [PYTHON, "-m", "failpath", "serve", "--config", str(path)]
    elif scenario in ("rotel", "rotel-redaction"):
        binary = shutil.which("rotel-agent") or str(
            Path(sys.prefix)
            / "lib"
            / f"python{sys.version_info.major}.{sys.version_info.minor}"
            / "site-packages"
            / "rotel"
            / "rotel-agent"
        )
        command = [
            binary,
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{free_port()}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            f"http://127.0.0.1:{sink_port}",
            "--pid-file",
            str(workdir / "rotel.pid"),
        ]
        if scenario == "rotel-redaction":
            command += ["--otlp-with-trace-processor", str(HERE / "rotel_redaction.py")]
    else:
        raise ValueError(scenario)
    environment = {**os.environ, "FAILPATH_REDACTION_KEY": "bench-only-hmac-key-" + "0" * 32}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    wait_for_port(port, process)
    return process


def run_once(scenario: str, data: Path, duration: float, concurrency: int, settle: float) -> Result:
    wait_quiet(patience=settle)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario}-"))
    sink_port, middle_port, admin_port = free_port(), free_port(), free_port()
    report = workdir / "sink.json"
    sink = subprocess.Popen([PYTHON, str(HERE / "sink.py"), "--port", str(sink_port), "--report", str(report)])
    middle: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(sink_port, sink)
        middle = _middle(scenario, middle_port, sink_port, workdir, admin_port)
        target = middle_port if middle else sink_port
        sink_ps = psutil.Process(sink.pid)
        middle_ps = psutil.Process(middle.pid) if middle else None
        sink_cpu0, middle_cpu0 = _cpu(sink_ps), _cpu(middle_ps) if middle_ps else 0.0
        system0 = psutil.cpu_times()
        started = time.perf_counter()
        load = subprocess.Popen(
            [
                PYTHON,
                str(HERE / "load.py"),
                "--target",
                f"127.0.0.1:{target}",
                "--data",
                str(data),
                "--duration",
                str(duration),
                "--concurrency",
                str(concurrency),
                *(["--fresh-trace-ids"] if scenario in SAMPLED else []),
            ],
            stdout=subprocess.PIPE,
        )
        load_ps = psutil.Process(load.pid)
        peak_rss = 0.0
        load_cpu = 0.0
        while load.poll() is None:
            if middle_ps:
                peak_rss = max(peak_rss, middle_ps.memory_info().rss / 2**20)
            try:
                load_cpu = _cpu(load_ps)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.2)
        outcome = json.loads(load.communicate()[0])
        expected = outcome["acked_spans"]
        sampling: dict[str, float] = {}
        if scenario in SAMPLED:
            # Accepted spans over the load's time: the traces whose root came last are decided 2 s later.
            elapsed = outcome["elapsed_s"]
            time.sleep(3)
            metrics = _metrics(admin_port)
            kept = metrics.get('failpath_sampling_decided_spans_total{outcome="kept"}', 0.0)
            expected = int(kept + metrics.get('failpath_sampling_late_spans_total{outcome="kept"}', 0.0))
            sampling = {
                "kept": expected / outcome["acked_spans"],
                "latency_p50": _latency_quantile(metrics, 0.5),
                "latency_p99": _latency_quantile(metrics, 0.99),
                "latency_mean": metrics["failpath_sampling_decision_latency_seconds_sum"]
                / max(1.0, metrics["failpath_sampling_decision_latency_seconds_count"]),
                "buffered": metrics.get("failpath_sampling_buffer_spans", 0.0),
            }
        # Count until everything acknowledged (or kept) reached the sink (failpath and Rotel acknowledge first).
        drain_deadline = time.monotonic() + 30
        while _sink_spans(report) < expected and time.monotonic() < drain_deadline:
            if middle_ps:
                peak_rss = max(peak_rss, middle_ps.memory_info().rss / 2**20)
            time.sleep(0.05)
        if scenario not in SAMPLED:
            elapsed = time.perf_counter() - started
        delivered = _sink_spans(report)
        middle_cpu = (_cpu(middle_ps) - middle_cpu0) if middle_ps else 0.0
        sink_cpu = _cpu(sink_ps) - sink_cpu0
        system1 = psutil.cpu_times()
        busy = sum(getattr(system1, f) - getattr(system0, f) for f in ("user", "system", "nice", "irq", "softirq"))
        foreign = max(0.0, busy - middle_cpu - sink_cpu - load_cpu) / elapsed * 100
        if delivered != expected:
            print(f"  ! {scenario}: sink got {delivered} spans, {expected} were acknowledged (or kept)")
        return Result(
            scenario,
            outcome["acked_spans"] if scenario in SAMPLED else delivered,
            elapsed,
            middle_cpu,
            peak_rss,
            sink_cpu,
            load_cpu,
            foreign,
            outcome["p50_ms"],
            outcome["p99_ms"],
            outcome["errors"],
            sampling,
        )
    finally:
        for process in (middle, sink):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run (max 60)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=128, help="spans per request")
    parser.add_argument(
        "--settle", type=float, default=30.0, help="at most this many seconds to wait for a quiet machine per run"
    )
    parser.add_argument("--rotel", action="store_true", help="also measure Rotel (pip install rotel==0.0.1a15)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of: " + ", ".join(SCENARIOS) + " (pass-through is always measured)",
    )
    parser.add_argument(
        "--profile",
        choices=("bench", "realistic", "both"),
        default="both",
        help="the span data: the bench's (~1.1 KB/span), realistic agent traffic (~2.4 KB/span), or both in turn",
    )
    args = parser.parse_args()
    duration = min(args.duration, 60.0)
    print(
        f"machine: {os.cpu_count()} cores; {duration:.0f} s x {args.repeats} per scenario, {args.concurrency} in flight"
    )
    for profile in ("bench", "realistic") if args.profile == "both" else (args.profile,):
        measure(profile, args)


def measure(profile: str, args: argparse.Namespace) -> None:
    """Every scenario on one profile's data, interleaved, then its table and ratios."""
    duration = min(args.duration, 60.0)
    sys.path.insert(0, str(HERE))
    from agent_traces import count_spans, generate, write

    data = Path(tempfile.mkdtemp(prefix="bench-data-")) / "requests.bin"
    requests = generate(args.traces, 42, args.batch, profile)
    write(data, requests)
    spans = sum(count_spans(body) for body in requests)
    size = sum(len(body) for body in requests)
    print(
        f"\n== profile {profile}: {len(requests)} requests, {spans} spans ({spans / args.traces:.1f}/trace), "
        f"{size / spans:.0f} B/span, {spans / len(requests):.0f} spans/request"
    )

    chosen = set(args.scenarios.split(",")) | {"passthrough"}
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    scenarios = [name for name in SCENARIOS if name in chosen]
    scenarios += ["rotel", "rotel-redaction"] if args.rotel else []
    results: dict[str, list[Result]] = {name: [] for name in scenarios}
    for repeat in range(args.repeats):
        for name in scenarios:  # interleaved, so drift in machine load hits every scenario alike
            result = run_once(name, data, duration, args.concurrency, args.settle)
            results[name].append(result)
            print(
                f"  run {repeat + 1} {name:11} {result.spans_per_s:9.0f} spans/s  "
                f"{result.us_per_span:6.1f} us/span  rss {result.middle_rss_mb:5.0f} MB  "
                f"foreign {result.foreign_cpu_pct:3.0f}%  "
                f"errors {result.errors or 0}"
            )
            if result.sampling:
                print(
                    f"      kept {result.sampling['kept']:.1%}, decision latency mean "
                    f"{result.sampling['latency_mean']:.2f} s (p50 <= {result.sampling['latency_p50']} s, "
                    f"p99 <= {result.sampling['latency_p99']} s), {result.sampling['buffered']:.0f} spans "
                    "still buffered"
                )

    print()
    print(
        "| scenario | spans/s median (runs) | middle hop CPU us/span | middle RSS peak MB "
        "| p50/p99 ms | foreign CPU % |"
    )
    print("|---|---|---|---|---|---|")
    medians: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, runs in results.items():
        rates = [r.spans_per_s for r in runs]
        medians[name] = statistics.median(rates)
        cpu[name] = statistics.median(r.us_per_span for r in runs)
        label = {
            "direct": "a. load -> sink",
            "passthrough": "b. load -> pass-through -> sink",
            "failpath": "c. load -> failpath (no stages) -> sink",
            "spool-none": "c1. the same, with the spool (sync: none)",
            "spool-fsync": "c2. the same, with the spool (sync: interval, 5 ms)",
            "redaction": "e. load -> failpath (default redaction) -> sink",
            "sampling": "f. load -> failpath (redaction + tail sampling) -> sink, accepted spans/s",
            "default": "g. load -> failpath, default pipeline (+ spool, packets, store) -> sink, accepted spans/s",
            "rotel": "d. load -> Rotel -> sink",
            "rotel-redaction": "d2. load -> Rotel + 4-regex Python redaction (bench/rotel_redaction.py) -> sink",
        }[name]
        print(
            f"| {label} | {medians[name]:.0f} ({'/'.join(f'{x / 1000:.1f}k' for x in rates)}) | "
            f"{cpu[name]:.1f} | {max(r.middle_rss_mb for r in runs):.0f} | "
            f"{statistics.median(r.p50_ms for r in runs):.1f}/{statistics.median(r.p99_ms for r in runs):.1f} | "
            f"{'/'.join(f'{r.foreign_cpu_pct:.0f}' for r in runs)} |"
        )
    print()
    if "failpath" in cpu:
        print(f"ratio (c)/(b) spans/s: {medians['failpath'] / medians['passthrough']:.2f}  (target >= 0.8)")
        print(f"CPU per span, failpath / pass-through: {cpu['failpath'] / cpu['passthrough']:.2f}")
        for spool in ("spool-none", "spool-fsync"):
            if spool in cpu:
                extra, speed = cpu[spool] - cpu["failpath"], medians[spool] / medians["failpath"]
                print(f"spool cost ({spool}): {extra:+.1f} us/span CPU, spans/s x{speed:.2f}")
    for name, label, target in (("redaction", "e", "redaction"), ("sampling", "f", "sampling")):
        if name in medians:
            ratio = medians[name] / medians["passthrough"]
            print(f"ratio ({label})/(b) spans/s: {ratio:.2f}  ({target} target >= 0.5)")
    if "default" in cpu:
        print(
            f"CPU per span, pass-through / default pipeline: {cpu['passthrough'] / cpu['default']:.2f}x  "
            "(native core target >= 0.5x)"
        )
    if "rotel-redaction" in cpu and "default" in cpu:
        print(
            f"CPU per span, Rotel + Python redaction / default pipeline: {cpu['rotel-redaction'] / cpu['default']:.2f}x"
            "  (native core target >= 3x)"
        )


if __name__ == "__main__":
    main()
