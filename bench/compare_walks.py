"""Two builds' native redaction walk (redaction/_native.c) in one process, alternated request by request on
the same requests, so that this machine's drift (up to ~50% between runs minutes apart, and no hardware
counters to count instructions instead) hits both alike. The Python around the walk is this checkout's; only
the extension differs. Checks that both give the same bytes, then prints µs per span for each.

A build is a directory holding a failpath package with its extensions built, e.g. an earlier commit:

    git worktree add /tmp/before <commit>
    .venv/bin/python -m pip install --quiet --no-deps --target /tmp/before-build /tmp/before
    .venv/bin/python bench/compare_walks.py /tmp/before-build processor --repeats 8
"""

import argparse
import importlib.machinery
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).parent))

from agent_traces import PROFILES, count_spans, generate

os.environ.setdefault("FAILPATH_REDACTION_KEY", "bench-only-hmac-key-" + "0" * 32)

from failpath.redaction import native_redactor
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor


def _extension(build: Path, label: str) -> ModuleType:
    """The build's _native, loaded as <label>._native beside this checkout's: a name of its own, so that the
    import system's cache of extension modules (by name and file) hands back this file's module."""
    found = sorted((build / "failpath" / "redaction").glob("_native*.so"))
    if not found:
        raise SystemExit(f"no built failpath/redaction/_native*.so under {build}")
    name = f"{label}._native"  # the init function is found by the last part: PyInit__native
    loader = importlib.machinery.ExtensionFileLoader(name, str(found[0]))
    spec = importlib.util.spec_from_file_location(name, str(found[0]), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _use(module: ModuleType) -> None:
    """Make native_redactor call this extension (the module global it calls its walk and splice through)."""
    vars(native_redactor)["_native"] = module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="the first build's directory (holding failpath/)")
    parser.add_argument("after", type=Path, help="the second build's directory")
    parser.add_argument("--traces", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=6, help="passes over the requests (max 100)")
    parser.add_argument("--profile", choices=PROFILES, default="realistic")
    args = parser.parse_args()
    requests = generate(args.traces, 42, 128, args.profile)
    spans = sum(map(count_spans, requests))
    reference = build_redactor(RedactionConfig())
    builds = {name: _extension(path, name) for name, path in (("before", args.before), ("after", args.after))}
    # Each redactor is made with its build's extension (its key table is that build's type) and called with it.
    redactors = {}
    for name, module in builds.items():
        _use(module)
        redactors[name] = native_redactor.NativeRedactor(reference)
    seconds = dict.fromkeys(builds, 0.0)
    repeats = max(1, min(args.repeats, 100))
    for repeat in range(repeats):
        order = list(builds) if repeat % 2 == 0 else list(builds)[::-1]
        for body in requests:
            out: dict[str, bytes | None] = {}
            for name in order:
                _use(builds[name])
                started = time.perf_counter()
                done = redactors[name].redact(body)
                seconds[name] += time.perf_counter() - started
                out[name] = done[0] if done is not None else None
            if repeat == 0 and out["before"] != out["after"]:
                raise SystemExit("the two builds give different bytes for a request")
    print(f"{len(requests)} requests, {spans} spans ({args.profile}), {repeats} alternating passes, same bytes")
    for name, total in seconds.items():
        print(f"{name:6} {total / repeats / spans * 1e6:6.2f} µs/span")
    before, after = (seconds[name] / repeats / spans * 1e6 for name in builds)
    print(f"change {after - before:+.2f} µs/span ({after / before - 1:+.1%})")


if __name__ == "__main__":
    main()
