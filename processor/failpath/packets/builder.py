"""Assembles the replay packet of a failed (or escalated) run from its redacted, normalised spans.

The packet covers the failing branch: the steps that started before the failing step ended (the path
from the root to it and the earlier steps it depended on), and later attempts of a failing tool; other
later steps are only counted. It holds references, counts, keyed hashes and summaries (everything already
went through redaction), never documents' contents. Over the size cap it is trimmed (trimming.py).
"""

from dataclasses import dataclass

from failpath.agents.normalize import Run, Step
from failpath.consumer import DecidedTrace
from failpath.diagnosis.blame import Diagnosis
from failpath.otlp.timestamps import iso_time
from failpath.packets.packet import (
    BucketRecord,
    DiagnosisRecord,
    DocumentRef,
    FailingSpan,
    ModelCall,
    ModelSelection,
    Packet,
    RetrievalRef,
    Status,
    StepRecord,
    Tokens,
    ToolEvent,
    VerifierRecord,
)
from failpath.packets.trimming import cut, fit

PACKET_VERSION = 3
# Resource attributes that say which service and project a run belongs to (kept for a replay to land beside
# the original); nothing else of the resource goes into a packet.
IDENTITY = (
    "service.name",
    "service.namespace",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
    "openinference.project.name",
)


class PacketBuilder:
    def __init__(self, max_bytes: int, max_text_chars: int) -> None:
        self._max_bytes = max_bytes
        self._text_chars = max_text_chars

    def build(self, run: Run, verdict: Diagnosis, decided: DecidedTrace, next_action: str) -> Packet:
        branch = _branch(run, verdict)
        selection = _model_selection(run, branch)
        envelope = run.envelope
        return {
            # The design's fields first: what a person reads before anything else.
            "packet_version": PACKET_VERSION,
            "trace_id": run.trace_id,
            "workflow": run.workflow,
            "selected_model": selection["model"],
            "task_summary": cut(envelope.task) or (run.root.name if run.root else None),
            "retrieval_refs": _retrieval_refs(branch),
            "tool_events": [self._tool_event(step, verdict) for step in branch.tools],
            "verifier": _verifier(branch.steps),
            "failure_bucket": verdict.bucket,
            "next_action": next_action,
            "run": {
                "run_id": envelope.run_id,
                "workflow": run.workflow,
                "actor": envelope.actor,
                "service": envelope.service,
                "attempt": envelope.attempt,
                "resource": {key: value for key in IDENTITY if isinstance(value := run.resource.get(key), str)},
            },
            "started_at": iso_time(branch.start_ns),
            "duration_ms": round(max(0, branch.end_ns - branch.start_ns) / 1e6, 3),
            "decision": {
                "policy": decided.decision.policy,
                "trigger": decided.decision.trigger,
                "error_signal": decided.decision.error,
            },
            "model_selection": selection,
            "tokens": _tokens(run, branch),
            "model_calls": [self._model_call(step) for step in branch.models],
            "steps": _steps(branch, verdict),
            "steps_after_failure": branch.later,
            "failing_span": _failing(verdict),
            "bucket": _bucket(verdict),
            "diagnosis": _diagnosis(verdict),
            "evidence": verdict.evidence,
            "related_attempts": [],
            "trimmed": [],
        }

    def fit(self, packet: Packet) -> bytes:
        """The packet as JSON within the size cap, trimmed in the documented order if needed."""
        return fit(packet, self._max_bytes)

    def _tool_event(self, step: Step, verdict: Diagnosis) -> ToolEvent:
        facts = step.facts
        return {
            "span_id": step.span_id,
            "tool": step.tool,
            "argument_keys": facts.argument_keys,
            "success": facts.tool_success if facts.tool_success is not None else not step.error(),
            "exit_code": facts.exit_code,
            "error_type": facts.error_type,
            "duration_ms": round(step.duration_ms, 3),
            "retry_count": facts.retry_count,
            "timed_out": facts.timed_out,
            "timeout_class": facts.timeout_class,
            "cache_hit": facts.cache_hit,
            "result_summary": cut(facts.result_summary, self._text_chars),
            "on_failing_path": step.span_id in verdict.path,
        }

    def _model_call(self, step: Step) -> ModelCall:
        facts = step.facts
        return {
            "span_id": step.span_id,
            "model": step.response_model or step.request_model,
            "input_tokens": facts.input_tokens,
            "output_tokens": facts.output_tokens,
            "finish_reasons": facts.finish_reasons,
            "lane": facts.model_lane,
            "cache_hit": facts.cache_hit,
            "rate_limited": facts.rate_limited,
            "duration_ms": round(step.duration_ms, 3),
            "status": _status(step),
            "output_summary": cut(facts.result_summary, self._text_chars),
        }


