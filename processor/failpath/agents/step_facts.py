"""What one step says about itself, read from its attributes and events in every dialect: its tool, model
and tokens, retrieved documents and their scores, verdict, exit code, HTTP status, timeout, retry, plan,
route, the run's outcome, feedback and limits. Absent facts stay None: diagnosis never guesses a value.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from failpath.agents.config import Role
from failpath.otlp.values import python_value
from failpath.signals.errors import ErrorReader
from failpath.signals.vocabulary import (
    FEEDBACK_EVALUATION,
    RATE_LIMITED,
    TIMEOUT,
    feedback_negative,
    limit_of,
    outcome_failed,
)

_INDEXED_DOCUMENT = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(\w+)$")
_PASSING_LABELS = frozenset({"pass", "passed", "correct", "true", "ok", "success", "approved", "allow", "allowed"})


def attributes_of(items: Iterable[Any]) -> dict[str, object]:
    return {kv.key: python_value(kv.value) for kv in items}


def _first(attributes: Mapping[str, object], keys: tuple[str, ...]) -> object:
    for key in keys:
        value = attributes.get(key)
        if value not in (None, "", ()):
            return value
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _flag(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _items(value: object) -> list[str] | None:
    """A list of names or numbers as text: a list attribute, a JSON list, or comma-separated text."""
    if isinstance(value, tuple | list):
        return [str(item) for item in value]
    if isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            return [str(item) for item in parsed] if isinstance(parsed, list) else None
        return [part.strip() for part in value.split(",") if part.strip()]
    return None


@dataclass(slots=True)  # read for every span of a failing run: slots make creating and filling it cheaper
class StepFacts:
    tool: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    max_tokens: int | None = None
    finish_reasons: list[str] = field(default_factory=list)
    # Retrieved documents as {"id", "score"} (never contents); None when the span does not say.
    documents: list[dict[str, object]] | None = None
    document_count: int | None = None
    verdict_passed: bool | None = None
    verdict_score: float | None = None
    verdict_reason: str | None = None
    exit_code: int | None = None
    tool_success: bool | None = None
    http_status: int | None = None
    timed_out: bool = False
    timeout_class: str | None = None
    rate_limited: bool = False
    error_type: str | None = None
    # Every error text the span carries (exception types and messages, status message), for limit patterns.
    error_texts: list[str] = field(default_factory=list)
    retry_count: int | None = None
    plan_revision: int | None = None
    plan_steps: list[str] | None = None
    model_lane: str | None = None
    cache_hit: bool | None = None
    route_lane: str | None = None
    route_model: str | None = None
    route_risk: str | None = None
    escalation_required: bool | None = None
    escalated: bool | None = None
    # Run-level facts (read on any step, usually the root): outcome, feedback, allowed steps, budget, limit.
    outcome_failed: bool | None = None
    feedback_negative: bool | None = None
    allowed_steps: list[str] | None = None
    token_budget: int | None = None
    limit: str | None = None
    argument_keys: list[str] = field(default_factory=list)
    # A tool's result or a model's output as redaction left it: the content where the config keeps it,
    # else its summary (<summary:chars=N:hmac=...>).
    result_summary: str | None = None

    @property
    def scores(self) -> list[float]:
        return [score for doc in self.documents or () if (score := _number(doc.get("score"))) is not None]

    @classmethod
    def read(
        cls,
        facts: Mapping[str, object],
        name: str,
        role: Role,
        named_tool: str | None,
        a: Mapping[str, object],
        events: list[tuple[str, dict[str, object]]],
        status_message: str,
        errors: ErrorReader,
    ) -> "StepFacts":
        # Read for every span of every failing run: a fact or attribute a span does not carry costs nothing
        # beyond a lookup (every converter maps an absent value to the field's default).
        step = cls()
        step.tool = _text(_first(a, _TOOL_KEYS)) or named_tool
        if step.tool is None and role == "tool":
            step.tool = _text(a.get("traceloop.entity.name")) or name.removeprefix("execute_tool").strip() or None
        if not _MODEL_KEYS.isdisjoint(a):
            step.request_model = _text(_first(a, _REQUEST_MODEL_KEYS))
            step.response_model = _text(_first(a, _RESPONSE_MODEL_KEYS))
            step.provider = _text(_first(a, _PROVIDER_KEYS))
            step.input_tokens = _int(_first(a, _INPUT_TOKEN_KEYS))
            step.output_tokens = _int(_first(a, _OUTPUT_TOKEN_KEYS))
            reasons = _first(a, _FINISH_REASON_KEYS)
            step.finish_reasons = (
                [str(r) for r in reasons] if isinstance(reasons, tuple) else ([str(reasons)] if reasons else [])
            )
        for fact, value in facts.items():
            field_and_convert = _FACT_FIELDS.get(fact)
            if field_and_convert is not None and value is not None:
                setattr(step, field_and_convert[0], field_and_convert[1](value))
        if role == "retriever":  # documents on any other span are never read, and scanning for them costs
            step.documents, step.document_count = _documents(facts, a, events)
        if facts or events or role in ("verifier", "guardrail"):
            step.verdict_passed, step.verdict_reason, step.verdict_score = _verdict(facts, a, events, role, errors)
        step.exit_code = _int(_first(a, _EXIT_CODE_KEYS))
        error_type = a.get("error.type")
        step.error_type = None if error_type in (None, "", ()) else str(error_type)
        texts: list[str] = []
        if events:
            exception_types = [_text(attrs.get("exception.type")) for event, attrs in events if event == "exception"]
            if step.error_type is None:
                step.error_type = next((kind for kind in exception_types if kind), None)
            messages = [_text(attrs.get("exception.message")) for event, attrs in events if event == "exception"]
            texts = [text for text in (step.error_type, *exception_types, *messages) if text]
        elif step.error_type:
            texts = [step.error_type]
        if status_message:
            texts.append(status_message)
        step.error_texts = texts
        if texts:
            step.timed_out = step.timed_out or any(TIMEOUT.search(text) for text in texts)
            step.rate_limited = any(RATE_LIMITED.search(text) for text in texts)
            if step.limit is None:
                step.limit = next(filter(None, map(limit_of, texts)), None)
        if events or "run.feedback" in facts:
            step.feedback_negative = _feedback(facts, a, events)
        if role == "tool":
            step.argument_keys = (
                _argument_keys(_first(a, _ARGUMENT_KEYS))
                or sorted(_items(a.get("agent.tool.argument_keys")) or [])[:20]
            )
            step.result_summary = _text(_first(a, _RESULT_KEYS))
        return step


def _timed_out(value: object) -> bool:
    return _flag(value) is True


# The facts a step keeps as they are read (converted), by fact name: (field, converter).
_FACT_FIELDS: dict[str, tuple[str, Callable[[object], object]]] = {
    "model.max_tokens": ("max_tokens", _int),
    "tool.success": ("tool_success", _flag),
    "http.status": ("http_status", _int),
    "tool.timed_out": ("timed_out", _timed_out),
    "tool.timeout_class": ("timeout_class", _text),
    "step.retry_count": ("retry_count", _int),
    "model.lane": ("model_lane", _text),
    "cache.hit": ("cache_hit", _flag),
    "plan.revision": ("plan_revision", _int),
    "plan.steps": ("plan_steps", _items),
    "route.lane": ("route_lane", _text),
    "route.model": ("route_model", _text),
    "route.risk": ("route_risk", _text),
    "route.escalation_required": ("escalation_required", _flag),
    "route.escalated": ("escalated", _flag),
    "run.outcome": ("outcome_failed", outcome_failed),
    "task.allowed_steps": ("allowed_steps", _items),
    "task.token_budget": ("token_budget", _int),
    "run.limit": ("limit", str),
}
# Attributes read in every dialect, in order of preference.
_TOOL_KEYS = ("gen_ai.tool.name", "tool.name")
_REQUEST_MODEL_KEYS = ("gen_ai.request.model", "llm.request.model", "llm.model_name")
_RESPONSE_MODEL_KEYS = ("gen_ai.response.model", "llm.response.model")
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
_FINISH_REASON_KEYS = (
    "gen_ai.response.finish_reasons",
    "llm.response.finish_reason",
    "gen_ai.response.finish_reason",
    "llm.finish_reason",
)
# A span without any of these says nothing about a model call.
_MODEL_KEYS = frozenset(
    (
        *_REQUEST_MODEL_KEYS,
        *_RESPONSE_MODEL_KEYS,
        *_PROVIDER_KEYS,
        *_INPUT_TOKEN_KEYS,
        *_OUTPUT_TOKEN_KEYS,
        *_FINISH_REASON_KEYS,
    )
)
_EXIT_CODE_KEYS = ("process.exit.code", "tool.exit_code")
_ARGUMENT_KEYS = ("gen_ai.tool.call.arguments", "tool.arguments", "input.value")
_RESULT_KEYS = ("gen_ai.tool.call.result", "tool.result", "output.value")


def _documents(
    facts: Mapping[str, object], a: Mapping[str, object], events: list[tuple[str, dict[str, object]]]
) -> tuple[list[dict[str, object]] | None, int | None]:
    """Document ids and scores, from GenAI (`gen_ai.retrieval.documents`: JSON or a list), OpenInference
    (`retrieval.documents.N.document.id/score`), OpenLLMetry (`db.query.result` events) or plain
    (`retrieval.documents` ids + `retrieval.scores`)."""
    documents: list[dict[str, object]] | None = None
    raw = a.get("gen_ai.retrieval.documents")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, list | tuple):
        documents = [
            {"id": _text(item.get("id")), "score": item.get("score")} if isinstance(item, dict) else {"id": str(item)}
            for item in raw
        ]
    indexed: dict[int, dict[str, object]] = {}
    for key, value in a.items():
        match = _INDEXED_DOCUMENT.match(key) if key.startswith("retrieval.documents.") else None
        if match:
            # Any field makes a document (LangChain records content and metadata, no id or score).
            indexed.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if indexed:
        documents = [
            {"id": _text(doc.get("id")) or _metadata_id(doc.get("metadata")), "score": doc.get("score")}
            for _, doc in sorted(indexed.items())
        ]
    results = [attrs for event, attrs in events if event == "db.query.result"]
    if documents is None and results:
        documents = [
            {"id": _text(attrs.get("db.query.result.id")), "score": attrs.get("db.query.result.score")}
            for attrs in results
        ]
    # Scores alone (an application recording only how well its documents matched) make documents too.
    scores = [_number(item) for item in _items(facts.get("retrieval.scores")) or []]
    plain_ids = a.get("retrieval.documents")
    if documents is None and isinstance(plain_ids, tuple):
        documents = [
            {"id": str(doc), "score": scores[index] if index < len(scores) else None}
            for index, doc in enumerate(plain_ids)
        ]
    if documents is None and scores:
        documents = [{"id": None, "score": score} for score in scores]
    count = _int(facts.get("retrieval.count"))
    if count is None and documents is not None:
        count = len(documents)
    if count is None and _says_nothing_was_found(a):
        count, documents = 0, []
    return documents, count


def _metadata_id(metadata: object) -> str | None:
    """A document's id from its JSON metadata (LangChain documents keep it there), if it has one."""
    if not isinstance(metadata, str) or not metadata.startswith("{"):
        return None
    try:
        parsed = json.loads(metadata)
    except ValueError:
        return None
    found = parsed.get("id") or parsed.get("source") if isinstance(parsed, dict) else None
    return None if found is None else str(found)


