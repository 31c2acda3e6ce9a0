"""Key rules, replacements, limits and config errors of the redaction stage, on real OTLP messages."""

import re
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from failpath.config import ConfigError, parse_config
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor

EMAIL = "ana.lima@contoso-mail.com"
KEY = "0123456789abcdef0123456789abcdef-key"


def _request(attributes: dict[str, Any]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s")
    for key, value in attributes.items():
        any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        span.attributes.append(KeyValue(key=key, value=any_value))
    return request


def _redacted(attributes: dict[str, Any], **config: Any) -> dict[str, str | int]:
    request = _request(attributes)
    build_redactor(RedactionConfig.model_validate({"hmac_key_env": None, **config})).redact(request)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    return {
        kv.key: kv.value.string_value if kv.value.WhichOneof("value") == "string_value" else kv.value.int_value
        for kv in span.attributes
    }


def test_scanned_by_default_and_masked_without_a_key() -> None:
    out = _redacted({"note": f"mail {EMAIL} now", "plain": "nothing here"})
    assert out["note"] == "mail <redacted:email> now"
    assert out["plain"] == "nothing here"
    assert out["redaction.masked.count"] == 1


def test_hmac_pseudonyms_are_stable_and_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP_KEY", KEY)
    first = _redacted({"a": EMAIL, "b": f"cc {EMAIL}"}, hmac_key_env="FP_KEY")
    token = re.fullmatch(r"<redacted:email:[A-Za-z0-9_-]{16}>", str(first["a"]))
    assert token and str(first["b"]) == f"cc {first['a']}"
    monkeypatch.setenv("FP_KEY", KEY.replace("0", "1"))
    assert _redacted({"a": EMAIL}, hmac_key_env="FP_KEY")["a"] != first["a"]


def test_builtin_rules_drop_credential_headers_and_summarize_content() -> None:
    out = _redacted(
        {
            "http.request.header.authorization": "Bearer abc",
            "http.request.header.cookie": "session=1",
            "gen_ai.output.messages": f'[{{"content": "write to {EMAIL}"}}]',
            "llm.input_messages.0.message.content": "hello",
            "gen_ai.request.model": "gpt-4.1",
        }
    )
    assert "http.request.header.authorization" not in out and "http.request.header.cookie" not in out
    assert re.fullmatch(r"<summary:chars=\d+:hmac=[0-9a-f]{16}:hits=email>", str(out["gen_ai.output.messages"]))
    assert str(out["llm.input_messages.0.message.content"]).endswith(":hits=none>")
    assert out["gen_ai.request.model"] == "gpt-4.1"
    assert (out["redaction.redacted.count"], out["redaction.summarized.count"]) == (2, 2)


def test_keep_content_scans_instead_of_summarizing() -> None:
    out = _redacted({"gen_ai.input.messages": f"send it to {EMAIL}"}, keys={"keep_content": True})
    assert out["gen_ai.input.messages"] == "send it to <redacted:email>"


def test_user_rules_come_first() -> None:
    out = _redacted(
        {"trusted": EMAIL, "user.id": "u-42", "gen_ai.input.messages": "hi", "internal.debug": "x"},
        keys={
            "rules": [
                {"key": "trusted", "action": "keep"},
                {"key": "user.id", "action": "hash"},
                {"key": "gen_ai.input.messages", "action": "keep"},
                {"pattern": r"internal\..*", "action": "drop"},
            ]
        },
    )
    assert out["trusted"] == EMAIL
    assert re.fullmatch(r"<hashed:[0-9a-f]{16}>", str(out["user.id"]))
    assert out["gen_ai.input.messages"] == "hi"
    assert "internal.debug" not in out


def test_allow_list_mode_fails_closed() -> None:
    out = _redacted(
        {"gen_ai.request.model": "m", "custom.field": "v", "note": EMAIL},
        keys={"mode": "allow_list", "allowed": ["note", r"/gen_ai\..*/"]},
    )
    assert set(out) == {"gen_ai.request.model", "note", "redaction.masked.count", "redaction.redacted.count"}
    assert out["note"] == "<redacted:email>"


def test_detectors_can_be_switched_and_added() -> None:
    config = {
        "detectors": {
            "disable": ["email"],
            "enable": ["ipv4"],
            "custom": [{"name": "employee_id", "regex": r"\bEMP-(\d{6})\b", "group": 1}],
        }
    }
    out = _redacted({"a": EMAIL, "b": "from 8.8.4.4", "c": "badge EMP-123456"}, **config)
    assert out["a"] == EMAIL
    assert out["b"] == "from <redacted:ipv4>"
    assert out["c"] == "badge EMP-<redacted:employee_id>"


@pytest.mark.parametrize("engine", ["hyperscan", "re2", "python"])
def test_an_anchored_custom_detector_finds_every_value(engine: str) -> None:
    """^ and $ hold at each value's edges, however the engine lays the values out to scan them."""
    if engine != "python":
        pytest.importorskip(engine)
    custom = [{"name": "employee_id", "regex": r"^EMP-\d{6}$"}]
    values = {f"k{index}": f"EMP-{index:06d}" for index in range(5)} | {"other": "EMP-000001 and more"}
    out = _redacted(values, engine=engine, detectors={"custom": custom})
    assert [out[f"k{index}"] for index in range(5)] == ["<redacted:employee_id>"] * 5
    assert out["other"] == "EMP-000001 and more"


def test_integer_card_numbers_are_caught() -> None:
    out = _redacted({"card": 4111111111111111, "epoch_ms": 1764145200123, "count": 12})
    assert out["card"] == "<redacted:credit_card>"
    assert out["epoch_ms"] == 1764145200123 and out["count"] == 12


def test_long_values_are_cut_with_a_hash_pointer() -> None:
    out = _redacted({"log": "x" * 10_000}, max_value_chars=100)
    assert re.fullmatch(r"x{100}<truncated:chars=10000:hmac=[0-9a-f]{16}>", str(out["log"]))
    assert out["redaction.truncated.count"] == 1


def test_html_is_reduced_to_a_redacted_title() -> None:
    body = "lorem " * 500
    page = (
        f"<!DOCTYPE html><html><head><title>Invoice for {EMAIL}</title><style>p {{color: red}}</style>"
        f"<script>var token = 1;</script></head><body><p>{body}</p></body></html>"
    )
    out = _redacted({"tool.result.page": page})
    visible = len(f"Invoice for {EMAIL} {body.strip()}")
    assert re.fullmatch(
        rf'<html:title="Invoice for <redacted:email>":chars={len(page)}:text_chars={visible}:hmac=[\w-]{{16}}>',
        str(out["tool.result.page"]),
    )


def test_counter_keys_and_bytes_values_cannot_hide_secrets() -> None:
    request = _request({"redaction.masked.count": f"hidden {EMAIL}"})
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="blob", value=AnyValue(bytes_value=f"mail {EMAIL}".encode())))
    span.attributes.append(KeyValue(key="binary", value=AnyValue(bytes_value=b"\xff\xfe\x00")))
    build_redactor(RedactionConfig(hmac_key_env=None)).redact(request)
    values = {kv.key: kv.value for kv in reversed(span.attributes)}  # first occurrence wins
    assert values["redaction.masked.count"].string_value == "hidden <redacted:email>"
    assert values["blob"].bytes_value == b"mail <redacted:email>"
    assert values["binary"].bytes_value == b"\xff\xfe\x00"


