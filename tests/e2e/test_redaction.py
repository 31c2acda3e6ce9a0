"""Secrets planted in every place a span carries text, sent with the real SDK: none reaches the backend.

Checked at the sink: no secret, nor any 12-character piece of one, anywhere in what arrived (protobuf
bytes and their JSON rendering), while ids, timestamps, token counts, status codes and ordinary
attributes are unchanged.
"""

import json
import re
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from failpath.otlp import json_codec
from failpath.redaction.pseudonyms import Pseudonymizer
from tests.support.agent_run import sdk_exporter
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.http import request
from tests.support.sink import OtlpSink

KEY = "k" * 16 + "-test-hmac-key-0123456789"
OPENAI = "sk-proj-Xq7pLm2Zr9Tb4Wc8Vn1Ks5Hd3Jf6Gy0Ae2Qw5Er8TyT3BlbkFJp9Lm2Zx4Cv6Bn8Mq1Wr3Ty5Ui7Op9As"
AWS_ID = "AKIAQ7ZX3VNM4LPR2KTW"
GITHUB = "ghp_R8tYq2Wm5Xn9Pb3Lk7Dv1Zs4Hc6Jf0Ga2Ne5"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwicm9sZSI6ImFkbWluIn0"
    ".Qm9ndXNTaWduYXR1cmVGb3JUZXN0c09ubHkxMjM0NTY3"
)
EMAIL = "dana.whitfield@northwind-traders.com"
CARD = "4539 1488 0343 6467"
CARD_INT = 4916338506082832
PASSWORD = "Tr0ub4dor-And-3-Horses"
JSON_PASSWORD = "Zq8-Escaped-Json-Secret"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDx3ExampleKeyMaterialForTests0123"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
PHONE = "+1 415 555 0142"
IBAN = "DE89 3704 0044 0532 0130 00"
BEARER = "b3arer.Tok3n-Only_For-Tests~42"
DB_PASSWORD = "Pg-Passw0rd-Value-9"
SECRETS = [OPENAI, AWS_ID, GITHUB, JWT, EMAIL, CARD, str(CARD_INT), PASSWORD, JSON_PASSWORD, PEM_BODY, PHONE,
           IBAN, BEARER, DB_PASSWORD]  # fmt: skip


def _pieces(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(max(1, len(secret) - size + 1))}


