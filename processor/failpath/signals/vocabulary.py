"""The facts failpath's diagnosis reads from spans, and the attributes each is read from.

Every fact has documented attribute names that failpath reads by default (its own `agent.*` vocabulary
first, then the names instrumentations already use); `agents.signals` in the config puts an
application's own attribute names (or a key inside a JSON-valued attribute) in front of them. Also here:
how the limit errors of agent frameworks read ("Max turns exceeded", "Recursion limit of 25 reached"...),
since those are signals too.
"""

import json
import re
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import Field, field_validator

from failpath.config_types import Strict

Fact = Literal[
    # What kind of step a span is: planner, retriever, tool, model, verifier, router, guardrail.
    "step.kind",
    # The run: its id, which attempt, who ran it; how it ended (success, failure, ...), the limit that
    # stopped it, a user's feedback.
    "run.id",
    "run.attempt",
    "run.actor",
    "run.outcome",
    "run.limit",
    "run.feedback",
    # The task: what it asked, the steps it may take, its token budget.
    "task.summary",
    "task.allowed_steps",
    "task.token_budget",
    # Retrieval: how many documents came back, and their scores (ids and scores are read from the
    # dialects' document attributes and events as well).
    "retrieval.count",
    "retrieval.scores",
    # Tools: whether the call succeeded, timed out, its timeout class, which attempt it was.
    "tool.success",
    "tool.timed_out",
    "tool.timeout_class",
    "step.retry_count",
    "http.status",
    # Models: the output token cap and the lane.
    "model.max_tokens",
    "model.lane",
    "cache.hit",
    # Planning: the plan's revision and its steps.
    "plan.revision",
    "plan.steps",
    # Routing: lane, model, the task's risk, whether escalation was required and taken.
    "route.lane",
    "route.model",
    "route.risk",
    "route.escalation_required",
    "route.escalated",
    # Verifiers, evaluators, guardrails: the verdict, a score, the reason.
    "verdict.passed",
    "verdict.score",
    "verdict.reason",
]
FACTS: tuple[str, ...] = get_args(Fact)


class JsonKeyConfig(Strict):
    """A fact held under a key of a JSON object stored in an attribute (OpenInference `metadata`,
    `llm.invocation_parameters`, an application's own JSON attribute). Dotted keys descend."""

    attribute: str = Field(min_length=1)
    json_key: str = Field(min_length=1)


Source = str | JsonKeyConfig

# failpath's own vocabulary first, then what instrumentations already write.
DEFAULT_SOURCES: dict[str, tuple[Source, ...]] = {
    "step.kind": ("agent.step.kind",),
    "run.id": ("run.id", "agent.run_id", "gen_ai.conversation.id", "session.id"),
    "run.attempt": ("run.attempt", "agent.attempt", "retry.attempt"),
    "run.actor": ("enduser.id", "user.id", "gen_ai.agent.name", "service.name"),
    "run.outcome": ("agent.run.outcome", "run.outcome"),
    "run.limit": ("agent.run.limit",),
    "run.feedback": ("agent.feedback", "user.feedback"),
    "task.summary": (
        "task.summary",
        "agent.task",
        "input.value",
        "gen_ai.input.messages",
        "traceloop.entity.input",
        "gen_ai.prompt",
    ),
    "task.allowed_steps": ("agent.task.allowed_steps",),
    "task.token_budget": ("agent.token_budget", "agent.task.token_budget"),
    "retrieval.count": (
        "retrieval.documents.count",
        "agent.retrieval.count",
        "retrieval.document_count",
        "gen_ai.retrieval.documents.count",
    ),
    "retrieval.scores": ("retrieval.scores", "agent.retrieval.scores"),
    "tool.success": ("tool.success", "gen_ai.tool.call.success"),
    "tool.timed_out": ("agent.tool.timed_out", "tool.timed_out"),
    "tool.timeout_class": ("agent.tool.timeout_class",),
    "step.retry_count": ("agent.retry_count", "retry.count", "gen_ai.tool.call.retry_count"),
    "http.status": ("http.response.status_code", "http.status_code"),
    "model.max_tokens": (
        "gen_ai.request.max_tokens",
        "llm.request.max_tokens",
        JsonKeyConfig(attribute="llm.invocation_parameters", json_key="max_tokens"),
        JsonKeyConfig(attribute="llm.invocation_parameters", json_key="max_completion_tokens"),
    ),
    "model.lane": ("agent.model.lane",),
    "cache.hit": ("agent.cache.hit",),
    "plan.revision": ("agent.plan.revision",),
    "plan.steps": ("agent.plan.steps",),
    "route.lane": ("agent.route.lane", "router.lane", "route.lane"),
    "route.model": ("agent.route.model", "router.selected_model", "route.selected"),
    "route.risk": ("agent.route.risk", "router.risk"),
    "route.escalation_required": ("agent.route.escalation_required",),
    "route.escalated": ("agent.route.escalated", "agent.escalated"),
    "verdict.passed": ("verifier.passed", "guardrail.passed"),
    "verdict.score": ("verifier.score", "eval.score"),
    "verdict.reason": ("verifier.reason", "gen_ai.evaluation.explanation"),
}