def _says_nothing_was_found(a: Mapping[str, object]) -> bool:
    """A retrieval that reports its documents only when there are some: an OpenInference RETRIEVER span
    (LlamaIndex records nothing for zero nodes) or a vector-database query (its results are events)."""
    return a.get("openinference.span.kind") == "RETRIEVER" or "db.vector.query.top_k" in a


def _verdict(
    facts: Mapping[str, object],
    a: Mapping[str, object],
    events: list[tuple[str, dict[str, object]]],
    role: Role,
    errors: ErrorReader,
) -> tuple[bool | None, str | None, float | None]:
    passed = _flag(facts.get("verdict.passed"))
    reason = _text(facts.get("verdict.reason"))
    score = _number(facts.get("verdict.score"))
    labels: list[object] = []
    if role in ("verifier", "guardrail"):
        labels += [a.get(key) for key in errors.signals.evaluator_labels]
    for name, attributes in events:
        if name in errors.signals.verdict_events and attributes.get("gen_ai.evaluation.name") != FEEDBACK_EVALUATION:
            labels += [attributes.get(key) for key in errors.signals.verdict_event_labels]
            reason = reason or _text(attributes.get("gen_ai.evaluation.explanation"))
            score = score if score is not None else _number(attributes.get("gen_ai.evaluation.score.value"))
    for label in labels:
        if passed is None and isinstance(label, str):
            if errors.failed_label(label):
                passed = False
            elif label.lower() in _PASSING_LABELS:
                passed = True
    return passed, reason, score


def _feedback(
    facts: Mapping[str, object], a: Mapping[str, object], events: list[tuple[str, dict[str, object]]]
) -> bool | None:
    """Whether a user's feedback on the run was negative: the vocabulary's attribute, or a GenAI evaluation
    event named user_feedback."""
    value = facts.get("run.feedback")
    for name, attributes in events:
        if name == "gen_ai.evaluation.result" and attributes.get("gen_ai.evaluation.name") == FEEDBACK_EVALUATION:
            value = attributes.get("gen_ai.evaluation.score.label", attributes.get("gen_ai.evaluation.score.value"))
    return feedback_negative(value)


def _argument_keys(raw: object) -> list[str]:
    """Top-level keys of JSON tool arguments (when content is kept; a redaction summary has none)."""
    if isinstance(raw, str) and raw.startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return []
        if isinstance(parsed, dict):
            return sorted(str(key) for key in parsed)[:20]
    return []