def _emit(exporter_protocol: str, endpoint: str) -> list[object]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "billing-agent",
                "deployment.owner": EMAIL,
                "db.connection": f"postgres://svc_agent:{DB_PASSWORD}@db.internal:5432/billing",
            }
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(sdk_exporter(exporter_protocol, endpoint), schedule_delay_millis=50))
    tracer = provider.get_tracer("agent.tools", "1.0", attributes={"scope.note": f"api_key={PASSWORD}"})
    with tracer.start_as_current_span("invoke_agent billing", kind=SpanKind.SERVER) as root:
        root.set_attribute("gen_ai.usage.input_tokens", 1234)
        root.set_attribute("gen_ai.request.model", "gpt-4.1")
        with tracer.start_as_current_span(f"call github with {GITHUB}") as tool:
            tool.set_attribute(
                "gen_ai.input.messages", json.dumps([{"role": "user", "content": f"my key is {OPENAI}"}])
            )
            tool.set_attribute("tool.input", json.dumps({"arguments": json.dumps({"password": JSON_PASSWORD})}))
            tool.set_attribute("aws.keys", ["ok-value", f"id={AWS_ID}"])
            tool.set_attribute("payment.card", CARD_INT)
            tool.set_attribute("customer.card", f"card {CARD}, iban {IBAN}, phone {PHONE}")
            tool.set_attribute("http.request.header.authorization", [f"Bearer {BEARER}"])
            tool.set_attribute("retry.count", 2)
            tool.add_event(f"session {JWT}", {"exception.message": f"login failed: password={PASSWORD}"})
            tool.add_event("exception", {"exception.stacktrace": f"Traceback...\nkey = '''{PEM}'''"})
            tool.set_status(Status(StatusCode.ERROR, f"tool failed for {EMAIL}"))
        with tracer.start_as_current_span(
            "verify", links=[Link(root.get_span_context(), {"note": f"Authorization: Bearer {BEARER}"})]
        ):
            pass
    provider.force_flush(10_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _all_text(requests: list[ExportTraceServiceRequest]) -> str:
    return "\n".join(
        request.SerializeToString().decode("utf-8", "replace") + json_format.MessageToJson(request)
        for request in requests
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_no_secret_reaches_the_backend(
    tmp_path: Path, sink: OtlpSink, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    config = make_config(
        tmp_path,
        {"redaction": {"enabled": True}, "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]}},
    )
    with RunningFailpath(config) as failpath:
        target = failpath.grpc_endpoint if protocol == "grpc" else failpath.http_url
        sent = _emit(protocol, target)
        received = sink.wait_for_spans(len(sent))
        assert len(received) == len(sent)
        # Found inside summarized content too: counted, and listed in the summary.
        assert failpath.metric("failpath_redaction_findings_total", rule="openai") == 1
        assert failpath.metric("failpath_redaction_findings_total", rule="github") == 1
    text = _all_text(sink.requests)
    for secret in SECRETS:
        leaked = [piece for piece in _pieces(secret) if piece in text]
        assert not leaked, f"pieces of {secret!r} reached the backend: {leaked[:3]}"

    by_id = {span.span_id: span for span in received}
    for expected in sent:
        context = expected.get_span_context()  # type: ignore[attr-defined]
        got = by_id[context.span_id.to_bytes(8, "big")]
        assert got.trace_id == context.trace_id.to_bytes(16, "big")
        assert (got.start_time_unix_nano, got.end_time_unix_nano) == (expected.start_time, expected.end_time)  # type: ignore[attr-defined]
        assert got.status.code == expected.status.status_code.value  # type: ignore[attr-defined]
    root = next(span for span in received if span.name == "invoke_agent billing")
    attributes = {kv.key: kv.value for kv in root.attributes}
    assert attributes["gen_ai.usage.input_tokens"].int_value == 1234
    assert attributes["gen_ai.request.model"].string_value == "gpt-4.1"

    tool = next(span for span in received if span.name.startswith("call github"))
    assert re.fullmatch(r"call github with <redacted:github:[A-Za-z0-9_-]{16}>", tool.name)
    attributes = {kv.key: kv.value for kv in tool.attributes}
    assert "http.request.header.authorization" not in attributes
    assert attributes["retry.count"].int_value == 2
    summary = attributes["gen_ai.input.messages"].string_value
    assert re.fullmatch(r"<summary:chars=\d+:hmac=[0-9a-f]{16}:hits=openai>", summary)
    assert attributes["payment.card"].string_value.startswith("<redacted:credit_card:")
    assert attributes["aws.keys"].array_value.values[0].string_value == "ok-value"
    assert tool.status.message.startswith("tool failed for <redacted:email:")
    counts = {key: value.int_value for key, value in attributes.items() if key.startswith("redaction.")}
    assert counts["redaction.redacted.count"] == 1 and counts["redaction.summarized.count"] == 1
    assert counts["redaction.masked.count"] >= 8
    # Stable pseudonyms: the same secret gives the same token wherever it appears.
    expected_token = Pseudonymizer(KEY.encode()).token("password_assignment", PASSWORD)
    protobuf_text = b"".join(r.SerializeToString() for r in sink.requests).decode("utf-8", "replace")
    assert protobuf_text.count(expected_token) == 2  # the scope attribute and the exception message


def test_nested_values_and_json_body(tmp_path: Path, sink: OtlpSink) -> None:
    """Key-value lists inside arrays inside attributes (not expressible through the SDK), sent as OTLP/JSON."""
    config = make_config(
        tmp_path,
        {"redaction": {"enabled": True}, "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]}},
    )
    nested = {
        "kvlistValue": {
            "values": [
                {"key": "inner", "value": {"arrayValue": {"values": [{"stringValue": f"mail {EMAIL}"}]}}},
                {"key": "authorization", "value": {"stringValue": f"Bearer {BEARER}"}},
            ]
        }
    }
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "nested",
        "attributes": [{"key": "payload", "value": nested}],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with RunningFailpath(config) as failpath:
        status, _, _ = request(failpath.http_url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert status == 200
        sink.wait_for_spans(1)
    text = _all_text(sink.requests)
    assert EMAIL not in text and BEARER not in text
    decoded = json.loads(json_codec.encode(sink.requests[0]))
    payload = decoded["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]["kvlistValue"]
    assert payload["values"][0]["value"]["arrayValue"]["values"][0]["stringValue"].startswith("mail <redacted:email")
