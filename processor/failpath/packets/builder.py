"""Assembles the replay packet of a failed (or escalated) run from its redacted, normalised spans.

The packet covers the failing branch: the steps that started before the failing step ended (the path
from the root to it and the earlier steps it depended on), and later attempts of a failing tool; other
later steps are only counted. It holds
references, counts, keyed hashes and summaries (everything already went through redaction), never
documents' contents. Over the size cap it is trimmed in a fixed order, recorded in `trimmed`:
  1. tool results, model outputs, verifier reason and task summary cut to 80 characters;
  2. model calls: the first 3 and the last 3 kept;
  3. retrieved documents: the 5 best of each retrieval kept;
  4. tool events: those on the failing branch and the last 5 kept;
  5. steps: the first 5 and the 10 before the failure kept;
  6. evidence: the first 3 lines kept; tool result summaries dropped, argument keys cut to 5;
  7. tool events and retrieval references: the last 5 kept; every string cut to 200 characters.
"""

import json
from collections.abc import Callable
from typing import Any

from failpath.agents.normalize import Run, Step
from failpath.consumer import DecidedTrace
from failpath.diagnosis.blame import Diagnosis
from failpath.otlp.timestamps import iso_time

PACKET_VERSION = 2
_SUMMARY_CHARS = 280
_TASK_KEYS = (
    "task.summary",
    "agent.task",
    "input.value",
    "gen_ai.input.messages",
    "traceloop.entity.input",
    "gen_ai.prompt",
)
_RUN_ID_KEYS = ("run.id", "agent.run_id", "gen_ai.conversation.id", "session.id")
_ACTOR_KEYS = ("enduser.id", "user.id", "gen_ai.agent.name", "service.name")
_ATTEMPT_KEYS = ("run.attempt", "agent.attempt", "retry.attempt")


def _cut(text: str | None, limit: int = _SUMMARY_CHARS) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(step: Step | None, keys: tuple[str, ...], resource: dict[str, object] | None = None) -> str | None:
    for source in (step.attributes if step else {}, resource or {}):
        for key in keys:
            value = source.get(key)
            if value not in (None, ""):
                return str(value)
    return None


def _step_status(step: Step) -> str:
    return "error" if step.error() else "ok"


