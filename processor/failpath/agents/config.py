"""How spans are read as agent steps: extra span-name and attribute mappings to roles."""

from typing import Literal

from pydantic import Field

from failpath.config_types import Strict
from failpath.signals.vocabulary import SignalsConfig

Role = Literal["run", "planner", "retriever", "tool", "model", "verifier", "router", "guardrail", "other"]


class NameRuleConfig(Strict):
    # Python regex searched in the span name; a named group `tool` gives the tool's name.
    pattern: str
    role: Role


class AttributeRuleConfig(Strict):
    # The span has this attribute (with this value, if set; compared as text).
    attribute: str
    equals: str | None = None
    role: Role


class AgentsConfig(Strict):
    """Your own mappings are tried before the built-in dialects (GenAI, OpenInference, OpenLLMetry, plain
    names), first match wins."""

    span_names: list[NameRuleConfig] = Field(default_factory=list)
    attributes: list[AttributeRuleConfig] = Field(default_factory=list)
    # The facts diagnosis reads (retry counts, route risk, plan steps, run outcome...): your attribute
    # names for them, and thresholds. docs/diagnosis.md lists the facts and their default attributes.
    signals: SignalsConfig = SignalsConfig()
