"""Emit agent-like runs with the real OpenTelemetry SDK, and compare what a backend received with what was sent."""

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from failpath.otlp.values import python_value


def sdk_exporter(protocol: str, endpoint: str, headers: dict[str, str] | None = None) -> SpanExporter:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=10)
    return HttpSpanExporter(endpoint=endpoint, headers=headers, timeout=10)


def emit_runs(exporter: SpanExporter, runs: int = 1, fail_tool: bool = True) -> list[ReadableSpan]:
    """Emit `runs` agent runs (7 spans each); returns the spans as the SDK finished them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-agent", "deployment.environment": "test", "pid.num": 42})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=16, schedule_delay_millis=50))
    tracer = provider.get_tracer("failpath.tests", "1.2.3")
    for run in range(runs):
        with tracer.start_as_current_span(
            "invoke_agent support", kind=SpanKind.SERVER, attributes={"gen_ai.operation.name": "invoke_agent"}
        ) as root:
            root.set_attribute("run.id", f"run-{run}")
            with tracer.start_as_current_span("plan", attributes={"gen_ai.operation.name": "plan"}):
                pass
            with tracer.start_as_current_span("retrieve docs", kind=SpanKind.CLIENT) as retrieve:
                retrieve.set_attribute("retrieval.documents", ["doc-1", "doc-2"])
                retrieve.set_attribute("retrieval.scores", [0.91, 0.42])
            with tracer.start_as_current_span(
                "chat gpt-x",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.request.model": "gpt-x",
                    "gen_ai.usage.input_tokens": 1234,
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.prompt": "Summarise the ticket ü " * 20,
                },
            ):
                pass
            link = Link(root.get_span_context(), {"link.reason": "follows plan"})
            with tracer.start_as_current_span(
                "execute_tool search", links=[link], attributes={"gen_ai.tool.name": "search", "tool.success": True}
            ):
                pass
            with tracer.start_as_current_span("execute_tool deploy", attributes={"gen_ai.tool.name": "deploy"}) as tool:
                if fail_tool:
                    tool.set_attribute("tool.success", False)
                    tool.add_event("exception", {"exception.type": "TimeoutError", "exception.message": "deadline"})
                    tool.set_status(Status(StatusCode.ERROR, "tool timed out"))
            with tracer.start_as_current_span("verify_answer") as verify:
                verify.set_attribute("verifier.passed", not fail_tool)
                verify.add_event("gen_ai.evaluation.result", {"score": 0.1})
    provider.force_flush(10_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _attrs(attributes: Any) -> dict[str, Any]:
    return {kv.key: python_value(kv.value) for kv in attributes}


def _sdk_attrs(attributes: Any) -> dict[str, Any]:
    return {key: tuple(v) if isinstance(v, list | tuple) else v for key, v in (attributes or {}).items()}


def assert_same_spans(
    sent: Sequence[ReadableSpan], received: Sequence[ExportTraceServiceRequest], added: str | None = None
) -> None:
    """Every sent span arrived exactly once, with the same ids, fields, attributes, events, links, status, resource.
    added: a key prefix of attributes failpath adds (they are left out of the comparison)."""
    by_id: dict[bytes, tuple[Any, Any, Any]] = {}
    for request in received:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    assert span.span_id not in by_id, "span delivered twice"
                    by_id[span.span_id] = (resource_spans.resource, scope_spans.scope, span)
    assert len(by_id) == len(sent), f"sent {len(sent)} spans, backend got {len(by_id)}"
    for expected in sent:
        context = expected.get_span_context()
        assert context is not None
        resource, scope, got = by_id[context.span_id.to_bytes(8, "big")]
        assert got.trace_id == context.trace_id.to_bytes(16, "big")
        parent = expected.parent.span_id.to_bytes(8, "big") if expected.parent else b""
        assert got.parent_span_id == parent
        assert got.name == expected.name
        assert got.kind == expected.kind.value + 1  # SDK kinds start at INTERNAL=0, OTLP at UNSPECIFIED=0
        assert got.start_time_unix_nano == expected.start_time
        assert got.end_time_unix_nano == expected.end_time
        got_attributes = _attrs(got.attributes)
        if added:
            got_attributes = {key: value for key, value in got_attributes.items() if not key.startswith(added)}
        assert got_attributes == _sdk_attrs(expected.attributes)
        assert [(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in got.events] == [
            (e.name, e.timestamp, _sdk_attrs(e.attributes)) for e in expected.events
        ]
        assert [(lk.trace_id, lk.span_id, _attrs(lk.attributes)) for lk in got.links] == [
            (
                lk.context.trace_id.to_bytes(16, "big"),
                lk.context.span_id.to_bytes(8, "big"),
                _sdk_attrs(lk.attributes),
            )
            for lk in expected.links
        ]
        assert got.status.code == expected.status.status_code.value
        assert got.status.message == (expected.status.description or "")
        assert _attrs(resource.attributes) == _sdk_attrs(expected.resource.attributes)
        assert expected.instrumentation_scope is not None
        assert (scope.name, scope.version) == (
            expected.instrumentation_scope.name,
            expected.instrumentation_scope.version,
        )
