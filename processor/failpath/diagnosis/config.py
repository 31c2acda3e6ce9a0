"""Bucket rules: which findings are evidence for which failure bucket (docs/diagnosis.md has every finding
and every default rule with an example trace). The config key is `packets.buckets`."""

import re
from typing import Literal, get_args

from pydantic import Field, field_validator

from failpath.agents.config import Role
from failpath.config_types import Strict

Finding = Literal[
    # Causes: something went wrong at this step.
    "retrieval_failed",
    "retrieval_empty",
    "retrieval_low_scores",
    "tool_failed",
    "guardrail_blocked",
    "model_failed",
    "context_limit",
    "model_cut_off",
    "token_limit",
    "over_token_budget",
    "escalation_skipped",
    "router_failed",
    "planner_failed",
    "replanned",
    "plan_outside_task",
    "plan_explosion",
    "repeated_calls",
    "verifier_passed",
    # Symptoms: the failure showing; blamed only when no cause precedes them.
    "verifier_rejected",
    "turn_limit",
    "step_limit",
    "recursion_limit",
    "request_limit",
    "run_failed",
    "outcome_failed",
    "negative_feedback",
]
FINDINGS: tuple[str, ...] = get_args(Finding)
SYMPTOMS = frozenset(FINDINGS[FINDINGS.index("verifier_rejected") :])


class MatchConfig(Strict):
    """A finding that is evidence for the bucket; role and error narrow it down."""

    finding: list[Finding] = Field(min_length=1)
    # Only when the finding's step has one of these roles.
    role: list[Role] | None = None
    # Only when this Python regex is found in the finding step's error (types, messages, status).
    error: str | None = None

    @field_validator("error")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as problem:
                raise ValueError(f"invalid regex {pattern!r}: {problem}") from None
        return pattern


class BucketRuleConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    first_check: str
    avoid: str
    # May name the failing step: {step}, {label}, {tool}, {model}, {retriever}.
    next_action: str
    # Any of these matches makes a finding evidence for this bucket.
    match: list[MatchConfig] = Field(min_length=1)


def _bucket(
    name: str, description: str, first_check: str, avoid: str, next_action: str, *findings: str
) -> BucketRuleConfig:
    return BucketRuleConfig.model_validate(
        {
            "name": name,
            "description": description,
            "first_check": first_check,
            "avoid": avoid,
            "next_action": next_action,
            "match": [{"finding": list(findings)}],
        }
    )


def default_buckets() -> list[BucketRuleConfig]:
    return [
        _bucket(
            "retrieval_miss",
            "the agent never saw the right evidence",
            "query terms, filters, ranking",
            "do not blame or swap the model before checking what was retrieved",
            "Replay retriever {retriever} with the recorded query and filters and check why the right documents "
            "were not returned.",
            "retrieval_failed",
            "retrieval_empty",
            "retrieval_low_scores",
        ),
        _bucket(
            "tool_execution",
            "a command or API call failed mid-run",
            "timeouts, auth, argument validation",
            "do not change the prompt or the model for a failing tool call",
            "Re-run tool {tool} with the recorded arguments; check its timeout, credentials and argument validation.",
            "tool_failed",
            "guardrail_blocked",
            "model_failed",
        ),
        _bucket(
            "routing_mistake",
            "wrong model lane or token budget",
            "risk score, context packet, escalation rule",
            "do not raise every budget globally; fix the route or budget for this kind of task",
            "Replay the step with the lane and budget the router should have chosen ({model} was used).",
            "router_failed",
            "escalation_skipped",
            "context_limit",
            "model_cut_off",
            "token_limit",
            "over_token_budget",
        ),
        _bucket(
            "planner_drift",
            "an early plan created bad downstream work",
            "task manifest, decomposition, constraints",
            "do not patch the downstream step that executed a bad plan",
            "Replay the planner with the recorded task and compare its plan with the task's constraints.",
            "planner_failed",
            "replanned",
            "plan_outside_task",
            "plan_explosion",
            "repeated_calls",
            "turn_limit",
            "step_limit",
            "recursion_limit",
            "request_limit",
            "verifier_rejected",
        ),
        _bucket(
            "verifier_false_positive",
            "weak checks approved bad output",
            "invariant coverage, shadow tests",
            "do not loosen the checks further or retry until the verifier passes",
            "Add the failing case to the verifier's checks and replay the run against it.",
            "verifier_passed",
        ),
    ]


def unique_names(rules: list[BucketRuleConfig]) -> list[BucketRuleConfig]:
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1} | ({"unknown"} & set(names)))
    if duplicates:
        raise ValueError(f"bucket names must be unique and not 'unknown': {', '.join(duplicates)}")
    return rules
