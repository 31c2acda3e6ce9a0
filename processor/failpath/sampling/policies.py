"""Decides one trace from what its spans set as they arrived: drop policies first, then the others in
order, first match wins. A trace no policy matches is kept (at rate 1): losing data needs a rule."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from failpath.consumer import Decision
from failpath.sampling import threshold
from failpath.sampling.conditions import CompiledConditions, Predicate
from failpath.sampling.config import (
    AttributesPolicyConfig,
    DropPolicyConfig,
    DynamicPolicyConfig,
    ErrorPolicyConfig,
    LatencyPolicyConfig,
    PolicyConfig,
    ProbabilisticPolicyConfig,
    SamplingConfig,
)
from failpath.sampling.dynamic import DurationQuantiles, EmaThroughput
from failpath.sampling.trace_buffer import Trace

UNMATCHED = "unmatched"
# The trigger of a decision taken again for a dropped trace whose error signal arrived late.
LATE_ERROR = "late_error"
# What a policy says about a trace: None (does not apply), or (keep, rate, threshold).
Verdict = tuple[bool, float, int | None] | None
_KEEP: Verdict = (True, 1.0, None)
_DROP: Verdict = (False, 1.0, None)


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    when: Predicate | None
    judge: Callable[[Trace, float], Verdict]


def _error(trace: Trace, now: float) -> Verdict:
    return _KEEP if trace.error is not None else None


def _drop(trace: Trace, now: float) -> Verdict:
    return _DROP


def _probabilistic(trace: Trace, probability: float) -> Verdict:
    if probability >= 1:
        return _KEEP
    if probability <= 0:
        return _DROP
    rejection = threshold.threshold(probability)
    keep = threshold.randomness(trace.trace_id, trace.trace_state) >= rejection
    return keep, threshold.adjusted_count(rejection), rejection


class PolicyEngine:
    def __init__(self, config: SamplingConfig, conditions: CompiledConditions) -> None:
        ordered: list[PolicyConfig] = [p for p in config.policies if isinstance(p, DropPolicyConfig)]
        ordered += [p for p in config.policies if not isinstance(p, DropPolicyConfig)]
        self._rules = [self._rule(policy, conditions) for policy in ordered]
        # Every trace's duration feeds the quantiles, whichever policy decides it.
        self._quantiles = [
            rule.judge.quantiles
            for rule in self._rules
            if isinstance(rule.judge, _LatencyJudge) and rule.judge.quantiles is not None
        ]

    def _rule(self, policy: PolicyConfig, conditions: CompiledConditions) -> _Rule:
        when = conditions.compile(policy.when) if policy.when is not None else None
        judge: Callable[[Trace, float], Verdict]
        if isinstance(policy, ErrorPolicyConfig):
            judge = _error
        elif isinstance(policy, LatencyPolicyConfig):
            judge = _LatencyJudge(policy)
        elif isinstance(policy, AttributesPolicyConfig):
            judge = lambda trace, now: _KEEP  # noqa: E731
        elif isinstance(policy, DropPolicyConfig):
            judge = _drop
        elif isinstance(policy, ProbabilisticPolicyConfig):
            probability = policy.percentage / 100
            judge = lambda trace, now: _probabilistic(trace, probability)  # noqa: E731
        elif isinstance(policy, DynamicPolicyConfig):
            judge = _DynamicJudge(policy)
        else:  # a policy type added to the config without a judge: mypy flags it, and so does the first start
            assert_never(policy)
        return _Rule(policy.name, when, judge)

    def decide(self, trace: Trace, trigger: str, now: float) -> Decision:
        for quantiles in self._quantiles:
            quantiles.add(trace.workflow, trace.duration_ns)
        for rule in self._rules:
            if rule.when is not None and not rule.when(trace.bits):
                continue
            verdict = rule.judge(trace, now)
            if verdict is not None:
                keep, rate, rejection = verdict
                return Decision(keep, rule.name, rate, rejection, trigger, trace.error)
        return Decision(True, UNMATCHED, 1.0, None, trigger, trace.error)

    def late_error(self, trace: Trace) -> Decision | None:
        """A dropped trace whose error signal came after its decision: kept by the error policy (rate 1,
        trigger late_error) unless a drop policy takes it; None when it stays dropped. Only the error
        policy is asked again (it comes before every sampling policy), and no sampler sees the trace twice."""
        if trace.error is None:
            return None
        for rule in self._rules:
            if rule.when is not None and not rule.when(trace.bits):
                continue
            if rule.judge is _drop:
                return None
            if rule.judge is _error:
                return Decision(True, rule.name, 1.0, None, LATE_ERROR, trace.error)
        return None


class _LatencyJudge:
    def __init__(self, policy: LatencyPolicyConfig) -> None:
        self._default = int(policy.threshold * 1e9)
        self._workflows = {name: int(seconds * 1e9) for name, seconds in policy.workflows.items()}
        self.quantiles = DurationQuantiles(policy.quantile, policy.min_samples) if policy.quantile is not None else None

    def __call__(self, trace: Trace, now: float) -> Verdict:
        duration = trace.duration_ns
        if duration > self._workflows.get(trace.workflow, self._default):
            return _KEEP
        if self.quantiles is not None:
            dynamic = self.quantiles.threshold(trace.workflow)
            if dynamic is not None and duration > dynamic:
                return _KEEP
        return None


class _DynamicJudge:
    def __init__(self, policy: DynamicPolicyConfig) -> None:
        self._keys = policy.key_attributes
        self._per_span = policy.goal_spans_per_second is not None
        self._sampler = EmaThroughput(
            policy.goal,
            policy.adjustment_interval,
            policy.weight,
            policy.initial_rate,
            policy.max_keys,
        )

    def __call__(self, trace: Trace, now: float) -> Verdict:
        parts = [trace.workflow]
        values = trace.root_values or {}
        parts.extend(str(values.get(key, "")) for key in self._keys)
        rate = self._sampler.rate("\u2022".join(parts), trace.spans if self._per_span else 1, now)
        return _probabilistic(trace, 1 / rate)
