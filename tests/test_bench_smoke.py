"""The benchmark tools still run end to end (tiny sizes): they are how speed claims are checked."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench"


def _bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_throughput_benchmark_runs_and_every_acknowledged_span_arrives() -> None:
    # One profile is enough to show the driver works (the other differs only in the data generated), and the
    # scenarios with a stage each (the spool is in the default pipeline's).
    output = _bench(
        "throughput.py",
        "--duration",
        "1",
        "--repeats",
        "1",
        "--traces",
        "30",
        "--settle",
        "2",
        "--profile",
        "realistic",
        "--scenarios",
        "failpath,redaction,sampling,default",
    )
    assert all(f"ratio ({x})/(b)" in output for x in "cef")
    assert "pass-through / default pipeline" in output
    assert "decision latency mean" in output
    # A "!" line means the sink missed acknowledged spans (or, with sampling, kept ones).
    assert "!" not in output, output


def test_redaction_benchmark_runs() -> None:
    assert "MB/s scanned" in _bench("redaction.py", "--traces", "20", "--repeats", "1")


def test_walk_comparison_runs() -> None:
    processor = str(BENCH.parent / "processor")  # a build against itself: the same bytes, two figures
    output = _bench("compare_walks.py", processor, processor, "--traces", "20", "--repeats", "2")
    assert "same bytes" in output and "change" in output


def test_sampling_benchmark_runs() -> None:
    output = _bench("sampling.py", "--traces", "30", "--repeats", "1", "--buffered", "2000")
    assert "µs/span" in output and "spans buffered" in output


def test_large_values_benchmark_runs() -> None:
    output = _bench("large_values.py", "--mib", "0.25", "--shapes", "base64,json")
    assert "peak RSS +MB" in output and '"status": 200' in output


def test_dashboard_benchmark_runs(tmp_path: Path) -> None:
    sizes = ("--packets", "300", "--spans", "3000", "--pool", "60", "--requests", "2")
    output = _bench("dashboard.py", *sizes, "--data", str(tmp_path))
    assert "300 packets indexed" in output and "run page (packet + stored spans)" in output


def test_store_benchmark_runs() -> None:
    output = _bench("store.py", "--traces", "20")
    assert output.count("current layout") == 2 and output.count("earlier layout") == 2


def test_compare_builds_runs() -> None:
    processor = str(BENCH.parent / "processor")
    output = _bench(
        "compare_builds.py", processor, processor, "--scenarios", "failpath", "--repeats", "1", "--duration", "1",
        "--settle", "2",
    )  # fmt: skip
    assert "failpath    before" in output and "us/span" in output
