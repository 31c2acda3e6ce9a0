"""A bounded run of the native walk's fuzzer (tests/fuzz/native_walk.py) in every suite run; the long run
(>= 1M inputs) is documented in docs/native.md."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris has wheels for Linux x86-64 only")
pytest.importorskip("failpath.redaction._native", reason="the C extension is not built")

RUNS = 10_000


def test_the_fuzzer_runs_bounded_without_a_crash_or_disagreement(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    harness = Path(__file__).with_name("native_walk.py")
    flags = [f"-atheris_runs={RUNS}", "-max_len=8192", f"-artifact_prefix={tmp_path}/"]
    done = subprocess.run(
        [sys.executable, str(harness), *flags, str(corpus)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Done {RUNS} " in done.stderr
    assert len(list(corpus.iterdir())) > 8  # it found inputs beyond the seeds
    assert not list(tmp_path.glob("crash-*"))
