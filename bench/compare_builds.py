"""Two builds of failpath through the service, interleaved run by run (bench/throughput.py's scenarios), so
that the drift of a shared machine hits both alike: the figure to compare changes by, where two separate
throughput runs an hour apart differ by ~30%.

A build is a directory holding a failpath package with its extensions built (`processor/` of this checkout
after `make`), e.g. an earlier commit installed aside:

    git worktree add /tmp/before <commit>
    .venv/bin/python -m pip install --quiet --no-deps --target /tmp/before-build /tmp/before
    .venv/bin/python bench/compare_builds.py /tmp/before-build processor --scenarios default --repeats 3

Prints each run's CPU µs per span of the middle hop and the medians, realistic spans unless --profile says.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import throughput
from agent_traces import PROFILES, generate, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="the first build's processor/ directory")
    parser.add_argument("after", type=Path, help="the second build's processor/ directory")
    parser.add_argument("--scenarios", default="default", help="comma-separated throughput.py scenarios")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per run (max 60)")
    parser.add_argument("--profile", choices=PROFILES, default="realistic")
    parser.add_argument("--settle", type=float, default=10.0, help="at most this many seconds to wait for quiet")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    unknown = set(scenarios) - set(throughput.SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    builds = {"before": args.before.resolve(), "after": args.after.resolve()}
    data = Path(tempfile.mkdtemp(prefix="bench-data-")) / "requests.bin"
    write(data, generate(1000, 42, 128, args.profile))
    figures: dict[tuple[str, str], list[float]] = {(scenario, build): [] for scenario in scenarios for build in builds}
    for repeat in range(args.repeats):
        for scenario in scenarios:
            for build, path in builds.items():
                os.environ["PYTHONPATH"] = str(path)  # the middle hop (python -m failpath) imports this build
                result = throughput.run_once(scenario, data, min(args.duration, 60.0), 8, args.settle)
                figures[(scenario, build)].append(result.us_per_span)
                print(f"run {repeat + 1} {scenario:11} {build:6} {result.us_per_span:6.1f} us/span", flush=True)
    for scenario in scenarios:
        before = statistics.median(figures[(scenario, "before")])
        after = statistics.median(figures[(scenario, "after")])
        change = f"{after - before:+.1f}, {after / before - 1:+.0%}"
        print(f"{scenario:11} before {before:6.1f}  after {after:6.1f} us/span  ({change})")


if __name__ == "__main__":
    main()
