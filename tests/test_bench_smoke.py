"""The benchmark tools still run end to end (tiny sizes): they are how speed claims are checked."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench"


def test_throughput_benchmark_runs_and_every_acknowledged_span_arrives() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "throughput.py"), "--duration", "1", "--repeats", "1", "--traces", "30"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(f"ratio ({x})/(b)" in result.stdout for x in "cef")
    assert "decision latency mean" in result.stdout
    # A "!" line means the sink missed acknowledged spans (or, with sampling, kept ones).
    assert "!" not in result.stdout, result.stdout


def test_redaction_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "redaction.py"), "--traces", "20", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MB/s scanned" in result.stdout


def test_sampling_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "sampling.py"), "--traces", "30", "--repeats", "1", "--buffered", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "µs/span" in result.stdout and "spans buffered" in result.stdout
