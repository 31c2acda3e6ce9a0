"""Failing (and healthy) agent runs for every failure bucket, written in each instrumentation dialect:
OTel GenAI semantic conventions, OpenInference, OpenLLMetry (Traceloop) and plain hand-made names.

A run is a list of steps; each dialect turns a step into a span name and attributes the way that
dialect's instrumentations do. Secrets are planted where agents leak them (tool arguments and results,
status messages, exception messages) so packet tests can check none survives.
"""

import json
import os
import random
from dataclasses import dataclass, field

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value
from tests.support.step_spans import Events, add_step_spans
from tests.support.traces import START

DIALECTS = ("genai", "openinference", "openllmetry", "plain")
BUCKETS = ("tool_execution", "retrieval_miss", "verifier_false_positive", "routing_mistake", "planner_drift")
SECRET = "sk-proj-" + "Q7vX2mN9pL4kR8sT1wY6zB3cF5hJ0dG" + "aE2iK7oU9qW4eR"
EMAIL = "dana.whitfield@example-customer.com"


@dataclass
class Step:
    role: str  # planner, retriever, tool, model, verifier, router, http
    name: str = ""
    error: str | None = None
    documents: int | None = None
    passed: bool | None = None
    model: str = "gpt-4.1"
    finish: str = "stop"
    exit_code: int | None = None
    retry: int | None = None
    children: list["Step"] = field(default_factory=list)
    duration_ms: int = 200


Attributes = dict[str, object]


def _planner(dialect: str, step: Step) -> tuple[str, Attributes]:
    if dialect == "genai":
        return "plan support", {"gen_ai.operation.name": "plan"}
    kinds: dict[str, Attributes] = {
        "openinference": {"openinference.span.kind": "CHAIN"},
        "openllmetry": {"traceloop.span.kind": "task"},
        "plain": {},
    }
    return step.name or "planner", kinds[dialect]


def _retriever(dialect: str, step: Step) -> tuple[str, Attributes]:
    docs = [{"id": f"kb-{index}", "score": round(0.9 - index * 0.1, 2)} for index in range(step.documents or 0)]
    if dialect == "genai":
        return "retrieval kb", {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": json.dumps(docs)}
    if dialect == "openinference":
        a: Attributes = {"openinference.span.kind": "RETRIEVER", "retrieval.documents.count": len(docs)}
        for index, doc in enumerate(docs):
            a[f"retrieval.documents.{index}.document.id"] = doc["id"]
            a[f"retrieval.documents.{index}.document.score"] = doc["score"]
            a[f"retrieval.documents.{index}.document.content"] = f"Refund policy text mailing {EMAIL}"
        return "retrieve", a
    if dialect == "openllmetry":
        return "retriever.search", {"traceloop.span.kind": "task", "retrieval.documents.count": len(docs)}
    return "retriever", {"retrieval.documents": [d["id"] for d in docs], "retrieval.scores": [d["score"] for d in docs]}


def _tool(dialect: str, step: Step) -> tuple[str, Attributes]:
    tool = step.name or "run_tests"
    arguments = json.dumps({"path": "src/", "api_key": SECRET, "notify": EMAIL})
    a: Attributes
    if dialect == "genai":
        name, a = (
            f"execute_tool {tool}",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.arguments": arguments,
                "gen_ai.tool.call.result": f"failed for {EMAIL}" if step.error else "3 passed",
            },
        )
    elif dialect == "openinference":
        name, a = tool, {"openinference.span.kind": "TOOL", "tool.name": tool, "input.value": arguments}
    elif dialect == "openllmetry":
        name = f"{tool}.tool"
        a = {"traceloop.span.kind": "tool", "traceloop.entity.name": tool, "traceloop.entity.input": arguments}
    else:
        name, a = f"tool:{tool}", {"tool.arguments": arguments}
    if step.exit_code is not None:
        a["process.exit.code"] = step.exit_code
    if step.retry is not None:
        a["agent.retry_count"] = step.retry
    a["tool.success"] = step.error is None
    return name, a


def _model(dialect: str, step: Step) -> tuple[str, Attributes]:
    a: Attributes
    if dialect == "openinference":
        name, a = (
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": step.model,
                "llm.token_count.prompt": 1200,
                "llm.token_count.completion": 400,
                "llm.input_messages.0.message.content": f"Customer {EMAIL} asks about a refund",
            },
        )
    elif dialect == "openllmetry":
        name, a = (
            "openai.chat",
            {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": step.model,
                "gen_ai.response.model": step.model,
                "gen_ai.usage.prompt_tokens": 1200,
                "gen_ai.usage.completion_tokens": 400,
            },
        )
    else:
        name = f"chat {step.model}" if dialect == "genai" else "model"
        a = {
            "gen_ai.request.model": step.model,
            "gen_ai.response.model": step.model,
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 400,
            "gen_ai.prompt": f"Summarise the ticket from {EMAIL}",
        }
        if dialect == "genai":
            a["gen_ai.operation.name"] = "chat"
    a["gen_ai.response.finish_reasons"] = [step.finish]
    return name, a


