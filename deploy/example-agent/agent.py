"""An example agent that emits a few runs through the real OpenTelemetry SDK, some of them failing, so a
failpath sidecar has something to redact, sample, package and forward.

Configured like any OTel SDK: OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4317),
OTEL_SERVICE_NAME. RUNS (default 10) runs, FAIL_EVERY (default 3): every third run fails in a tool.
"""

import os
import random
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def run_once(tracer: trace.Tracer, index: int, failing: bool) -> None:
    with tracer.start_as_current_span("invoke_agent refunds", kind=SpanKind.SERVER) as root:
        root.set_attributes(
            {"gen_ai.operation.name": "invoke_agent", "workflow.name": "refunds", "run.id": f"run-{index}"}
        )
        root.set_attribute("input.value", "Refund order 1234 for dana@example.com, card 4111 1111 1111 1111")
        with tracer.start_as_current_span("plan refunds", attributes={"gen_ai.operation.name": "plan"}):
            time.sleep(0.01)
        with tracer.start_as_current_span("retrieval kb", attributes={"gen_ai.operation.name": "retrieval"}) as span:
            span.set_attribute("gen_ai.retrieval.documents", '[{"id": "kb-12", "score": 0.82}]')
        with tracer.start_as_current_span("chat gpt-4.1", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4.1",
                    "gen_ai.usage.input_tokens": random.randint(500, 3000),
                    "gen_ai.usage.output_tokens": random.randint(50, 500),
                    "gen_ai.response.finish_reasons": ["stop"],
                }
            )
        with tracer.start_as_current_span("execute_tool issue_refund") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund"})
            tool.set_attribute("gen_ai.tool.call.arguments", '{"order": 1234, "api_key": "sk-live-example-not-real"}')
            if failing:
                tool.set_attribute("tool.success", False)
                tool.record_exception(TimeoutError("payments API timed out"))
                tool.set_status(Status(StatusCode.ERROR, "payments API timed out"))
                root.set_status(Status(StatusCode.ERROR, "run failed"))


def main() -> None:
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "refund-agent")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("example-agent")
    runs, fail_every = int(os.environ.get("RUNS", "10")), int(os.environ.get("FAIL_EVERY", "3"))
    for index in range(runs):
        run_once(tracer, index, failing=fail_every > 0 and index % fail_every == fail_every - 1)
    provider.shutdown()
    print(f"sent {runs} runs")


if __name__ == "__main__":
    main()
