"""Blame on hand-written runs: the earliest unrecovered cause wins over the symptom it produced, a recovered
failure is no cause, a symptom alone still gets its bucket, and your own bucket rules (role and error
narrowing, order) decide instead of the defaults."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.agents.config import AgentsConfig
from failpath.agents.normalize import Normalizer
from failpath.diagnosis.blame import Blame, Diagnosis
from failpath.diagnosis.config import BucketRuleConfig, default_buckets
from failpath.otlp.values import key_value
from failpath.signals.errors import ErrorSignalsConfig

ROOT = bytes([1]) * 8


def _diagnose(
    steps: Sequence[tuple[str, Mapping[str, Any], str | None]],
    rules: list[BucketRuleConfig] | None = None,
    root_attributes: Mapping[str, Any] | None = None,
    root_end_ns: int = 10**9,
) -> Diagnosis:
    """A run of (name, attributes, error message or None) steps under a root span, one after another."""
    trace = os.urandom(16)
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    root = Span(
        trace_id=trace,
        span_id=ROOT,
        name="invoke_agent support",
        start_time_unix_nano=1,
        end_time_unix_nano=root_end_ns,
    )
    root.attributes.extend(key_value(key, value) for key, value in (root_attributes or {}).items())
    spans.append(root)
    for index, (name, attributes, error) in enumerate(steps, start=2):
        span = Span(trace_id=trace, span_id=bytes([index]) * 8, parent_span_id=ROOT, name=name)
        span.start_time_unix_nano, span.end_time_unix_nano = index * 1000, index * 1000 + 500
        span.attributes.extend(key_value(key, value) for key, value in attributes.items())
        if error is not None:
            span.status.code, span.status.message = Status.STATUS_CODE_ERROR, error
        spans.append(span)
    agents = AgentsConfig()
    run = Normalizer(agents, ErrorSignalsConfig(), ("workflow.name",)).run(request)
    return Blame(rules or default_buckets(), agents.signals).diagnose(run)


RETRIEVER = {"agent.step.kind": "retriever", "retrieval.documents.count": 0}
VERIFIER_REJECTS = {"agent.step.kind": "verifier", "verifier.passed": False}


def test_the_earliest_cause_wins_over_the_symptom_it_produced() -> None:
    verdict = _diagnose([("search", RETRIEVER, None), ("check answer", VERIFIER_REJECTS, None)])
    assert verdict.failed and verdict.bucket == "retrieval_miss"
    assert verdict.cause is not None and verdict.cause.name == "retrieval_empty"
    assert verdict.showed is not None and verdict.showed.name == "verifier_rejected"
    assert verdict.failing is not None and verdict.failing.name == "search"


def test_a_failure_made_good_by_a_later_attempt_is_not_the_cause() -> None:
    tool = {"agent.step.kind": "tool", "gen_ai.tool.name": "lookup"}
    verdict = _diagnose([("lookup", tool, "timed out"), ("lookup", tool, None), ("check", VERIFIER_REJECTS, None)])
    # The rejection stands alone: blamed on the check itself, the retried timeout named as runner-up and why not.
    assert verdict.cause is not None and verdict.cause.name == "verifier_rejected"
    assert verdict.runner_up is not None and verdict.runner_up.bucket == "tool_execution"
    assert verdict.runner_up.why_not == "tool:lookup 'lookup' failed, but a later attempt succeeded"


def test_a_recovered_failure_alone_is_no_failure() -> None:
    tool = {"agent.step.kind": "tool", "gen_ai.tool.name": "lookup"}
    verdict = _diagnose([("lookup", tool, "timed out"), ("lookup", tool, None)])
    assert not verdict.failed


def test_a_symptom_with_no_cause_before_it_still_gets_its_bucket() -> None:
    verdict = _diagnose([("plan", {"agent.step.kind": "planner"}, None), ("agent turn", {}, "Max turns (10) exceeded")])
    assert verdict.bucket == "planner_drift"
    assert verdict.cause is not None and verdict.cause.name == "turn_limit"


def _rule(name: str, match: dict[str, Any]) -> BucketRuleConfig:
    return BucketRuleConfig.model_validate(
        {"name": name, "description": name, "first_check": "-", "avoid": "-", "next_action": "-", "match": [match]}
    )


def test_your_rules_decide_in_order_narrowed_by_role_and_error() -> None:
    tool = {"agent.step.kind": "tool", "gen_ai.tool.name": "charge_card"}
    steps = [("charge", tool, "PaymentGatewayError: card declined")]
    rules = [
        _rule("payments_down", {"finding": ["tool_failed"], "role": ["tool"], "error": "Timeout"}),
        _rule("card_declined", {"finding": ["tool_failed"], "error": "declined"}),
        _rule("any_tool", {"finding": ["tool_failed"]}),
    ]
    assert _diagnose(steps, rules).bucket == "card_declined"
    assert _diagnose(steps, rules[2:] + rules[:2]).bucket == "any_tool"
    assert _diagnose(steps, rules[:1]).bucket == "unknown"  # no rule had evidence


def test_what_the_root_says_comes_after_every_check_whatever_the_clocks_say() -> None:
    """OpenTelemetry JS keeps start times to the millisecond: a run's root can end a hair before its last
    check. The user's negative feedback still comes after the check that passed."""
    passed: dict[str, object] = {"agent.step.kind": "verifier", "verifier.passed": True}
    steps: list[tuple[str, Mapping[str, Any], str | None]] = [
        ("plan", {"agent.step.kind": "planner"}, None),
        ("check answer", passed, None),
    ]
    for root_end in (10**9, 3000):  # after the check's end (3,500 ns), and before it
        verdict = _diagnose(steps, root_attributes={"agent.feedback": "negative"}, root_end_ns=root_end)
        assert verdict.bucket == "verifier_false_positive", root_end
