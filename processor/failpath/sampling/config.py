"""The tail sampler's YAML: buffer limits, decision timing, the decision cache, what counts as an error,
and the ordered policies (first match wins; drop policies are tried before the others)."""

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from failpath.config_types import ByteSize, Duration, Names, Strict
from failpath.signals.errors import ErrorSignalsConfig

Scalar = str | int | float | bool


class ConditionConfig(Strict):
    """A test on spans, or all/any/not of other conditions (exactly one shape per entry).

    A test reads one attribute of the span (or of its resource) or the span name; `on: any` (default) is
    true when any span of the trace passes it, `on: root` only looks at the root span. An array
    attribute passes when one of its items does.
    """

    all: list["ConditionConfig"] | None = None
    any: list["ConditionConfig"] | None = None
    not_: "ConditionConfig | None" = Field(default=None, alias="not")
    attribute: str | None = None
    span_name: bool = False
    on: Literal["any", "root"] = "any"
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    regex: str | None = None
    min: float | None = None
    max: float | None = None
    is_: bool | None = Field(default=None, alias="is")
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        groups = [name for name in ("all", "any", "not_") if getattr(self, name) is not None]
        subject = self.attribute is not None or self.span_name
        if groups:
            if len(groups) > 1 or subject:
                raise ValueError("a condition is one of: all, any, not, or a single attribute/span_name test")
            return self
        if self.attribute is not None and self.span_name:
            raise ValueError("a test reads either an attribute or the span name, not both")
        if not subject:
            raise ValueError("a condition needs all, any, not, attribute or span_name")
        tests = [name for name in ("equals", "in_", "regex", "is_", "exists") if getattr(self, name) is not None]
        if self.min is not None or self.max is not None:
            tests.append("min/max")
        if len(tests) != 1:
            raise ValueError("a test needs exactly one of: equals, in, regex, min/max, is, exists")
        if self.span_name and tests[0] not in ("equals", "in_", "regex"):
            raise ValueError("span_name supports equals, in and regex")
        if self.exists is False:
            raise ValueError("exists: false is not supported; write not: {attribute: ..., exists: true}")
        return self


class _PolicyConfig(Strict):
    # Unique; recorded on kept spans (failpath.sampling.policy) and in metrics.
    name: str = Field(min_length=1)
    # Only traces that satisfy it are considered by this policy.
    when: ConditionConfig | None = None


class ErrorPolicyConfig(_PolicyConfig):
    """Keep every trace with an error signal (see sampling.errors); cannot be outranked by sampling policies."""

    type: Literal["error"]


class LatencyPolicyConfig(_PolicyConfig):
    """Keep traces slower than a threshold: the root span's duration, or the whole trace's if no root came."""

    type: Literal["latency"]
    threshold: Duration
    # Per-workflow thresholds (the workflow is read by sampling.workflow_key); others use threshold.
    workflows: dict[str, Duration] = Field(default_factory=dict)
    # Also keep traces slower than this running quantile of their workflow's recent durations (e.g. 0.95).
    quantile: float | None = Field(default=None, gt=0, lt=1)
    # The quantile is used once a workflow has this many durations.
    min_samples: int = Field(default=100, ge=10)


class AttributesPolicyConfig(_PolicyConfig):
    """Keep traces that satisfy `when`."""

    type: Literal["attributes"]
    when: ConditionConfig


class DropPolicyConfig(_PolicyConfig):
    """Drop traces that satisfy `when` (evaluated before every other policy)."""

    type: Literal["drop"]
    when: ConditionConfig


class ProbabilisticPolicyConfig(_PolicyConfig):
    """Keep a fixed share, decided by the trace id's randomness (OTel consistent sampling), so every sampler
    that uses the same rule agrees on the same trace."""

    type: Literal["probabilistic"]
    percentage: float = Field(ge=0, le=100)


class DynamicPolicyConfig(_PolicyConfig):
    """Refinery's EMA throughput sampler: aim at a number of kept spans (or traces) per second, shared
    across keys so rare keys are kept and frequent keys sampled harder."""

    type: Literal["dynamic"]
    # Exactly one: spans count each span (cost control), traces count each trace once.
    goal_spans_per_second: float | None = Field(default=None, gt=0)
    goal_traces_per_second: float | None = Field(default=None, gt=0)
    # Root-span (or resource) attributes that, after the workflow, make the key.
    key_attributes: Names = ()
    adjustment_interval: Duration = Field(default=15.0, gt=0)
    # Weight of the newest interval in the moving average.
    weight: float = Field(default=0.5, gt=0, le=1)
    # Rate used before the first adjustment.
    initial_rate: int = Field(default=10, ge=1)
    # Keys beyond this are sampled at rate 1 until old ones age out.
    max_keys: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _one_goal(self) -> Self:
        if (self.goal_spans_per_second is None) == (self.goal_traces_per_second is None):
            raise ValueError("a dynamic policy needs exactly one of goal_spans_per_second, goal_traces_per_second")
        return self

    @property
    def goal(self) -> float:
        goal = self.goal_spans_per_second or self.goal_traces_per_second
        assert goal is not None
        return goal


