"""The export queue with a scripted transport: what is retried, what is dropped and counted (never lost
silently), when it pushes back, how queued requests are merged, and what shutdown does with the rest."""

import asyncio

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.exporters.config import QueueConfig, RetryConfig
from failpath.exporters.queue import ExportQueue
from failpath.exporters.sender import SendError
from failpath.metrics import Metrics
from tests.support.requests import build_request

FAST_RETRY = RetryConfig(initial_interval=0.01, max_interval=0.02, max_elapsed_time=0.0)


class ScriptedSender:
    """A transport whose answers are scripted: each send takes the next outcome (an exception to raise or a
    count of rejected spans); when the script runs out it delivers. Payloads holding `poison` raise what no
    transport should (a failpath bug, or a value the sink cannot take)."""

    name = "scripted"

    def __init__(self, *outcomes: BaseException | int, poison: bytes | None = None) -> None:
        self.outcomes = list(outcomes)
        self.poison = poison
        self.delivered: list[bytes] = []
        self.attempts = 0
        self.closed = False

    async def start(self) -> None:
        pass

    async def send(self, payload: bytes, spans: int) -> int:
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else 0
        if isinstance(outcome, BaseException):
            raise outcome
        if self.poison is not None and self.poison in payload:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        self.delivered.append(payload)
        return outcome

    async def close(self) -> None:
        self.closed = True


def _payloads(count: int, spans: int = 1) -> list[bytes]:
    return [build_request(spans=spans, text=f"request {index}").SerializeToString() for index in range(count)]


def _spans(payload: bytes) -> int:
    request = ExportTraceServiceRequest.FromString(payload)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def _run(
    sender: ScriptedSender,
    payloads: list[bytes],
    metrics: Metrics,
    retry: RetryConfig | None = FAST_RETRY,
    queue: QueueConfig | None = None,
    drain: float = 10.0,
) -> ExportQueue:
    """Queue the payloads before the worker starts (so they can merge), then shut down with a drain budget."""

    async def run() -> ExportQueue:
        export = ExportQueue(sender, queue or QueueConfig(consumers=1), retry, metrics)
        for payload in payloads:
            export.put(payload, _spans(payload))
        await export.start()
        await export.shutdown(asyncio.get_running_loop().time() + drain)
        return export

    return asyncio.run(run())


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"exporter": "scripted", **labels}) or 0.0


def test_queued_requests_are_merged_into_one_send_by_concatenation() -> None:
    metrics = Metrics()
    sender = ScriptedSender()
    payloads = _payloads(4, spans=2)
    _run(sender, payloads, metrics)
    assert sender.delivered == [b"".join(payloads)]
    merged = ExportTraceServiceRequest.FromString(sender.delivered[0])
    assert len(merged.resource_spans) == 4
    assert _value(metrics, "failpath_exporter_spans_exported_total") == 8


def test_merging_stops_at_the_batch_limits() -> None:
    sender = ScriptedSender()
    payloads = _payloads(5, spans=2)
    _run(sender, payloads, Metrics(), queue=QueueConfig(consumers=1, batch_max_spans=4))
    assert sender.delivered == [b"".join(payloads[0:2]), b"".join(payloads[2:4]), payloads[4]]


def test_a_retryable_failure_is_retried_until_it_succeeds() -> None:
    metrics = Metrics()
    unavailable = SendError("unavailable", "backend down", retryable=True)
    sender = ScriptedSender(unavailable, unavailable)
    [payload] = _payloads(1)
    export = _run(sender, [payload], metrics)
    assert sender.delivered == [payload] and sender.attempts == 3
    assert _value(metrics, "failpath_exporter_send_failures_total", reason="unavailable") == 2
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="unavailable") == 0
    assert export.problems() == []


def test_a_permanent_failure_is_not_retried_and_is_counted() -> None:
    metrics = Metrics()
    sender = ScriptedSender(SendError("http_400", "bad request", retryable=False))
    export = _run(sender, _payloads(1), metrics)
    assert sender.attempts == 1 and sender.delivered == []
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="http_400") == 1
    assert export.problems() == ["exporter 'scripted' is failing with a permanent error"]


