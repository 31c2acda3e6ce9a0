"""failpath's own metrics, in one registry per service instance (so tests can run several side by side)."""

import hashlib
import re
from typing import Any, Self

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@ -]")
LABEL_MAX_CHARS = 64


def label_value(name: str) -> str:
    """A name a client chose (a workflow), made fit for a label: a small charset, at most LABEL_MAX_CHARS
    characters; a longer name keeps its start and a short hash of the whole, so long names stay apart."""
    cleaned = _LABEL_UNSAFE.sub("_", name)
    if len(cleaned) > LABEL_MAX_CHARS or (cleaned != name and len(name) > LABEL_MAX_CHARS):
        digest = hashlib.blake2b(name.encode(errors="surrogatepass"), digest_size=4).hexdigest()
        cleaned = f"{cleaned[: LABEL_MAX_CHARS - 9]}~{digest}"
    return cleaned or "_empty"


class _Remembering(MetricWrapperBase):
    """labels() remembered per label values: prometheus_client checks, converts and locks at every call (~2
    µs, against ~0.4 for an inc()), which the sampler would pay for every decided trace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remembered: dict[tuple[object, ...], Self] = {}

    def labels(self, *labelvalues: object, **labelkwargs: object) -> Self:
        child = self._remembered.get(labelvalues)
        if child is None or labelkwargs:
            child = super().labels(*labelvalues, **labelkwargs)
            if not labelkwargs:
                self._remembered[labelvalues] = child
        return child


class Counter(_Remembering, prometheus_client.Counter):
    pass


class Gauge(_Remembering, prometheus_client.Gauge):
    pass


class Histogram(_Remembering, prometheus_client.Histogram):
    pass


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Receivers. transport: grpc | http.
        self.requests_received = Counter(
            "failpath_receiver_requests", "Export requests received", ["transport"], registry=r
        )
        self.spans_received = Counter(
            "failpath_receiver_spans_received",
            "Spans received in well-formed requests, before id checks",
            ["transport"],
            registry=r,
        )
        self.spans_accepted = Counter(
            "failpath_receiver_spans_accepted",
            "Spans accepted into the pipeline (acknowledged to the client)",
            ["transport"],
            registry=r,
        )
        self.spans_refused = Counter(
            "failpath_receiver_spans_refused",
            "Spans not accepted, by reason (invalid_id, overloaded, shutting_down)",
            ["transport", "reason"],
            registry=r,
        )
        self.requests_refused = Counter(
            "failpath_receiver_requests_refused",
            "Requests answered with an error, by reason",
            ["transport", "reason"],
            registry=r,
        )
        self.connections_refused = Counter(
            "failpath_receiver_connections_refused",
            "Connections closed by a server limit, by reason (too_many_connections, header_timeout, malformed_http); "
            "transport: grpc, http, admin",
            ["transport", "reason"],
            registry=r,
        )
        self.requests_in_flight = Gauge(
            "failpath_receiver_requests_in_flight", "Requests being processed", ["transport"], registry=r
        )
        # Exporters. exporter: the exporter's name (store, jsonl, or an otlp exporter's name).
        self.spans_exported = Counter(
            "failpath_exporter_spans_exported", "Spans delivered by an exporter", ["exporter"], registry=r
        )
        self.send_failures = Counter(
            "failpath_exporter_send_failures",
            "Failed send attempts (retried or not), by reason",
            ["exporter", "reason"],
            registry=r,
        )
        self.spans_dropped = Counter(
            "failpath_exporter_spans_dropped",
            "Acknowledged spans an exporter gave up on, by reason (permanent error, retries exhausted, shutdown)",
            ["exporter", "reason"],
            registry=r,
        )
        self.queue_spans = Gauge(
            "failpath_exporter_queue_spans", "Spans waiting in the exporter queue", ["exporter"], registry=r
        )
        self.queue_bytes = Gauge(
            "failpath_exporter_queue_bytes",
            "Serialized bytes held by the exporter queue, in flight included",
            ["exporter"],
            registry=r,
        )
        self.spans_in_flight = Gauge(
            "failpath_exporter_spans_in_flight", "Spans being sent right now", ["exporter"], registry=r
        )
        self.store_pruned_spans = Counter(
            "failpath_store_pruned_spans", "Spans deleted from the embedded store by its retention limits", registry=r
        )
        # Redaction. Labels carry rule and action names, never keys or values.
        self.redaction_findings = Counter(
            "failpath_redaction_findings", "Sensitive values found and replaced, by detector", ["rule"], registry=r
        )
        self.redaction_actions = Counter(
            "failpath_redaction_actions",
            "Redaction actions (masked, redacted = attribute dropped, hashed, summarized, truncated)",
            ["action"],
            registry=r,
        )
        self.redaction_scanned_bytes = Counter(
            "failpath_redaction_scanned_bytes",
            "Bytes scanned for sensitive data (serialized spans and values)",
            registry=r,
        )
        self.redaction_requests = Counter(
            "failpath_redaction_requests",
            "Requests redacted, by path: native (the C walk over their bytes) or reference (pure Python, where "
            "the native walk is not built, turned off, or leaves a request to it)",
            ["path"],
            registry=r,
        )
        self.queue_capacity_spans = Gauge(
            "failpath_exporter_queue_capacity_spans", "The queue's limit in spans", ["exporter"], registry=r
        )
        # Tail sampling. policy: a configured policy name (or "unmatched"); trigger: what made the decision due.
        self.sampling_traces = Gauge("failpath_sampling_buffer_traces", "Traces waiting for a decision", registry=r)
        self.sampling_spans = Gauge("failpath_sampling_buffer_spans", "Spans waiting for a decision", registry=r)
        self.sampling_bytes = Gauge(
            "failpath_sampling_buffer_bytes",
            "Memory held by buffered traces and kept traces not yet handed on (estimated)",
            registry=r,
        )
        self.sampling_decisions = Counter(
            "failpath_sampling_decisions",
            "Trace decisions by policy and outcome (kept, dropped)",
            ["policy", "outcome"],
            registry=r,
        )
        self.sampling_decided_spans = Counter(
            "failpath_sampling_decided_spans", "Spans of decided traces by outcome", ["outcome"], registry=r
        )
        self.sampling_triggers = Counter(
            "failpath_sampling_triggers",
            "Trace decisions by trigger (root, max_wait, span_limit, byte_limit, memory_pressure, shutdown)",
            ["trigger"],
            registry=r,
        )
        self.sampling_late_spans = Counter(
            "failpath_sampling_late_spans",
            "Spans arriving after their trace was decided, by outcome (kept, dropped, saved: they brought the dropped "
            "trace back)",
            ["outcome"],
            registry=r,
        )
        self.sampling_late_errors = Counter(
            "failpath_sampling_late_errors",
            "Dropped traces whose error signal arrived after the decision: saved (brought back whole from the "
            "regret window, kept, given a packet) or lost (no longer held)",
            ["outcome"],
            registry=r,
        )
        self.sampling_regret_released_spans = Counter(
            "failpath_sampling_regret_window_released_spans",
            "Spans of dropped traces let go by the regret window without a late error: expired, or evicted to "
            "stay under its max_bytes",
            ["reason"],
            registry=r,
        )
        self.sampling_regret_bytes = Gauge(
            "failpath_sampling_regret_window_bytes", "Memory held by dropped traces in the regret window", registry=r
        )
        self.sampling_early_decisions = Counter(
            "failpath_sampling_early_decisions",
            "Traces decided early because the buffer was full, by whether they held an error",
            ["error"],
            registry=r,
        )
        self.sampling_decision_latency = Histogram(
            "failpath_sampling_decision_latency_seconds",
            "From the root span's arrival (or the first span's, without a root) to the decision",
            buckets=(0.5, 1, 2, 2.5, 3, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.sampling_spans_lost = Counter(
            "failpath_sampling_spans_lost",
            "Spans of kept traces that could not be handed on before shutdown",
            ["reason"],
            registry=r,
        )
        # The write-ahead spool.
        self.spool_bytes = Gauge("failpath_spool_bytes", "Bytes of spool segments on disk", registry=r)
        self.spool_segments = Gauge("failpath_spool_segments", "Spool segment files on disk", registry=r)
        self.spool_oldest_age = Gauge(
            "failpath_spool_oldest_unreleased_age_seconds",
            "Age of the oldest spool segment still needed (0 when none is)",
            registry=r,
        )
        self.spool_fsync_seconds = Histogram(
            "failpath_spool_fsync_seconds",
            "Duration of the spool's group-commit fsyncs",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
            registry=r,
        )
        self.spool_replayed_records = Counter(
            "failpath_spool_replayed_records", "Spool records replayed at start (left by an earlier run)", registry=r
        )
        self.spool_replayed_spans = Counter(
            "failpath_spool_replayed_spans", "Spans replayed from the spool at start", registry=r
        )
        self.spool_corrupt_segments = Counter(
            "failpath_spool_corrupt_segments",
            "Spool segments that ended in a torn or corrupt record (read up to it) at start",
            registry=r,
        )
        self.spool_refused = Counter(
            "failpath_spool_refused_requests",
            "Requests refused (503/UNAVAILABLE) because the spool was full or could not be written",
            registry=r,
        )
        # Replay packets and failure buckets.
        self.packets_written = Counter(
            "failpath_packets_written", "Replay packets written, by failure bucket", ["bucket"], registry=r
        )
        self.failures = Counter(
            "failpath_failures",
            "Failed runs by failure bucket and workflow (workflows past the 200th are counted as _other)",
            ["bucket", "workflow"],
            registry=r,
        )
        self.packets_failed = Counter(
            "failpath_packets_failed",
            "Packets not written, by stage (build, write, backlog) and cause (disk_full, read_only, too_many_files, "
            "permission, io_error, error, backlog_full, ...)",
            ["stage", "cause"],
            registry=r,
        )
        self.runs_recovered = Counter(
            "failpath_runs_recovered",
            "Traces kept for an error signal in which the diagnosis found every failure recovered (no packet)",
            registry=r,
        )
        self.packets_pruned = Counter("failpath_packets_pruned", "Packets deleted by the retention limits", registry=r)