class PacketBuilder:
    def __init__(self, max_bytes: int, max_text_chars: int) -> None:
        self._max_bytes = max_bytes
        self._text_chars = max_text_chars

    def build(self, run: Run, verdict: Diagnosis, decided: DecidedTrace, next_action: str) -> dict[str, Any]:
        root = run.root
        failing = verdict.failing
        end_of_branch = _end_of_branch(verdict)
        on_branch = [
            step
            for step in run.steps
            if step.role not in ("run", "other") and (end_of_branch is None or step.start_ns <= end_of_branch)
        ]
        later = sum(1 for step in run.steps if step.role not in ("run", "other")) - len(on_branch)
        # Later attempts of the failing tool belong with it.
        retries = [
            step
            for step in run.steps
            if failing is not None
            and failing.tool
            and step.role == "tool"
            and step.tool == failing.tool
            and step.start_ns > (end_of_branch or 0)
        ]
        start_ns = min((step.start_ns for step in run.steps), default=0)
        end_ns = max((step.end_ns for step in run.steps), default=0)
        if root is not None:
            start_ns, end_ns = root.start_ns, root.end_ns
        models = [step for step in on_branch if step.role == "model"]
        selected = next((step for step in reversed(models) if step.response_model or step.request_model), None)
        model = (selected.response_model or selected.request_model) if selected else None
        # The route: the run's own, else the last router's on the branch.
        routing = [step for step in ([root] if root else []) + on_branch[::-1] if step.role in ("run", "router")]
        route = next((step.facts for step in routing if step.facts.route_lane or step.facts.route_model), None)
        budget = next(
            (step.facts.token_budget for step in [*([root] if root else []), *run.steps] if step.facts.token_budget),
            None,
        )
        attempt = _first(root, _ATTEMPT_KEYS, run.resource)
        # The design's fields first: what a person reads before anything else.
        return {
            "packet_version": PACKET_VERSION,
            "trace_id": run.trace_id,
            "workflow": run.workflow,
            "selected_model": model,
            "task_summary": _cut(_first(root, _TASK_KEYS)) or (root.name if root else None),
            "retrieval_refs": [
                {
                    "span_id": step.span_id,
                    "name": step.name,
                    "count": step.document_count,
                    "documents": [_document(doc) for doc in (step.facts.documents or [])],
                }
                for step in on_branch
                if step.role == "retriever" and (step.facts.documents is not None or step.document_count is not None)
            ],
            "tool_events": [
                _tool_event(step, verdict, self._text_chars)
                for step in [*(s for s in on_branch if s.role == "tool"), *retries]
            ],
            "verifier": _verifier(on_branch),
            "failure_bucket": verdict.bucket,
            "next_action": next_action,
            "run": {
                "run_id": _first(root, _RUN_ID_KEYS),
                "workflow": run.workflow,
                "actor": _first(root, _ACTOR_KEYS, run.resource),
                "service": _first(None, ("service.name",), run.resource),
                "attempt": int(attempt) if attempt and attempt.isdigit() else None,
            },
            "started_at": iso_time(start_ns),
            "duration_ms": round(max(0, end_ns - start_ns) / 1e6, 3),
            "decision": {
                "policy": decided.decision.policy,
                "trigger": decided.decision.trigger,
                "error_signal": decided.decision.error,
            },
            "model_selection": {
                "model": model,
                "requested_model": selected.request_model if selected else None,
                "provider": selected.facts.provider if selected else None,
                "lane": (selected.facts.model_lane if selected else None) or (route.route_lane if route else None),
                "route": (route.route_lane or route.route_model) if route else None,
                "risk": route.route_risk if route else None,
                "escalation_required": route.escalation_required if route else None,
                "escalated": route.escalated if route else None,
            },
            "tokens": {
                "input": sum(step.facts.input_tokens or 0 for step in models),
                "output": sum(step.facts.output_tokens or 0 for step in models),
                "budget": budget,
            },
            "model_calls": [
                {
                    "span_id": step.span_id,
                    "model": step.response_model or step.request_model,
                    "input_tokens": step.facts.input_tokens,
                    "output_tokens": step.facts.output_tokens,
                    "finish_reasons": step.facts.finish_reasons,
                    "lane": step.facts.model_lane,
                    "cache_hit": step.facts.cache_hit,
                    "rate_limited": step.facts.rate_limited,
                    "duration_ms": round(step.duration_ms, 3),
                    "status": _step_status(step),
                    "output_summary": _cut(step.facts.result_summary, self._text_chars),
                }
                for step in models
            ],
            "steps": [
                {
                    "index": index,
                    "role": step.role,
                    "label": step.label,
                    "name": step.name,
                    "span_id": step.span_id,
                    "parent_span_id": step.parent_id,
                    "status": _step_status(step),
                    "start_offset_ms": round(max(0, step.start_ns - start_ns) / 1e6, 3),
                    "duration_ms": round(step.duration_ms, 3),
                    "on_failing_path": step.span_id in verdict.path,
                }
                for index, step in enumerate(on_branch)
            ],
            "steps_after_failure": later,
            "failing_span": _failing(verdict),
            "bucket": {
                "rule": verdict.rule.name if verdict.rule else None,
                "description": verdict.rule.description if verdict.rule else "no bucket rule had evidence",
                "first_check": verdict.rule.first_check if verdict.rule else None,
                "avoid": verdict.rule.avoid if verdict.rule else None,
            },
            "diagnosis": _diagnosis(verdict),
            "evidence": verdict.evidence,
            "related_attempts": [],
            "trimmed": [],
        }

    def fit(self, packet: dict[str, Any]) -> bytes:
        """The packet as JSON within the size cap, trimmed in the documented order if needed."""
        encoded = _encode(packet)
        for name, trim in _TRIMS:
            if len(encoded) <= self._max_bytes:
                break
            trim(packet)
            packet["trimmed"].append(name)
            encoded = _encode(packet)
        return encoded


def _encode(packet: dict[str, Any]) -> bytes:
    return json.dumps(packet, ensure_ascii=False, separators=(",", ":")).encode()


def _document(doc: dict[str, object]) -> dict[str, object]:
    score = doc.get("score")
    return {
        "id": doc.get("id"),
        "score": float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
    }


def _tool_event(step: Step, verdict: Diagnosis, text_chars: int) -> dict[str, Any]:
    return {
        "span_id": step.span_id,
        "tool": step.tool,
        "argument_keys": step.facts.argument_keys,
        "success": step.facts.tool_success if step.facts.tool_success is not None else not step.error(),
        "exit_code": step.facts.exit_code,
        "error_type": step.facts.error_type,
        "duration_ms": round(step.duration_ms, 3),
        "retry_count": step.facts.retry_count,
        "timed_out": step.facts.timed_out,
        "timeout_class": step.facts.timeout_class,
        "cache_hit": step.facts.cache_hit,
        "result_summary": _cut(step.facts.result_summary, text_chars),
        "on_failing_path": step.span_id in verdict.path,
    }


