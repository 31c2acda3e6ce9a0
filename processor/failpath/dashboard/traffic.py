"""What the running service did since it started, read from its own metrics for the overview: traces and
spans kept and sampled away, redaction findings by detector and actions. Counts only, never values."""

import time
from collections import Counter as Tally
from dataclasses import dataclass

from prometheus_client import Counter

from failpath.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Traffic:
    uptime_s: float
    spans_accepted: int
    traces: dict[str, int]  # sampling outcome (kept, dropped) -> traces
    spans: dict[str, int]  # sampling outcome -> spans
    findings: list[tuple[str, int]]  # detector -> values found, most first
    actions: dict[str, int]  # redaction action -> count


def _by_label(counter: Counter, label: str) -> dict[str, int]:
    tally: Tally[str] = Tally()
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                tally[sample.labels[label]] += int(sample.value)
    return dict(tally)


def traffic(metrics: Metrics, started: float) -> Traffic:
    """A snapshot of the counters; `started` is the service's start (time.monotonic())."""
    return Traffic(
        uptime_s=time.monotonic() - started,
        spans_accepted=sum(_by_label(metrics.spans_accepted, "transport").values()),
        traces=_by_label(metrics.sampling_decisions, "outcome"),
        spans=_by_label(metrics.sampling_decided_spans, "outcome"),
        findings=Tally(_by_label(metrics.redaction_findings, "rule")).most_common(),
        actions=_by_label(metrics.redaction_actions, "action"),
    )
