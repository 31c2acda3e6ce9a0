"""The per-span fast path (raw prefilter, key rules only on clean spans) must change nothing but speed:
on a varied, seeded mix of spans it produces exactly the bytes the full walk produces."""

import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor

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


def _text(rng: random.Random, most: int = 60) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, most)))
    return f"{text} {rng.choice(PLANTS)}" if rng.random() < 0.08 else text


def _value(rng: random.Random, depth: int = 0) -> AnyValue:
    roll = rng.random()
    if roll < 0.6:
        return AnyValue(string_value=_text(rng))
    if roll < 0.7:
        return AnyValue(int_value=rng.choice([7, 1764145200123, 4111111111111111, -3]))
    if roll < 0.75:
        return AnyValue(double_value=0.5)
    value = AnyValue()
    if roll < 0.88 or depth:
        value.array_value.values.extend(AnyValue(string_value=_text(rng)) for _ in range(2))
    else:
        value.kvlist_value.values.extend(
            KeyValue(key=rng.choice(["inner", "gen_ai.prompt"]), value=_value(rng, depth + 1)) for _ in range(2)
        )
    return value


def _request(rng: random.Random) -> ExportTraceServiceRequest:
    keys = ["gen_ai.prompt", "gen_ai.completion", "tool.name", "note", "http.request.header.authorization",
            "input.value", "user.id", "gen_ai.usage.input_tokens", "retrieval.query"]  # fmt: skip
    request = ExportTraceServiceRequest()
    for _ in range(2):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "lib"
        for index in range(40):
            span = scope_spans.spans.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name=_text(rng, 5))
            if index % 7 == 0:
                span.status.message = _text(rng)
            for _ in range(rng.randint(0, 8)):
                span.attributes.append(KeyValue(key=rng.choice(keys), value=_value(rng)))
            if rng.random() < 0.3:
                event = span.events.add(name=_text(rng, 4))
                event.attributes.append(KeyValue(key="exception.message", value=AnyValue(string_value=_text(rng))))
            if rng.random() < 0.2:
                link = span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                link.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value=_text(rng))))
            if rng.random() < 0.05:
                span.attributes.append(KeyValue(key="log", value=AnyValue(string_value="z" * 9000)))
    return request


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
@pytest.mark.parametrize("rules", [[], [{"key": "user.id", "action": "hash"}, {"key": "inner", "action": "drop"}]])
def test_fast_path_equals_full_walk(monkeypatch: pytest.MonkeyPatch, rules: list[dict[str, str]], engine: str) -> None:
    pytest.importorskip(engine)
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", "equivalence-test-key-" + "9" * 20)
    config = RedactionConfig.model_validate({"engine": engine, "keys": {"rules": rules}, "span_keys": True})
    fast, full = build_redactor(config), build_redactor(config, fast_path=False)
    rng = random.Random(1234)
    for _ in range(30):
        original = _request(rng)
        via_fast, via_full = ExportTraceServiceRequest(), ExportTraceServiceRequest()
        via_fast.CopyFrom(original)
        via_full.CopyFrom(original)
        fast_result, full_result = fast.redact(via_fast), full.redact(via_full)
        assert via_fast.SerializeToString(deterministic=True) == via_full.SerializeToString(deterministic=True)
        assert fast_result.findings == full_result.findings
        assert fast_result.actions == full_result.actions
        for plant in ("lena.ortiz", "Plain-Text-Passw0rd", "Escaped-Json-Key", "4556 7375", "7946 0958",
                      "4155550132", "480-7782", "123-4567", "905321234567", "2121-1009"):  # fmt: skip
            assert plant.encode() not in via_fast.SerializeToString()