def _verifier(steps: list[Step]) -> dict[str, Any] | None:
    verifiers = [step for step in steps if step.role == "verifier" or step.verifier_passed is not None]
    if not verifiers:
        return None
    last = verifiers[-1]
    return {
        "span_id": last.span_id,
        "name": last.name,
        "passed": last.verifier_passed,
        "reason": _cut(last.facts.verdict_reason),
    }


def _failing(verdict: Diagnosis) -> dict[str, Any] | None:
    step, cause = verdict.failing, verdict.errored
    if step is None:
        return None
    return {
        "span_id": step.span_id,
        "name": step.name,
        "role": step.role,
        "label": step.label,
        "error": (cause or step).error(),
        "errored_span_id": cause.span_id if cause else None,
        "status_message": (cause or step).status_message or None,
    }


def _end_of_branch(verdict: Diagnosis) -> int | None:
    """Where the failing branch ends: where the failure showed (a rejection, a limit), or the blamed step's
    end; None (the whole run) when the run itself is where it showed."""
    showed = verdict.showed or verdict.cause
    if showed is None or showed.step.role == "run" or verdict.failing is None:
        return None
    return int(max(showed.step.end_ns, verdict.failing.end_ns))


def _diagnosis(verdict: Diagnosis) -> dict[str, Any]:
    cause, runner = verdict.cause, verdict.runner_up
    return {
        "confidence": verdict.confidence,
        "cause": {"finding": cause.name, "span_id": cause.step.span_id, "label": cause.step.label} if cause else None,
        "runner_up": {"bucket": runner.bucket, "evidence": runner.evidence, "why_not": runner.why_not}
        if runner
        else None,
        "findings": [
            {"finding": f.name, "span_id": f.step.span_id, "recovered": f.recovered_by is not None}
            for f in verdict.findings
        ],
    }


def _trim_texts(packet: dict[str, Any]) -> None:
    for event in packet["tool_events"]:
        event["result_summary"] = _cut(event["result_summary"], 80)
    for call in packet["model_calls"]:
        call["output_summary"] = _cut(call["output_summary"], 80)
    if packet["verifier"]:
        packet["verifier"]["reason"] = _cut(packet["verifier"]["reason"], 80)
    packet["task_summary"] = _cut(packet["task_summary"], 80)


def _trim_models(packet: dict[str, Any]) -> None:
    calls = packet["model_calls"]
    if len(calls) > 6:
        packet["model_calls"] = calls[:3] + calls[-3:]


def _trim_documents(packet: dict[str, Any]) -> None:
    for ref in packet["retrieval_refs"]:
        ref["documents"] = sorted(ref["documents"], key=lambda doc: -(doc["score"] or 0))[:5]


def _trim_tools(packet: dict[str, Any]) -> None:
    events = packet["tool_events"]
    packet["tool_events"] = [e for i, e in enumerate(events) if e["on_failing_path"] or i >= len(events) - 5]


def _trim_steps(packet: dict[str, Any]) -> None:
    steps = packet["steps"]
    if len(steps) > 15:
        packet["steps"] = steps[:5] + steps[-10:]


def _trim_evidence(packet: dict[str, Any]) -> None:
    packet["evidence"] = packet["evidence"][:3]
    for event in packet["tool_events"]:
        event["result_summary"] = None
        event["argument_keys"] = event["argument_keys"][:5]


def _cut_strings(node: Any) -> Any:
    if isinstance(node, str):
        return _cut(node, 200)
    if isinstance(node, list):
        return [_cut_strings(item) for item in node]
    if isinstance(node, dict):
        return {key: _cut_strings(value) for key, value in node.items()}
    return node


def _trim_rest(packet: dict[str, Any]) -> None:
    packet["tool_events"] = packet["tool_events"][-5:]
    packet["retrieval_refs"] = packet["retrieval_refs"][-5:]
    packet.update(_cut_strings({key: value for key, value in packet.items() if key != "trimmed"}))


_TRIMS: tuple[tuple[str, Callable[[dict[str, Any]], None]], ...] = (
    ("texts", _trim_texts),
    ("model_calls", _trim_models),
    ("documents", _trim_documents),
    ("tool_events", _trim_tools),
    ("steps", _trim_steps),
    ("evidence", _trim_evidence),
    ("everything", _trim_rest),
)
