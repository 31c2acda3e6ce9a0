"""The sampling section of the YAML: documented defaults, and clear errors for policies that cannot work."""

from pathlib import Path

import pytest
import yaml

from failpath.agents.config import AgentsConfig
from failpath.config import ConfigError, config_warnings, load_config, parse_config
from failpath.packets.config import PacketsConfig
from failpath.sampling.config import SamplingConfig

ROOT = Path(__file__).parents[2]


def test_the_documented_sampling_packets_and_agents_sections_are_the_defaults() -> None:
    config = load_config(ROOT / "config" / "failpath.yaml")
    assert config.sampling == SamplingConfig()
    assert config.packets == PacketsConfig()
    assert config.agents == AgentsConfig()


def _policies(*policies: dict[str, object]) -> str:
    return yaml.safe_dump({"sampling": {"policies": list(policies)}})


@pytest.mark.parametrize(
    ("policies", "reason"),
    [
        (
            [
                {"name": "rest", "type": "probabilistic", "percentage": 5, "when": {"attribute": "a", "exists": True}},
                {"name": "errors", "type": "error"},
            ],
            "the error policy 'errors' must come before sampling policy 'rest'",
        ),
        (
            [
                {"name": "rest", "type": "probabilistic", "percentage": 5},
                {"name": "slow", "type": "latency", "threshold": 5},
            ],
            "policy 'rest' decides every trace that reaches it, so 'slow' would never apply",
        ),
        (
            [{"name": "a", "type": "error"}, {"name": "a", "type": "latency", "threshold": 1}],
            "policy names must be unique: a",
        ),
        ([{"name": "x", "type": "probabilistic", "percentage": 150}], "sampling.policies.0.probabilistic.percentage"),
        ([{"name": "x", "type": "sometimes"}], "sampling.policies.0: Input tag 'sometimes' found using 'type'"),
        ([{"name": "x", "type": "attributes"}], "sampling.policies.0.attributes.when: Field required"),
        (
            [{"name": "x", "type": "attributes", "when": {"attribute": "k", "equals": 1, "regex": "a"}}],
            "a test needs exactly one of: equals, in, regex, min/max, is, exists",
        ),
        (
            [{"name": "x", "type": "attributes", "when": {"all": [], "attribute": "k", "exists": True}}],
            "a condition is one of: all, any, not, or a single attribute/span_name test",
        ),
        (
            [{"name": "x", "type": "attributes", "when": {"span_name": True, "min": 3}}],
            "span_name supports equals, in and regex",
        ),
        (
            [{"name": "x", "type": "drop", "when": {"attribute": "k", "exists": False}}],
            "exists: false is not supported",
        ),
        ([{"name": "x", "type": "attributes", "when": {"attribute": "k", "equal": 1}}], "equal: unknown key"),
    ],
)
def test_policy_mistakes_are_refused_with_the_reason(policies: list[dict[str, object]], reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_policies(*policies), "sampling.yaml")
    assert reason in str(caught.value)
    assert "sampling.yaml" in str(caught.value)


def test_no_error_policy_is_allowed_but_warned_about() -> None:
    config = parse_config(_policies({"name": "rest", "type": "probabilistic", "percentage": 5}))
    assert any("no error policy" in warning for warning in config_warnings(config))


def test_dynamic_policy_needs_exactly_one_goal() -> None:
    for goal in ({}, {"goal_spans_per_second": 1, "goal_traces_per_second": 1}):
        with pytest.raises(ValueError, match="exactly one of goal_spans_per_second, goal_traces_per_second"):
            SamplingConfig.model_validate({"policies": [{"name": "d", "type": "dynamic", **goal}]})
