"""The per-span fast path (raw prefilter, key rules only on clean spans) must change nothing but speed:
on a varied, seeded mix of spans it produces exactly the bytes the full walk produces."""

import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor
from tests.support.corpus import CORPUS, entries
from tests.support.redaction_mix import request


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
@pytest.mark.parametrize("rules", [[], [{"key": "user.id", "action": "hash"}, {"key": "inner", "action": "drop"}]])
def test_fast_path_equals_full_walk(monkeypatch: pytest.MonkeyPatch, rules: list[dict[str, str]], engine: str) -> None:
    pytest.importorskip(engine)
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", "equivalence-test-key-" + "9" * 20)
    config = RedactionConfig.model_validate({"engine": engine, "keys": {"rules": rules}, "span_keys": True})
    fast, full = build_redactor(config), build_redactor(config, fast_path=False)
    rng = random.Random(1234)
    for _ in range(30):
        original = request(rng)
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


# Bytes that are word characters: a string's length byte or the next field's tag can be one of them, so in a
# serialized span a value's first and last characters can sit next to letters or digits.
_WORD_BYTES = [byte for byte in range(1, 128) if chr(byte).isalnum() or chr(byte) == "_"]


def _placed(text: str) -> list[tuple[str, str]]:
    """The text as an attribute value whose length byte is a word character (padded with spaces after it),
    and again (padded before it) followed by an attribute whose tag (0x4a, "J") is one."""
    length = next((byte for byte in _WORD_BYTES if byte >= len(text)), None)
    if length is None:
        return []
    pad = " " * (length - len(text))
    return [(text + pad, ""), (pad + text, "after")]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpora/secrets is not beside the project")
@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
def test_fast_path_sees_values_whose_neighbour_bytes_are_word_characters(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Word boundaries and anchors hold at a value's edges, not in the bytes around it: the raw prefilter
    must not miss "Bearer <token>..." because its length byte is "A"."""
    pytest.importorskip(engine)
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", "equivalence-test-key-" + "9" * 20)
    config = RedactionConfig.model_validate({"engine": engine, "detectors": {"enable": ["ipv4", "ipv6"]}})
    fast, full = build_redactor(config), build_redactor(config, fast_path=False)
    texts = ["Bearer 9fQx2LmT7vRk4sWp sent upstream for the user lookup"]
    texts += [case["text"] for name in ("credentials.json", "personal.json") for case in entries(name)]
    original = ExportTraceServiceRequest()
    spans = original.resource_spans.add().scope_spans.add().spans
    for index, text in enumerate(texts):
        for value, after in _placed(text):
            span = spans.add(trace_id=index.to_bytes(16, "big"), span_id=b"\x9f" * 8, name="s")
            span.attributes.append(KeyValue(key="value", value=AnyValue(string_value=value)))
            if after:
                span.attributes.append(KeyValue(key="after", value=AnyValue(string_value=after)))
    assert len(spans) > 1000
    via_fast, via_full = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    via_fast.CopyFrom(original)
    via_full.CopyFrom(original)
    fast.redact(via_fast)
    full.redact(via_full)
    missed = [
        a.attributes[0].value.string_value.strip()
        for a, b in zip(
            via_fast.resource_spans[0].scope_spans[0].spans,
            via_full.resource_spans[0].scope_spans[0].spans,
            strict=True,
        )
        if a != b
    ]
    assert not missed, f"{len(missed)} values the fast path left alone, e.g. {missed[:3]}"
