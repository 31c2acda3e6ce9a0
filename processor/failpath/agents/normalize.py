"""One trace's spans read into agent steps: role, tool, model, tokens, retrieved documents, verdicts,
errors, retries, in the vocabulary of every dialect (current and deprecated GenAI names, OpenInference,
OpenLLMetry, plain attributes). Runs on kept failing traces only, after redaction.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.agents.config import AgentsConfig, Role
from failpath.agents.roles import RoleReader
from failpath.agents.workflow import workflow_name
from failpath.otlp.values import python_value
from failpath.sampling.config import SamplingConfig

_STATUS_ERROR = 2
_INDEXED_DOCUMENT = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(id|score)$")
_PASSING_LABELS = frozenset({"pass", "passed", "correct", "true", "ok", "success"})


def attributes_of(items: Iterable[Any]) -> dict[str, object]:
    return {kv.key: python_value(kv.value) for kv in items}


def _first(attributes: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        value = attributes.get(key)
        if value not in (None, "", ()):
            return value
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


@dataclass
class Step:
    """One span, normalised."""

    span_id: str
    parent_id: str | None
    name: str
    role: Role
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    events: list[tuple[str, dict[str, object]]]
    status_error: bool = False
    status_message: str = ""
    tool: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reasons: list[str] = field(default_factory=list)
    # Retrieved documents as {"id", "score"} (never contents); None when the span does not say.
    documents: list[dict[str, object]] | None = None
    document_count: int | None = None
    verifier_passed: bool | None = None
    verifier_reason: str | None = None
    exit_code: int | None = None
    tool_success: bool | None = None
    error_type: str | None = None
    retry_count: int | None = None
    argument_keys: list[str] = field(default_factory=list)
    # A tool's result or a model's output as redaction left it: the content where the config keeps it,
    # else its summary (<summary:chars=N:hmac=...>).
    result_summary: str | None = None

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def label(self) -> str:
        """planner, retriever, tool:pytest, model:gpt-4.1 ..."""
        if self.role == "tool" and self.tool:
            return f"tool:{self.tool}"
        return self.role

    def error(self) -> str | None:
        """Why this span counts as failed, or None."""
        reasons = []
        if self.status_error:
            reasons.append(f"status ERROR{': ' + self.status_message if self.status_message else ''}")
        if self.attributes.get("error.type"):
            reasons.append(f"error.type={self.error_type}")
        if self.exit_code not in (None, 0):
            reasons.append(f"exit code {self.exit_code}")
        if self.tool_success is False:
            reasons.append("tool reported success=false")
        if self.verifier_passed is False:
            reasons.append(f"verifier failed{': ' + self.verifier_reason if self.verifier_reason else ''}")
        for name, attributes in self.events:
            if name in ("exception", "gen_ai.client.operation.exception"):
                kind = attributes.get("exception.type")
                reasons.append(f"exception {kind}" if kind else "exception")
        return "; ".join(reasons) or None


@dataclass
class Run:
    trace_id: str
    steps: list[Step]
    root: Step | None
    resource: dict[str, object]
    workflow: str

    def by_id(self) -> dict[str, Step]:
        return {step.span_id: step for step in self.steps}


class Normalizer:
    def __init__(self, config: AgentsConfig, sampling: SamplingConfig) -> None:
        """The workflow key and what counts as a failing verdict are the sampler's, so both agree."""
        self._roles = RoleReader(config)
        self._workflow_key = sampling.workflow_key
        self._failing = frozenset(label.lower() for label in sampling.errors.failing_labels)

    def run(self, request: ExportTraceServiceRequest) -> Run:
        steps: list[Step] = []
        resource: dict[str, object] = {}
        trace_id = ""
        for resource_spans in request.resource_spans:
            resource_attributes = attributes_of(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    trace_id = span.trace_id.hex()
                    step = self._step(span)
                    if step.role == "run" or not resource:
                        resource = resource_attributes
                    steps.append(step)
        steps.sort(key=lambda step: (step.start_ns, step.end_ns))
        root = next((step for step in steps if step.role == "run"), None)
        workflow = workflow_name(
            self._workflow_key,
            (root.attributes if root else {}, resource),
            root.name if root else "(no root span)",
        )
        return Run(trace_id, steps, root, resource, workflow)

    def _step(self, span: Any) -> Step:
        attributes = attributes_of(span.attributes)
        events = [(event.name, attributes_of(event.attributes)) for event in span.events]
        root = not span.parent_span_id
        role, named_tool = self._roles.role(span.name, attributes, root)
        step = Step(
            span_id=span.span_id.hex(),
            parent_id=span.parent_span_id.hex() or None,
            name=span.name,
            role=role,
            start_ns=span.start_time_unix_nano,
            end_ns=span.end_time_unix_nano,
            attributes=attributes,
            events=events,
            status_error=span.status.code == _STATUS_ERROR,
            status_message=span.status.message,
        )
        a = attributes
        step.tool = _text(_first(a, "gen_ai.tool.name", "tool.name")) or named_tool
        if step.tool is None and role == "tool":
            step.tool = _text(a.get("traceloop.entity.name"))
        if step.tool is None and role == "tool":
            step.tool = span.name.removeprefix("execute_tool").strip() or None
        step.request_model = _text(_first(a, "gen_ai.request.model", "llm.request.model", "llm.model_name"))
        step.response_model = _text(_first(a, "gen_ai.response.model", "llm.response.model"))
        step.provider = _text(_first(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"))
        step.input_tokens = _int(
            _first(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
        )
        step.output_tokens = _int(
            _first(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
        )
        reasons = _first(
            a, "gen_ai.response.finish_reasons", "llm.response.finish_reason", "gen_ai.response.finish_reason"
        )
        step.finish_reasons = (
            [str(r) for r in reasons] if isinstance(reasons, tuple) else ([str(reasons)] if reasons else [])
        )
        step.documents, step.document_count = _documents(a)
        step.verifier_passed, step.verifier_reason = _verdict(a, events, role, self._failing)
        step.exit_code = _int(_first(a, "process.exit.code", "tool.exit_code"))
        step.tool_success = _flag(_first(a, "tool.success", "gen_ai.tool.call.success"))
        step.error_type = _text(_first(a, "error.type"))
        if step.error_type is None:
            step.error_type = next(
                (_text(attrs.get("exception.type")) for name, attrs in events if name == "exception"), None
            )
        step.retry_count = _int(_first(a, "agent.retry_count", "retry.count", "gen_ai.tool.call.retry_count"))
        if role == "tool":
            step.argument_keys = _argument_keys(
                _first(a, "gen_ai.tool.call.arguments", "tool.arguments", "input.value")
            )
            step.result_summary = _text(_first(a, "gen_ai.tool.call.result", "tool.result", "output.value"))
        return step


def _documents(a: Mapping[str, object]) -> tuple[list[dict[str, object]] | None, int | None]:
    """Document ids and scores, from GenAI (`gen_ai.retrieval.documents`: JSON or a list), OpenInference
    (`retrieval.documents.N.document.id/score`) or plain (`retrieval.documents` ids + `retrieval.scores`)."""
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
        match = _INDEXED_DOCUMENT.match(key)
        if match:
            indexed.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if indexed:
        documents = [{"id": _text(doc.get("id")), "score": doc.get("score")} for _, doc in sorted(indexed.items())]
    plain_ids = a.get("retrieval.documents")
    if documents is None and isinstance(plain_ids, tuple):
        scores = a.get("retrieval.scores")
        score_list = scores if isinstance(scores, tuple) else ()
        documents = [
            {"id": str(doc), "score": score_list[index] if index < len(score_list) else None}
            for index, doc in enumerate(plain_ids)
        ]
    count = _int(_first(a, "retrieval.documents.count", "retrieval.document_count", "gen_ai.retrieval.documents.count"))
    if count is None and documents is not None:
        count = len(documents)
    return documents, count


def _verdict(
    a: Mapping[str, object], events: list[tuple[str, dict[str, object]]], role: Role, failing: frozenset[str]
) -> tuple[bool | None, str | None]:
    passed = _flag(a.get("verifier.passed"))
    reason = _text(_first(a, "verifier.reason", "gen_ai.evaluation.explanation"))
    labels: list[object] = []
    if role == "verifier":
        labels += [a.get("metadata.label"), a.get("eval.label"), a.get("gen_ai.evaluation.score.label")]
    for name, attributes in events:
        if name == "gen_ai.evaluation.result":
            labels.append(attributes.get("gen_ai.evaluation.score.label"))
            reason = reason or _text(attributes.get("gen_ai.evaluation.explanation"))
    for label in labels:
        if passed is None and isinstance(label, str):
            if label.lower() in failing:
                passed = False
            elif label.lower() in _PASSING_LABELS:
                passed = True
    return passed, reason


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
