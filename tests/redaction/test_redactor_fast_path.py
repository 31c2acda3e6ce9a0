"""The per-span fast path (raw prefilter, key rules only on clean spans) must change nothing but speed:
on a varied, seeded mix of spans it produces exactly the bytes the full walk produces."""

import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import build_redactor
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
