"""A plain OpenTelemetry SDK application pointed at failpath (docs/integrations.md): the application keeps
its own tracer provider and exporter (configured by the usual OTEL_EXPORTER_OTLP_* variables); the
failpath.agent helpers write their spans through it. Prints the run's trace id.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python docs/examples/integrations/plain_otel_refunds.py
"""

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from failpath import agent as failpath

# The application's own set-up, as it was before failpath: failpath is just an OTLP endpoint.
provider = TracerProvider(resource=Resource.create({"service.name": "refunds-plain"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)


def refund(order_id: str) -> str:
    raise TimeoutError("payments API did not answer in 30s")


envelope = failpath.run("refunds", actor="user-42", token_budget=4000, allowed_steps=["lookup_order", "refund_order"])
try:
    with envelope:
        with failpath.planner() as plan:
            plan.plan(["lookup_order", "refund_order"])
        with failpath.model("gpt-4.1", lane="careful") as call:
            call.usage(input_tokens=900, output_tokens=120, finish_reasons=["tool_calls"])
        with failpath.tool("refund_order", timeout_class="30s") as step:
            step.arguments({"order_id": "A-1001"})
            step.result(refund("A-1001"))
except TimeoutError:
    pass
provider.shutdown()
print(envelope.trace_id)