@dataclass(frozen=True, slots=True)
class _Branch:
    """The part of the run a packet covers, and the run's time span."""

    # The working steps that started before the failure showed.
    steps: list[Step]
    # Later attempts of the failing tool: they belong with it.
    retries: list[Step]
    # How many other working steps came later.
    later: int
    start_ns: int
    end_ns: int

    @property
    def models(self) -> list[Step]:
        return [step for step in self.steps if step.role == "model"]

    @property
    def tools(self) -> list[Step]:
        return [*(step for step in self.steps if step.role == "tool"), *self.retries]


def _branch(run: Run, verdict: Diagnosis) -> _Branch:
    failing, end = verdict.failing, _end_of_branch(verdict)
    working = [step for step in run.steps if step.role not in ("run", "other")]
    steps = [step for step in working if end is None or step.start_ns <= end]
    retries = [
        step
        for step in run.steps
        if failing is not None
        and failing.tool
        and step.role == "tool"
        and step.tool == failing.tool
        and step.start_ns > (end or 0)
    ]
    if run.root is not None:
        start_ns, end_ns = run.root.start_ns, run.root.end_ns
    else:
        start_ns = min((step.start_ns for step in run.steps), default=0)
        end_ns = max((step.end_ns for step in run.steps), default=0)
    return _Branch(steps, retries, len(working) - len(steps), start_ns, end_ns)


def _end_of_branch(verdict: Diagnosis) -> int | None:
    """Where the failing branch ends: where the failure showed (a rejection, a limit), or the blamed step's
    end; None (the whole run) when the run itself is where it showed."""
    showed = verdict.showed or verdict.cause
    if showed is None or showed.step.role == "run" or verdict.failing is None:
        return None
    return int(max(showed.step.end_ns, verdict.failing.end_ns))


def _status(step: Step) -> Status:
    return "error" if step.error() else "ok"


def _model_selection(run: Run, branch: _Branch) -> ModelSelection:
    """The last model on the branch that named its model, and the route: the run's own, else the last
    router's on the branch."""
    selected = next((step for step in reversed(branch.models) if step.response_model or step.request_model), None)
    routing = [step for step in ([run.root] if run.root else []) + branch.steps[::-1] if step.role in ("run", "router")]
    route = next((step.facts for step in routing if step.facts.route_lane or step.facts.route_model), None)
    return {
        "model": (selected.response_model or selected.request_model) if selected else None,
        "requested_model": selected.request_model if selected else None,
        "provider": selected.facts.provider if selected else None,
        "lane": (selected.facts.model_lane if selected else None) or (route.route_lane if route else None),
        "route": (route.route_lane or route.route_model) if route else None,
        "risk": route.route_risk if route else None,
        "escalation_required": route.escalation_required if route else None,
        "escalated": route.escalated if route else None,
    }


def _tokens(run: Run, branch: _Branch) -> Tokens:
    steps = [*([run.root] if run.root else []), *run.steps]
    return {
        "input": sum(step.facts.input_tokens or 0 for step in branch.models),
        "output": sum(step.facts.output_tokens or 0 for step in branch.models),
        "budget": next((step.facts.token_budget for step in steps if step.facts.token_budget), None),
    }


def _retrieval_refs(branch: _Branch) -> list[RetrievalRef]:
    return [
        {
            "span_id": step.span_id,
            "name": step.name,
            "count": step.document_count,
            "documents": [_document(doc) for doc in (step.facts.documents or [])],
        }
        for step in branch.steps
        if step.role == "retriever" and (step.facts.documents is not None or step.document_count is not None)
    ]


def _document(doc: dict[str, object]) -> DocumentRef:
    score, doc_id = doc.get("score"), doc.get("id")
    return {
        "id": None if doc_id is None else str(doc_id),
        "score": float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
    }


def _verifier(steps: list[Step]) -> VerifierRecord | None:
    verifiers = [step for step in steps if step.role == "verifier" or step.verifier_passed is not None]
    if not verifiers:
        return None
    last = verifiers[-1]
    return {
        "span_id": last.span_id,
        "name": last.name,
        "passed": last.verifier_passed,
        "reason": cut(last.facts.verdict_reason),
    }


def _steps(branch: _Branch, verdict: Diagnosis) -> list[StepRecord]:
    return [
        {
            "index": index,
            "role": step.role,
            "label": step.label,
            "name": step.name,
            "span_id": step.span_id,
            "parent_span_id": step.parent_id,
            "status": _status(step),
            "start_offset_ms": round(max(0, step.start_ns - branch.start_ns) / 1e6, 3),
            "duration_ms": round(step.duration_ms, 3),
            "on_failing_path": step.span_id in verdict.path,
        }
        for index, step in enumerate(branch.steps)
    ]


def _failing(verdict: Diagnosis) -> FailingSpan | None:
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


def _bucket(verdict: Diagnosis) -> BucketRecord:
    rule = verdict.rule
    return {
        "rule": rule.name if rule else None,
        "description": rule.description if rule else "no bucket rule had evidence",
        "first_check": rule.first_check if rule else None,
        "avoid": rule.avoid if rule else None,
    }


def _diagnosis(verdict: Diagnosis) -> DiagnosisRecord:
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
