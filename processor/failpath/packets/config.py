"""Replay packets and failure buckets: which traces get a packet, its size cap, where it is kept, and the
bucket rules (evaluated in order over the normalised run; the first that matches wins, else `unknown`)."""

from typing import Self

from pydantic import Field, model_validator

from failpath.agents.config import Role
from failpath.config_types import ByteSize, Duration, Names, Strict


class Match(Strict):
    """All the tests given must hold. The failing step is the earliest-ending span with an error signal
    (a tool, retriever, model... or, without one, the run itself); see docs/architecture.md."""

    # The failing step's role.
    failing_role: list[Role] | None = None
    # A retriever step that ended before the failing step started returned no documents.
    empty_retrieval_before: bool | None = None
    # A verifier step passed before the failing step started (or before the run failed).
    verifier_passed_before: bool | None = None
    # Python regex searched in the failing step's error type, exception types and status message.
    error_type: str | None = None
    # A model step up to the failure finished for one of these reasons.
    finish_reasons: list[str] | None = None
    # The run planned (or re-planned) at least this many times before failing.
    replans_at_least: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("a match needs at least one test")
        return self


class BucketRule(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    first_check: str
    avoid: str
    # May name the failing step: {step}, {tool}, {model}, {retriever} ({label} is e.g. tool:pytest).
    next_action: str
    # Any of these matches puts a failure in this bucket.
    match: list[Match] = Field(min_length=1)


def _bucket(
    name: str, description: str, first_check: str, avoid: str, next_action: str, *match: dict[str, object]
) -> BucketRule:
    return BucketRule.model_validate(
        {
            "name": name,
            "description": description,
            "first_check": first_check,
            "avoid": avoid,
            "next_action": next_action,
            "match": list(match),
        }
    )


def default_buckets() -> list[BucketRule]:
    return [
        _bucket(
            "retrieval_miss",
            "the agent never saw the right evidence",
            "query terms, filters, ranking",
            "do not blame or swap the model before checking what was retrieved",
            "Replay retriever {retriever} with the recorded query and filters and check why the right documents "
            "were not returned.",
            {"failing_role": ["retriever"]},
            {"empty_retrieval_before": True},
        ),
        _bucket(
            "verifier_false_positive",
            "weak checks approved bad output",
            "invariant coverage, shadow tests",
            "do not loosen the checks further or retry until the verifier passes",
            "Add the failing case to the verifier's checks and replay the run against it.",
            {"verifier_passed_before": True},
        ),
        _bucket(
            "routing_mistake",
            "wrong model lane or token budget",
            "risk score, context packet, escalation rule",
            "do not raise every budget globally; fix the route or budget for this kind of task",
            "Replay the step with the lane and budget the router should have chosen ({model} was used).",
            {"failing_role": ["router"]},
            {"finish_reasons": ["length"]},
            {"error_type": r"(?i)context[_ ]?length|max[_ ]?tokens|token[_ ]?(limit|budget)|budget[_ ]?exceeded"},
        ),
        _bucket(
            "tool_execution",
            "a command or API call failed mid-run",
            "timeouts, auth, argument validation",
            "do not change the prompt or the model for a failing tool call",
            "Re-run tool {tool} with the recorded arguments; check its timeout, credentials and argument validation.",
            {"failing_role": ["tool", "guardrail"]},
        ),
        _bucket(
            "planner_drift",
            "an early plan created bad downstream work",
            "task manifest, decomposition, constraints",
            "do not patch the downstream step that executed a bad plan",
            "Replay the planner with the recorded task and compare its plan with the task's constraints.",
            {"failing_role": ["planner"]},
            {"replans_at_least": 3},
            {"failing_role": ["verifier"]},
        ),
    ]


class Retention(Strict):
    max_age: Duration = 30 * 86400.0
    max_packets: int = Field(default=100_000, ge=1)


class PacketsConfig(Strict):
    """Packets need tail sampling: they are built when a trace is decided."""

    enabled: bool = True
    # Traces with an error always get a packet; also those kept by these policies (escalations; add your
    # latency policy's name to get packets for slow runs).
    policies: Names = ("escalated",)
    # A packet larger than this is trimmed (docs/architecture.md lists the order).
    max_bytes: ByteSize = 16 << 10
    # Recorded tool results and model outputs (redacted content, or summaries) are cut to this length.
    max_text_chars: int = Field(default=1000, ge=80)
    # Under data_dir: <path>/YYYY-MM-DD/<trace_id>.json, indexed in the embedded store.
    path: str = "replay"
    retention: Retention = Retention()
    buckets: list[BucketRule] = Field(default_factory=default_buckets)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [rule.name for rule in self.buckets]
        duplicates = sorted({name for name in names if names.count(name) > 1} | ({"unknown"} & set(names)))
        if duplicates:
            raise ValueError(f"bucket names must be unique and not 'unknown': {', '.join(duplicates)}")
        return self