def test_counts_add_up_across_chained_processors() -> None:
    request = _request({"note": EMAIL})
    redactor = build_redactor(RedactionConfig(hmac_key_env=None))
    redactor.redact(request)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="later", value=AnyValue(string_value=f"again {EMAIL}")))
    redactor.redact(request)
    counts = {kv.key: kv.value.int_value for kv in span.attributes if kv.key.startswith("redaction.")}
    assert counts == {"redaction.masked.count": 2}


@pytest.mark.parametrize("engine", ["hyperscan", "re2", "python"])
def test_every_string_place_is_visited(engine: str) -> None:
    if engine != "python":
        pytest.importorskip(engine)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="r", value=AnyValue(string_value=EMAIL)))
    scope_spans = resource_spans.scope_spans.add()
    resource_spans.schema_url = f"https://schemas.example/{EMAIL}"
    scope_spans.scope.name = f"lib {EMAIL}"
    scope_spans.scope.version = f"1.0+{EMAIL}"
    scope_spans.schema_url = f"https://schemas.example/{EMAIL}"
    scope_spans.scope.attributes.append(KeyValue(key="s", value=AnyValue(string_value=EMAIL)))
    span = scope_spans.spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, name=f"span {EMAIL}")
    span.trace_state = f"vendor=user:{EMAIL}"
    span.status.message = f"status {EMAIL}"
    event = span.events.add(name=f"event {EMAIL}")
    event.attributes.append(KeyValue(key="e", value=AnyValue(string_value=EMAIL)))
    link = span.links.add(trace_id=b"\3" * 16, span_id=b"\4" * 8, trace_state=f"v={EMAIL}")
    link.attributes.append(KeyValue(key="l", value=AnyValue(string_value=EMAIL)))
    build_redactor(RedactionConfig(hmac_key_env=None, engine=engine)).redact(request)  # type: ignore[arg-type]
    assert EMAIL.encode() not in request.SerializeToString()
    # The resource attribute and the resource schema URL.
    assert {kv.key: kv.value.int_value for kv in resource_spans.resource.attributes}["redaction.masked.count"] == 2


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("redaction: {keys: {rules: [{pattern: '(unclosed', action: drop}]}}", "invalid regex '(unclosed'"),
        ("redaction: {keys: {rules: [{key: a, action: shred}]}}", "redaction.keys.rules.0.action"),
        ("redaction: {detectors: {disable: [emails]}}", "unknown detector(s) emails"),
        ("redaction: {detectors: {custom: [{name: x, regex: '[a-'}]}}", "invalid regex '[a-'"),
        ("redaction: {detectors: {custom: [{name: x, regex: 'a*'}]}}", "matches the empty string"),
        ("redaction: {keys: {mode: allow_list}}", "needs at least one key"),
        ("redaction: {keys: {mode: allow_list, allowed: ['/[z-a]/']}}", "invalid regex"),
    ],
)
def test_bad_rules_fail_at_start_with_a_clear_message(yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml_text, "rules.yaml")
    assert message in str(caught.value)


