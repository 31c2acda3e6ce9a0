"""A varied, seeded mix of spans for comparing redaction paths: secrets planted in a few values, every kind
of string place (names, status, events, links, arrays, key-value lists), hashed and dropped keys, long values."""

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

PLANTS = [
    "reach me at lena.ortiz@fabrikam-mail.com",
    "export OPENAI_API_KEY=sk-proj-Q2w3E4r5T6y7U8i9O0p1A2s3T3BlbkFJd4F5g6H7j8K9l0Z1x2C3v4",
    "card 4556 7375 8689 9855 on file",
    "password=Plain-Text-Passw0rd",
    "<!DOCTYPE html><html><head><title>Portal for lena.ortiz@fabrikam-mail.com</title></head><body>hi</body></html>",
    "call +44 20 7946 0958 tomorrow",
    "Phone: 4155550132",
    "office (655)480-7782x856, mobile 0917-123-4567",
    '{"contact": "00905321234567"}',
    "IBAN AL47-2121-1009-0000-0002-3569-8741 ALL CAPS",
    '{"args": "{\\"api_key\\": \\"Escaped-Json-Key-12345\\"}"}',
]
WORDS = [
    "refund",
    "order",
    "shipment",
    "invoice",
    "retry",
    "planner",
    "verifier",
    "search",
    "tool",
    "context",
    "budget",
]


def text(rng: random.Random, most: int = 60) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, most)))
    return f"{words} {rng.choice(PLANTS)}" if rng.random() < 0.08 else words


def value(rng: random.Random, depth: int = 0) -> AnyValue:
    roll = rng.random()
    if roll < 0.6:
        return AnyValue(string_value=text(rng))
    if roll < 0.7:
        return AnyValue(int_value=rng.choice([7, 1764145200123, 4111111111111111, -3]))
    if roll < 0.75:
        return AnyValue(double_value=0.5)
    nested = AnyValue()
    if roll < 0.88 or depth:
        nested.array_value.values.extend(AnyValue(string_value=text(rng)) for _ in range(2))
    else:
        nested.kvlist_value.values.extend(
            KeyValue(key=rng.choice(["inner", "gen_ai.prompt"]), value=value(rng, depth + 1)) for _ in range(2)
        )
    return nested


def request(rng: random.Random) -> ExportTraceServiceRequest:
    keys = ["gen_ai.prompt", "gen_ai.completion", "tool.name", "note", "http.request.header.authorization",
            "input.value", "user.id", "gen_ai.usage.input_tokens", "retrieval.query"]  # fmt: skip
    built = ExportTraceServiceRequest()
    for _ in range(2):
        resource_spans = built.resource_spans.add()
        resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
        if rng.random() < 0.3:
            resource_spans.resource.attributes.append(KeyValue(key="host.note", value=value(rng)))
            resource_spans.schema_url = text(rng, 3)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "lib"
        if rng.random() < 0.3:
            scope_spans.scope.version = text(rng, 2)
            scope_spans.scope.attributes.append(KeyValue(key="note", value=value(rng)))
        for index in range(40):
            span = scope_spans.spans.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name=text(rng, 5))
            if index % 7 == 0:
                span.status.message = text(rng)
            if index % 11 == 0:
                span.trace_state = "vendor=" + rng.choice(WORDS)
            if rng.random() < 0.1:
                raw = rng.choice([text(rng).encode(), b"\xff\xfe" + rng.randbytes(12)])  # UTF-8 text, or binary
                span.attributes.append(KeyValue(key="payload", value=AnyValue(bytes_value=raw)))
            for _ in range(rng.randint(0, 8)):
                span.attributes.append(KeyValue(key=rng.choice(keys), value=value(rng)))
            if rng.random() < 0.3:
                event = span.events.add(name=text(rng, 4))
                event.attributes.append(KeyValue(key="exception.message", value=AnyValue(string_value=text(rng))))
            if rng.random() < 0.2:
                link = span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                link.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value=text(rng))))
            if rng.random() < 0.05:
                span.attributes.append(KeyValue(key="log", value=AnyValue(string_value="z" * 9000)))
    return built