class SignalsConfig(Strict):
    """Your attribute names for the facts, tried before failpath's defaults (docs/diagnosis.md lists the
    facts). Each fact takes attribute names, or {attribute, json_key} for a key inside a JSON attribute."""

    # e.g. {"route.risk": ["acme.risk_level"], "run.outcome": [{"attribute": "acme.result", "json_key": "status"}]}
    facts: dict[str, list[Source]] = Field(default_factory=dict)
    # Retrieved documents that all score below this count as a retrieval that found nothing useful.
    low_retrieval_score: float = Field(default=0.35, ge=0.0)
    # A plan with more steps than this (or more than three times the task's allowed steps) has exploded.
    max_plan_steps: int = Field(default=15, ge=1)
    # The same tool called this many times in a row is a loop.
    repeated_calls: int = Field(default=5, ge=2)

    @field_validator("facts")
    @classmethod
    def _known(cls, facts: dict[str, list[Source]]) -> dict[str, list[Source]]:
        unknown = sorted(set(facts) - set(FACTS))
        if unknown:
            raise ValueError(f"unknown fact(s) {', '.join(unknown)}; known: {', '.join(FACTS)}")
        return facts


class FactReader:
    """Reads facts from a span's attributes: your sources first, then the defaults (unless defaults=False)."""

    def __init__(self, config: SignalsConfig, defaults: bool = True) -> None:
        self._sources = {
            fact: (*config.facts.get(fact, ()), *(DEFAULT_SOURCES.get(fact, ()) if defaults else ())) for fact in FACTS
        }
        # Which facts each attribute key may give, so a span meets the whole vocabulary in one set lookup.
        self._facts_by_key: dict[str, list[str]] = {}
        for fact, sources in self._sources.items():
            for source in sources:
                facts = self._facts_by_key.setdefault(source if isinstance(source, str) else source.attribute, [])
                if fact not in facts:
                    facts.append(fact)
        self._keys = frozenset(self._facts_by_key)

    def attributes(self, fact: str) -> frozenset[str]:
        """The attribute keys a fact may be read from."""
        return frozenset(source if isinstance(source, str) else source.attribute for source in self._sources[fact])

    def read(self, attributes: Mapping[str, object]) -> dict[str, object]:
        """Every fact the attributes give, by name (a fact they do not give is absent)."""
        found: dict[str, object] = {}
        for key in self._keys.intersection(attributes):
            for fact in self._facts_by_key[key]:
                if fact not in found:
                    found[fact] = self.get(fact, attributes)
        return {fact: value for fact, value in found.items() if value is not None}

    def get(self, fact: str, attributes: Mapping[str, object]) -> object:
        for source in self._sources[fact]:
            value = attributes.get(source) if isinstance(source, str) else _json_key(attributes, source)
            if value not in (None, "", ()):
                return value
        return None


def _json_key(attributes: Mapping[str, object], source: JsonKeyConfig) -> object:
    raw = attributes.get(source.attribute)
    if not isinstance(raw, str) or not raw.startswith("{"):
        return None
    try:
        value: object = json.loads(raw)
    except ValueError:
        return None
    for part in source.json_key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return tuple(value) if isinstance(value, list) else value


_FAILED_OUTCOMES = frozenset({"failure", "failed", "fail", "error", "aborted", "incorrect", "unsuccessful"})
_NEGATIVE = frozenset({"negative", "thumbs_down", "thumbsdown", "bad", "down", "-1", "dislike", "unhelpful"})
# The GenAI evaluation event that carries a user's feedback rather than a check's verdict.
FEEDBACK_EVALUATION = "user_feedback"


def outcome_failed(value: object) -> bool | None:
    """Whether a run outcome value says the run failed (None when there is no outcome)."""
    return None if value is None else str(value).lower() in _FAILED_OUTCOMES


def feedback_negative(value: object) -> bool | None:
    """Whether a feedback value is negative: a word (negative, thumbs_down...) or a number <= 0."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value <= 0
    return str(value).lower() in _NEGATIVE


# How frameworks word the limits that stop a run (from their source; docs/diagnosis.md has the list).
LIMIT_ERRORS: dict[str, re.Pattern[str]] = {
    "turns": re.compile(r"max(?:imum)?[ _]turns|MaxTurnsExceeded", re.IGNORECASE),
    "recursion": re.compile(r"recursion limit|GraphRecursionError", re.IGNORECASE),
    "steps": re.compile(
        r"max(?:imum)?[ _]?(?:steps|iterations?)|AgentMaxStepsError|need more steps|max_iter"
        r"|maximum number of messages",
        re.IGNORECASE,
    ),
    "requests": re.compile(r"request_limit|max(?:imum)? number of llm calls|LlmCallsLimitExceeded", re.IGNORECASE),
    "tokens": re.compile(
        r"(?:total|input|output|response)_tokens_limit|token usage limit|token[_ ]budget|budget exceeded",
        re.IGNORECASE,
    ),
    "context": re.compile(
        r"context[_ ]length|maximum context|context window|prompt is too long|too many tokens", re.IGNORECASE
    ),
}
# Finish reasons that mean a model was cut off by its output limit.
CUT_OFF = frozenset({"length", "max_tokens", "max_output_tokens"})
TIMEOUT = re.compile(r"time[d ]?out|timeout|deadline exceeded", re.IGNORECASE)
RATE_LIMITED = re.compile(r"\b429\b|rate[ _-]?limit|too many requests|RateLimitError", re.IGNORECASE)


def limit_of(text: str) -> str | None:
    """Which limit an error text says stopped the run, if any."""
    for limit, pattern in LIMIT_ERRORS.items():
        if pattern.search(text):
            return limit
    return None
