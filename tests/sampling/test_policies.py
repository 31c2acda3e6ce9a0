"""The policy engine on its own: drop policies first, then the first policy that applies decides; a trace
no policy takes is kept; a policy type without a judge is an explicit error, never a silent default."""

import os
from typing import Any

import pytest

from failpath.sampling.conditions import CompiledConditions
from failpath.sampling.config import SamplingConfig, _PolicyConfig
from failpath.sampling.policies import UNMATCHED, PolicyEngine
from failpath.sampling.trace_buffer import Trace


def _engine(*policies: dict[str, Any]) -> tuple[PolicyEngine, CompiledConditions]:
    conditions = CompiledConditions()
    return PolicyEngine(SamplingConfig.model_validate({"policies": list(policies)}), conditions), conditions


def _trace(error: str | None = None, seconds: float = 1.0, bits: int = 0) -> Trace:
    trace = Trace(trace_id=os.urandom(16), first_seen=0.0, deadline=0.0, error=error, bits=bits, has_root=True)
    trace.root_end = int(seconds * 1e9)
    return trace


def test_the_first_policy_that_applies_decides_and_records_why() -> None:
    engine, _ = _engine(
        {"name": "errors", "type": "error"},
        {"name": "slow", "type": "latency", "threshold": "30s"},
        {"name": "rest", "type": "probabilistic", "percentage": 0},
    )
    failed = engine.decide(_trace(error="status", seconds=60), "root", now=0.0)
    assert (failed.keep, failed.policy, failed.trigger, failed.error) == (True, "errors", "root", "status")
    assert engine.decide(_trace(seconds=60), "max_wait", now=0.0).policy == "slow"
    healthy = engine.decide(_trace(), "root", now=0.0)
    assert (healthy.keep, healthy.policy) == (False, "rest")


def test_drop_policies_go_first_wherever_they_are_listed() -> None:
    engine, conditions = _engine(
        {"name": "errors", "type": "error"},
        {"name": "health-checks", "type": "drop", "when": {"span_name": True, "equals": "GET /healthz"}},
    )
    [leaf] = conditions.leaves
    decision = engine.decide(_trace(error="status", bits=leaf.bit), "root", now=0.0)
    assert (decision.keep, decision.policy) == (False, "health-checks")
    assert engine.decide(_trace(error="status"), "root", now=0.0).policy == "errors"


def test_a_trace_no_policy_takes_is_kept() -> None:
    engine, _ = _engine({"name": "errors", "type": "error"})
    decision = engine.decide(_trace(), "root", now=0.0)
    assert (decision.keep, decision.policy, decision.rate) == (True, UNMATCHED, 1.0)


def test_a_policy_type_without_a_judge_is_an_explicit_error() -> None:
    config = SamplingConfig.model_construct(policies=[_PolicyConfig(name="new")])
    with pytest.raises(AssertionError, match="Expected code to be unreachable"):
        PolicyEngine(config, CompiledConditions())