def _verifier(dialect: str, step: Step, events: Events) -> tuple[str, Attributes]:
    label = "pass" if step.passed else "fail"
    if dialect == "openinference":
        return "evaluate_answer", {"openinference.span.kind": "EVALUATOR", "metadata.label": label}
    if dialect == "genai":
        events.append(("gen_ai.evaluation.result", {"gen_ai.evaluation.score.label": label}))
        return "verify_answer", {}
    if dialect == "openllmetry":
        return "verifier.check", {"traceloop.span.kind": "task", "verifier.passed": bool(step.passed)}
    return "verifier", {"verifier.passed": bool(step.passed)}


def _attributes(dialect: str, step: Step) -> tuple[str, Attributes, Events]:
    """(span name, attributes, events) of a step in a dialect."""
    events: Events = []
    if step.role == "planner":
        name, a = _planner(dialect, step)
    elif step.role == "retriever":
        name, a = _retriever(dialect, step)
    elif step.role == "tool":
        name, a = _tool(dialect, step)
    elif step.role == "model":
        name, a = _model(dialect, step)
    elif step.role == "verifier":
        name, a = _verifier(dialect, step, events)
    elif step.role == "router":
        name, a = "router", {"router.selected_model": step.model, "router.lane": "cheap"}
    else:
        name = "POST"
        a = {"http.request.method": "POST", "url.full": "https://ci.internal/api/run", "http.response.status_code": 503}
    if step.error:
        events.append(("exception", {"exception.type": "ToolError", "exception.message": f"{step.error} ({SECRET})"}))
    return name, a, events


def build_run(
    dialect: str,
    steps: list[Step],
    run_failed: bool = True,
    trace_id: bytes | None = None,
    run_id: str = "run-7f3a",
    workflow: str = "refunds",
) -> list[Span]:
    trace = trace_id or os.urandom(16)
    rng = random.Random(trace)
    root = Span(trace_id=trace, span_id=rng.randbytes(8), name="invoke_agent refunds", kind=Span.SPAN_KIND_SERVER)
    root.attributes.extend(
        [
            key_value("gen_ai.operation.name", "invoke_agent"),
            key_value("workflow.name", workflow),
            key_value("run.id", run_id),
            key_value("enduser.id", "user-42"),
            key_value("input.value", f"Refund order 1234 for {EMAIL}"),
        ]
    )
    spans = [root]

    def describe(step: Step) -> tuple[str, dict[str, object], Events, str | None]:
        name, attributes, events = _attributes(dialect, step)
        return name, attributes, events, f"{step.error}: token {SECRET}" if step.error else None

    clock = add_step_spans(spans, trace, rng, steps, root.span_id, START + 1_000_000, describe)
    root.start_time_unix_nano = START
    root.end_time_unix_nano = clock + 1_000_000
    if run_failed:
        root.status.code = Status.STATUS_CODE_ERROR
        root.status.message = "run failed"
    return spans


def scenario(bucket: str) -> list[Step]:
    """A run that fails in a way that belongs to bucket."""
    if bucket == "tool_execution":
        return [
            Step("planner"),
            Step("retriever", documents=3),
            Step("model"),
            Step("tool", "pytest", error="tests timed out", exit_code=2, children=[Step("http", error="503 from CI")]),
            Step("tool", "pytest", error="tests timed out", exit_code=2, retry=1),
            Step("verifier", passed=False),
        ]
    if bucket == "retrieval_miss":
        return [
            Step("planner"),
            Step("retriever", documents=0),
            Step("model"),
            Step("tool", "lookup_order", error="no order to look up"),
        ]
    if bucket == "verifier_false_positive":
        return [
            Step("planner"),
            Step("retriever", documents=4),
            Step("model"),
            Step("tool", "issue_refund"),
            Step("verifier", passed=True),
        ]
    if bucket == "routing_mistake":
        return [
            Step("planner"),
            Step("router", model="small-model"),
            Step("model", model="small-model", finish="length"),
            Step("tool", "parse_plan", error="truncated JSON"),
        ]
    if bucket == "planner_drift":
        return [
            Step("planner"),
            Step("planner", name="replan"),
            Step("planner", name="replan"),
            Step("retriever", documents=2),
            Step("model"),
            Step("tool", "issue_refund"),
            Step("verifier", passed=False),
        ]
    raise ValueError(bucket)


def healthy() -> list[Step]:
    return [
        Step("planner"),
        Step("retriever", documents=3),
        Step("model"),
        Step("tool", "issue_refund"),
        Step("verifier", passed=True),
    ]