def test_short_hmac_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", "too-short")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        parse_config("redaction: {enabled: true}", "k.yaml")


def test_presigned_url_credentials_are_redacted_keys_kept() -> None:
    url = (
        "https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=ASIAQ7ZX3VNM4LPR2KTW%2F20261126%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Signature=9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0&X-Amz-Expires=300"
    )
    out = str(_redacted({"url.full": url})["url.full"])
    assert "9f8e7d6c5b4a" not in out and "ASIAQ7ZX3VNM4LPR2KTW" not in out
    assert "X-Amz-Signature=<redacted:url_signature>" in out
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in out and "X-Amz-Expires=300" in out
    plain = "https://example.com/search?q=signature+design&sig=ab"
    assert _redacted({"url.full": plain})["url.full"] == plain


def test_span_keys_lists_affected_keys_only_when_asked() -> None:
    attributes = {
        "http.request.header.authorization": "Bearer abc",
        "gen_ai.input.messages": "hello",
        "note": f"mail {EMAIL}",
        "plain": "nothing",
    }
    assert not any(key.endswith(".keys") for key in _redacted(attributes))
    request = _request(attributes)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.name = f"send to {EMAIL}"
    redactor = build_redactor(RedactionConfig(hmac_key_env=None, span_keys=True))
    redactor.redact(request)
    listed = {kv.key: kv.value.string_value for kv in span.attributes if kv.key.endswith(".keys")}
    assert listed == {
        "redaction.redacted.keys": "http.request.header.authorization",
        "redaction.summarized.keys": "gen_ai.input.messages",
        "redaction.masked.keys": "note,span.name",
    }
    # A second failpath in the chain adds to the lists and counts instead of writing them twice.
    span.attributes.append(KeyValue(key="later", value=AnyValue(string_value=EMAIL)))
    redactor.redact(request)
    masked = {kv.key: kv.value for kv in span.attributes if kv.key.startswith("redaction.masked")}
    assert masked["redaction.masked.keys"].string_value == "later,note,span.name"
    assert masked["redaction.masked.count"].int_value == 3
    assert sum(kv.key == "redaction.masked.keys" for kv in span.attributes) == 1


@pytest.mark.parametrize("text", ["DB_PASSWORD: XwAf97T1bQoOeKp9C", "--api-key=syqB1pBE66lHd"])
def test_one_secret_matched_by_several_syntaxes_counts_once(text: str) -> None:
    out = _redacted({"note": text})
    assert out["note"].endswith("<redacted:password_assignment>")  # type: ignore[union-attr]
    assert out["redaction.masked.count"] == 1
