"""Pointing an application's OpenTelemetry at failpath: an OTLP exporter on the application's tracer
provider (or a new one when it has none), from arguments or the usual OTEL_EXPORTER_OTLP_* variables."""

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

PROTOCOLS = ("http/protobuf", "grpc")


def _protocol(protocol: str | None) -> str:
    chosen = (
        protocol
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if chosen not in PROTOCOLS:
        raise ValueError(f"OTLP protocol {chosen!r}: failpath takes {' or '.join(PROTOCOLS)}")
    return chosen


def exporter(
    endpoint: str | None = None, protocol: str | None = None, headers: dict[str, str] | None = None
) -> SpanExporter:
    """An OTLP span exporter to failpath. endpoint: a base URL (http://127.0.0.1:4318, or :4317 for gRPC); None
    leaves it to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT (else the SDK's default,
    localhost:4318 or :4317, where failpath listens by default)."""
    if _protocol(protocol) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"  # a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is
    return HttpExporter(endpoint=endpoint, headers=headers)


def configure(
    endpoint: str | None = None,
    *,
    service_name: str | None = None,
    protocol: str | None = None,
    headers: dict[str, str] | None = None,
    provider: TracerProvider | None = None,
) -> TracerProvider:
    """Send the application's spans to failpath; call once, at start.

    The exporter goes on `provider`, else on the application's own SDK tracer provider when it has set one
    (its other exporters stay), else on a new provider (with `service_name`) that becomes the global one.
    Spans leave in batches in the background: call the provider's `force_flush()` before a short-lived
    process exits (`shutdown()` does it too). Returns the provider."""
    if provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            attributes = {SERVICE_NAME: service_name} if service_name else {}
            provider = TracerProvider(resource=Resource.create(attributes))
            trace.set_tracer_provider(provider)
    provider.add_span_processor(BatchSpanProcessor(exporter(endpoint, protocol, headers)))
    return provider