def test_one_bad_request_in_a_merged_send_takes_nothing_else_down() -> None:
    metrics = Metrics()
    sender = ScriptedSender(SendError("http_400", "bad request", retryable=False))
    payloads = _payloads(3)
    export = _run(sender, payloads, metrics)
    # The merged send failed for good; each request was then sent alone and delivered.
    assert sender.delivered == payloads
    assert _value(metrics, "failpath_exporter_spans_exported_total") == 3
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="http_400") == 0
    assert export.problems() == []  # a later success clears the permanent-failure flag


def test_a_poison_request_is_dropped_alone_and_the_worker_goes_on() -> None:
    payloads = _payloads(5)
    marker = b"request 2"
    metrics = Metrics()
    sender = ScriptedSender(poison=marker)
    _run(sender, payloads, metrics)
    # The merged send failed; each request was then sent alone: four delivered, the poisoned one dropped
    # after a bounded number of attempts, counted.
    assert sorted(sender.delivered) == sorted(p for p in payloads if marker not in p)
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="unexpected_error") == 1
    assert _value(metrics, "failpath_exporter_spans_exported_total") == 4
    assert _value(metrics, "failpath_exporter_send_failures_total", reason="unexpected_error") == 10


def test_unexpected_errors_are_retried_with_backoff() -> None:
    metrics = Metrics()
    sender = ScriptedSender(RuntimeError("surprise"), RuntimeError("surprise"), RuntimeError("surprise"))
    [payload] = _payloads(1)
    _run(sender, [payload], metrics)
    assert sender.delivered == [payload] and sender.attempts == 4
    assert _value(metrics, "failpath_exporter_spans_exported_total") == 1
    assert _value(metrics, "failpath_exporter_send_failures_total", reason="unexpected_error") == 3


def test_retries_give_up_after_max_elapsed_time() -> None:
    metrics = Metrics()
    retry = RetryConfig(initial_interval=0.05, max_interval=0.05, max_elapsed_time=0.12, randomization_factor=0)
    sender = ScriptedSender(*[SendError("unavailable", "down", retryable=True)] * 10)
    _run(sender, _payloads(1), metrics, retry=retry)
    assert sender.delivered == [] and sender.attempts == 3  # at 0, 0.05 and 0.10 s; the next would pass 0.12 s
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="retries_exhausted") == 1


def test_a_backend_answer_of_rejected_spans_counts_them_as_dropped() -> None:
    metrics = Metrics()
    sender = ScriptedSender(3)
    _run(sender, _payloads(1, spans=5), metrics)
    assert _value(metrics, "failpath_exporter_spans_exported_total") == 2
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="rejected_by_backend") == 3


def test_a_backend_cannot_reject_more_spans_than_it_was_sent() -> None:
    metrics = Metrics()
    _run(ScriptedSender(1_000_000), _payloads(1, spans=2), metrics)
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="rejected_by_backend") == 2


def test_what_is_left_at_the_shutdown_deadline_is_counted_as_dropped() -> None:
    metrics = Metrics()
    sender = ScriptedSender(*[SendError("unavailable", "down", retryable=True)] * 1000)
    export = _run(sender, _payloads(3), metrics, drain=0.1)
    assert sender.delivered == [] and sender.closed
    assert _value(metrics, "failpath_exporter_spans_dropped_total", reason="shutdown") == 3
    assert export.problems() == []  # stopping workers are not reported as stopped


def test_a_full_queue_refuses_but_an_empty_one_takes_any_batch() -> None:
    export = ExportQueue(ScriptedSender(), QueueConfig(max_spans=10, max_bytes=1000), FAST_RETRY, Metrics())
    assert export.has_room(50, 50_000)  # oversized, but nothing is held: it goes through rather than never
    export.put(b"x" * 600, 8)
    assert export.has_room(2, 400)
    assert not export.has_room(3, 10)  # spans over
    assert not export.has_room(1, 401)  # bytes over