PolicyConfig = Annotated[
    ErrorPolicyConfig
    | LatencyPolicyConfig
    | AttributesPolicyConfig
    | DropPolicyConfig
    | ProbabilisticPolicyConfig
    | DynamicPolicyConfig,
    Field(discriminator="type"),
]
SAMPLERS = (ProbabilisticPolicyConfig, DynamicPolicyConfig)


class BufferConfig(Strict):
    # Above either bound, traces are decided early (healthy ones first); see docs/architecture.md.
    max_traces: int = Field(default=50_000, ge=1)
    max_bytes: ByteSize = 256 << 20
    # A trace is decided as soon as it holds this many spans or bytes; later spans follow the decision.
    max_spans_per_trace: int = Field(default=10_000, ge=1)
    max_trace_bytes: ByteSize = 32 << 20


class DecisionCacheConfig(Strict):
    # Kept trace ids with their policy and rate, so late spans follow the decision.
    kept_traces: int = Field(default=200_000, ge=1)
    # Dropped trace ids, as 64-bit fingerprints (16 bytes each).
    dropped_traces: int = Field(default=2_000_000, ge=2)


class RegretWindowConfig(Strict):
    # Spans of dropped traces are held this long (0 turns the window off): a span with an error signal
    # arriving for such a trace brings the whole trace back, kept, forwarded and given a packet.
    duration: Duration = Field(default=30.0, ge=0)
    # Past this, the oldest held traces fall out first (counted), whatever their age.
    max_bytes: ByteSize = 64 << 20


def _default_policies() -> list[PolicyConfig]:
    return [
        ErrorPolicyConfig(name="errors", type="error"),
        LatencyPolicyConfig(name="slow", type="latency", threshold=60.0),
        AttributesPolicyConfig.model_validate(
            {
                "name": "cut-short",
                "type": "attributes",
                "when": {"attribute": "gen_ai.response.finish_reasons", "in": ["length", "content_filter"]},
            }
        ),
        AttributesPolicyConfig.model_validate(
            {"name": "escalated", "type": "attributes", "when": {"attribute": "agent.escalated", "is": True}}
        ),
        ProbabilisticPolicyConfig(name="healthy", type="probabilistic", percentage=10),
    ]


class SamplingConfig(Strict):
    enabled: bool = True
    # After the root span arrives, wait this long for stragglers, then decide.
    decision_wait: Duration = 2.0
    # Decide at the latest this long after a trace's first span, root or not.
    max_trace_wait: Duration = Field(default=300.0, gt=0)
    buffer: BufferConfig = BufferConfig()
    decision_cache: DecisionCacheConfig = DecisionCacheConfig()
    regret_window: RegretWindowConfig = RegretWindowConfig()
    # Attributes naming a trace's workflow, tried in order on the root span, then its resource; the root
    # span's name if none is set. Used by per-workflow latency thresholds and dynamic sampling.
    workflow_key: Names = ("workflow.name", "gen_ai.agent.name", "traceloop.workflow.name")
    errors: ErrorSignalsConfig = ErrorSignalsConfig()
    policies: list[PolicyConfig] = Field(default_factory=_default_policies)
    # Write failpath.sampling.policy, .rate and .trigger on every kept span.
    span_attributes: bool = True

    @model_validator(mode="after")
    def _policies_make_sense(self) -> Self:
        names = [policy.name for policy in self.policies]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"policy names must be unique: {', '.join(duplicates)}")
        errors = [index for index, policy in enumerate(self.policies) if isinstance(policy, ErrorPolicyConfig)]
        if len(errors) > 1:
            raise ValueError("at most one error policy")
        first_sampler = next(
            (index for index, policy in enumerate(self.policies) if isinstance(policy, SAMPLERS)), None
        )
        if errors and first_sampler is not None and errors[0] > first_sampler:
            raise ValueError(
                f"the error policy {names[errors[0]]!r} must come before sampling policy "
                f"{names[first_sampler]!r}: error traces are never sampled away"
            )
        for index, policy in enumerate(self.policies[:-1]):
            if isinstance(policy, SAMPLERS) and policy.when is None:
                later = [p.name for p in self.policies[index + 1 :] if not isinstance(p, DropPolicyConfig)]
                if later:
                    raise ValueError(
                        f"policy {policy.name!r} decides every trace that reaches it, so "
                        f"{', '.join(repr(name) for name in later)} would never apply; move them before it"
                    )
        return self
