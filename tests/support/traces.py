"""Hand-built agent traces for the sampler tests, and a downstream consumer that records what it is handed."""

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.consumer import Batch, DecidedTrace, Refused
from failpath.otlp.values import key_value

START = 1_700_000_000_000_000_000


@dataclass
class TraceSpec:
    """One agent run: a root span and children; `error` puts an error status on one child."""

    trace_id: bytes
    children: int = 3
    error: bool = False
    duration_s: float = 1.0
    root_attributes: dict[str, object] = field(default_factory=dict)
    child_attributes: dict[str, object] = field(default_factory=dict)
    trace_state: str = ""

    def spans(self) -> list[Span]:
        rng = random.Random(self.trace_id)
        root_id = rng.randbytes(8)
        duration = int(self.duration_s * 1e9)
        root = Span(
            trace_id=self.trace_id,
            span_id=root_id,
            name="invoke_agent support",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=START,
            end_time_unix_nano=START + duration,
            trace_state=self.trace_state,
            attributes=[key_value(k, v) for k, v in self.root_attributes.items()],
        )
        spans = [root]
        for index in range(self.children):
            child = Span(
                trace_id=self.trace_id,
                span_id=rng.randbytes(8),
                parent_span_id=root_id,
                name=f"execute_tool step-{index}",
                start_time_unix_nano=START + index,
                end_time_unix_nano=START + index + duration // 2,
                trace_state=self.trace_state,
                attributes=[key_value("gen_ai.operation.name", "execute_tool"), key_value("step", index)]
                + [key_value(k, v) for k, v in self.child_attributes.items()],
            )
            if self.error and index == self.children - 1:
                child.status.code = Status.STATUS_CODE_ERROR
                child.status.message = "tool timed out"
            spans.append(child)
        return spans


def request_of(spans: Iterable[Span], service: str = "support-agent") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(key_value("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "agent.framework"
    scope_spans.scope.version = "2.3.1"
    scope_spans.spans.extend(spans)
    return request


def batch_of(spans: Sequence[Span], service: str = "support-agent") -> Batch:
    return Batch(request_of(spans, service), len(spans))


class Recorder:
    """The next stage after the sampler: records every batch; refuses while `refusing` is set."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.decided: list[DecidedTrace] = []
        self.refusing = False

    async def consume(self, batch: Batch) -> None:
        if self.refusing:
            raise Refused("overloaded", "test downstream is full")
        self.requests.append(ExportTraceServiceRequest.FromString(batch.serialized()))
        self.decided.extend(batch.traces or ())

    def spans(self) -> list[Span]:
        return [
            span
            for request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def traces(self) -> dict[bytes, list[Span]]:
        found: dict[bytes, list[Span]] = {}
        for span in self.spans():
            found.setdefault(span.trace_id, []).append(span)
        return found


def attribute(span: Span, key: str) -> object:
    for item in span.attributes:
        if item.key == key:
            kind = item.value.WhichOneof("value")
            return getattr(item.value, kind) if kind else None
    return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
