"""Texts through the whole redactor, each as the value of a span attribute, as the corpus tests read them."""

import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor


def redact_values(texts: list[str], config: RedactionConfig | None = None) -> list[str]:
    """Each text redacted as a span attribute's value, 500 spans to a request."""
    os.environ.setdefault("FAILPATH_REDACTION_KEY", "test-key-" + "0" * 32)
    redactor = build_redactor(config or RedactionConfig())
    out: list[str] = []
    for offset in range(0, len(texts), 500):
        request = ExportTraceServiceRequest()
        spans = request.resource_spans.add().scope_spans.add().spans
        for text in texts[offset : offset + 500]:
            span = spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s")
            span.attributes.append(KeyValue(key="value", value=AnyValue(string_value=text)))
        redactor.redact(request)
        out.extend(span.attributes[0].value.string_value for span in spans)
    return out
