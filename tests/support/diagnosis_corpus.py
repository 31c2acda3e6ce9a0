"""A labelled corpus of agent runs for measuring diagnosis: every failure bucket in several shapes, written
in five dialects (OTel GenAI, OpenInference, OpenLLMetry, plain names, failpath's documented vocabulary),
healthy runs, and recovered failures (a tool timeout retried successfully, a rate-limited model call that
succeeded on retry) mixed into a third of the runs.

Each dialect says what its instrumentations say, and nothing more: OpenInference puts a run's limit error
on an inner agent span and leaves the root OK (as the OpenAI Agents instrumentation does), an empty
OpenInference retrieval has no document attributes at all, OpenLLMetry retrieval results are
`db.query.result` events. Facts no dialect has a convention for (a plan's steps, a route's risk, user
feedback) use failpath's vocabulary, as an application adopting failpath would add them.
"""

import json
import random
from dataclasses import dataclass, field, replace

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value
from tests.support.step_spans import Events, add_step_spans
from tests.support.traces import START

DIALECTS = ("genai", "openinference", "openllmetry", "plain", "vocabulary")
BUCKETS = ("retrieval_miss", "tool_execution", "planner_drift", "verifier_false_positive", "routing_mistake")

Attributes = dict[str, object]


@dataclass
class S:
    """One step of a run."""

    role: str  # planner, retriever, tool, model, verifier, guardrail, router, http
    name: str = ""
    error: str | None = None
    error_type: str = "ToolError"
    documents: int | None = None
    scores: tuple[float, ...] | None = None
    passed: bool | None = None
    model: str = "gpt-4.1"
    finish: str = "stop"
    max_tokens: int | None = None
    output_tokens: int = 400
    exit_code: int | None = None
    http_status: int | None = None
    retry: int | None = None
    plan: tuple[str, ...] | None = None
    revision: int | None = None
    lane: str | None = None
    risk: str | None = None
    escalation_required: bool | None = None
    escalated: bool | None = None
    children: list["S"] = field(default_factory=list)
    duration_ms: int = 200


@dataclass
class RunSpec:
    steps: list[S]
    # The run's own failure: its root span ERROR with this message and exception type.
    error: str | None = None
    error_type: str = "AgentError"
    # What only the vocabulary can say: the run's outcome, a user's feedback, the task's allowed steps.
    outcome: str | None = None
    feedback: str | None = None
    allowed_steps: tuple[str, ...] | None = None
    token_budget: int | None = None


@dataclass
class LabelledRun:
    bucket: str | None  # None: a healthy run
    shape: str
    dialect: str
    recovered: bool
    spans: list[Span]


# -- the failure shapes ----------------------------------------------------------------------------------------

TOOLS = ("lookup_order", "issue_refund", "search_web", "run_tests", "send_email", "fetch_invoice", "create_ticket")


def _healthy_steps(rng: random.Random) -> list[S]:
    tool = rng.choice(TOOLS)
    steps = [S("planner"), S("retriever", documents=rng.randint(2, 5)), S("model"), S("tool", tool)]
    if rng.random() < 0.5:
        steps.append(S("model"))
    steps.append(S("verifier", passed=True))
    return steps


def _shapes(bucket: str, rng: random.Random) -> dict[str, RunSpec]:
    tool = rng.choice(TOOLS)
    small = rng.choice(("gpt-4.1-nano", "claude-haiku", "small-lane-model"))
    if bucket == "retrieval_miss":
        return {
            "empty_then_rejected": RunSpec(
                [S("planner"), S("retriever", documents=0), S("model"), S("verifier", passed=False)], error="rejected"
            ),
            "low_scores_then_rejected": RunSpec(
                [
                    S("planner"),
                    S("retriever", documents=3, scores=(0.21, 0.17, 0.12)),
                    S("model"),
                    S("verifier", passed=False),
                ],
                error="answer rejected",
            ),
            "empty_then_tool_starved": RunSpec(
                [
                    S("planner"),
                    S("retriever", documents=0),
                    S("model"),
                    S("tool", tool, error="order id missing: nothing to look up", error_type="ValueError"),
                ],
                error="tool failed",
            ),
            "retriever_failed": RunSpec(
                [S("planner"), S("retriever", error="vector store query failed", error_type="QueryError"), S("model")],
                error="no context",
            ),
        }
    if bucket == "tool_execution":
        return {
            "timeout_retries_exhausted": RunSpec(
                [
                    S("planner"),
                    S("model"),
                    S("tool", tool, error=f"{tool} timed out after 30s", error_type="TimeoutError"),
                    S("tool", tool, error=f"{tool} timed out after 30s", error_type="TimeoutError", retry=1),
                ],
                error="tool failed",
            ),
            "http_unauthorized": RunSpec(
                [
                    S("planner"),
                    S("retriever", documents=3),
                    S("model"),
                    S(
                        "tool",
                        tool,
                        error="401 Unauthorized",
                        error_type="HTTPError",
                        children=[S("http", error="401 Unauthorized", http_status=401)],
                    ),
                ],
                error="tool failed",
            ),
            "nonzero_exit_then_rejected": RunSpec(
                [
                    S("planner"),
                    S("model"),
                    S("tool", "run_tests", error="3 tests failed", exit_code=1, error_type="CommandFailed"),
                    S("model"),
                    S("verifier", passed=False),
                ],
                error="rejected",
            ),
            "invalid_arguments": RunSpec(
                [
                    S("planner"),
                    S("retriever", documents=4),
                    S("model"),
                    S("tool", tool, error="invalid arguments: field amount required", error_type="ValidationError"),
                ],
                error="tool failed",
            ),
        }
    if bucket == "planner_drift":
        allowed = ("search_kb", "draft_reply", "send_email")
        return {
            "replanned_until_turn_limit": RunSpec(
                [
                    S("planner", revision=1),
                    S("model"),
                    S("planner", "replan", revision=2),
                    S("model"),
                    S("planner", "replan", revision=3),
                    S("model"),
                    S("planner", "replan", revision=4),
                ],
                error="Max turns exceeded",
                error_type="MaxTurnsExceeded",
            ),
            "step_outside_task": RunSpec(
                [
                    S("planner", plan=("search_kb", "issue_refund", "send_email")),
                    S("retriever", documents=3),
                    S("model"),
                    S("tool", "issue_refund"),
                    S("verifier", passed=False),
                ],
                error="rejected",
                allowed_steps=allowed,
            ),
            "plan_explosion_request_limit": RunSpec(
                [
                    S("planner", plan=tuple(f"step_{index}" for index in range(24))),
                    *[S("tool", "search_kb") if index % 2 else S("model") for index in range(12)],
                ],
                error="The next request would exceed the request_limit of 12",
                error_type="UsageLimitExceeded",
                allowed_steps=allowed,
            ),
            "looping_calls_recursion_limit": RunSpec(
                [S("planner"), *[S("tool", "search_kb") for _ in range(9)]],
                error="Recursion limit of 25 reached without hitting a stop condition",
                error_type="GraphRecursionError",
            ),
        }
    if bucket == "verifier_false_positive":
        return {
            "approved_then_outcome_failed": RunSpec(
                [S("planner"), S("retriever", documents=3), S("model"), S("tool", tool), S("verifier", passed=True)],
                outcome="failure",
            ),
            "approved_then_negative_feedback": RunSpec(
                [S("planner"), S("retriever", documents=4), S("model"), S("verifier", passed=True)],
                feedback="negative",
            ),
            "approved_then_post_check_failed": RunSpec(
                [
                    S("planner"),
                    S("model"),
                    S("tool", tool),
                    S("verifier", passed=True),
                    S("verifier", "post_deploy_check", passed=False),
                ],
                error="post-approval check failed",
            ),
            "guardrail_passed_then_outcome_failed": RunSpec(
                [S("planner"), S("model"), S("guardrail", passed=True), S("tool", tool)],
                outcome="failure",
            ),
        }
    if bucket == "routing_mistake":
        return {
            "small_lane_cut_short": RunSpec(
                [
                    S("planner"),
                    S("router", lane="small", model=small),
                    S("model", model=small, finish="length", max_tokens=512, output_tokens=512),
                    S("verifier", passed=False),
                ],
                error="rejected",
            ),
            "token_limit_on_small_lane": RunSpec(
                [
                    S("planner"),
                    S("router", lane="small", model=small),
                    S("model", model=small),
                    S("model", model=small),
                ],
                error="Exceeded the total_tokens_limit of 4000 (total_tokens=4412)",
                error_type="UsageLimitExceeded",
            ),
            "escalation_skipped": RunSpec(
                [
                    S("planner"),
                    S("router", lane="standard", risk="high", escalation_required=True, escalated=False),
                    S("model"),
                    S("verifier", passed=False),
                ],
                error="rejected",
            ),
            "over_token_budget_then_rejected": RunSpec(
                [
                    S("planner"),
                    S("router", lane="small", model=small),
                    S("model", model=small, output_tokens=1800),
                    S("model", model=small, output_tokens=1800),
                    S("verifier", passed=False),
                ],
                error="rejected",
                token_budget=4000,
            ),
            "context_length_exceeded": RunSpec(
                [
                    S("planner"),
                    S("router", lane="small", model=small),
                    S(
                        "model",
                        model=small,
                        error="This model's maximum context length is 8192 tokens",
                        error_type="context_length_exceeded",
                    ),
                ],
                error="model call failed",
            ),
        }
    raise ValueError(bucket)


def _recovery(rng: random.Random, busy: set[str]) -> list[S]:
    """A failure that was recovered: a tool (not one the run uses otherwise) retried successfully, or a
    model call retried after a rate limit."""
    if rng.random() < 0.5:
        tool = rng.choice([name for name in TOOLS if name not in busy])
        return [
            S("tool", tool, error=f"{tool} timed out after 10s", error_type="TimeoutError"),
            S("tool", tool, retry=1),
        ]
    return [S("model", error="429 Too Many Requests", error_type="RateLimitError"), S("model")]


def _with_recovery(spec: RunSpec, rng: random.Random) -> RunSpec:
    steps = list(spec.steps)
    # Anywhere after the first step, and before the run's last step when there is room.
    at = rng.randint(1, max(1, len(steps) - 1))
    busy = {step.name for step in steps if step.role == "tool"}
    return replace(spec, steps=[*steps[:at], *_recovery(rng, busy), *steps[at:]])


# -- dialects --------------------------------------------------------------------------------------------------


def _role_attributes(dialect: str, role: str) -> Attributes:
    if dialect == "vocabulary":
        return {"agent.step.kind": role}
    return {}


def _planner(dialect: str, step: S) -> tuple[str, Attributes]:
    facts: Attributes = {}
    if step.revision is not None:
        facts["agent.plan.revision"] = step.revision
    if step.plan is not None:
        facts["agent.plan.steps"] = list(step.plan)
    if dialect == "genai":
        return "plan support", {"gen_ai.operation.name": "plan", **facts}
    kinds: dict[str, Attributes] = {
        "openinference": {"openinference.span.kind": "CHAIN"},
        "openllmetry": {"traceloop.span.kind": "task"},
        "plain": {},
        "vocabulary": {},
    }
    name = step.name or "planner"
    return (name if dialect != "vocabulary" else f"decide {name}"), {**kinds[dialect], **facts}


def _retriever(dialect: str, step: S, events: Events) -> tuple[str, Attributes]:
    count = step.documents or 0
    scores = step.scores or tuple(round(0.92 - index * 0.05, 2) for index in range(count))
    documents = [{"id": f"kb-{index}", "score": score} for index, score in enumerate(scores)]
    if dialect == "genai":
        return "retrieval kb", {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.retrieval.documents": json.dumps(documents),
        }
    if dialect == "openinference":
        a: Attributes = {"openinference.span.kind": "RETRIEVER"}  # nothing at all when nothing was retrieved
        for index, document in enumerate(documents):
            a[f"retrieval.documents.{index}.document.id"] = document["id"]
            a[f"retrieval.documents.{index}.document.score"] = document["score"]
            a[f"retrieval.documents.{index}.document.content"] = "Refund policy, section 4"
        return "retrieve", a
    if dialect == "openllmetry":
        for document in documents:
            events.append(
                ("db.query.result", {"db.query.result.id": document["id"], "db.query.result.score": document["score"]})
            )
        return "chroma.query", {"db.system": "chroma", "db.operation": "query", "db.vector.query.top_k": 5}
    if dialect == "vocabulary":  # the vocabulary's own names only: a count and scores, no document ids
        return "kb lookup", {"agent.retrieval.count": count, "agent.retrieval.scores": list(scores)}
    return "retriever", {
        "retrieval.documents": [d["id"] for d in documents],
        "retrieval.scores": [d["score"] for d in documents],
    }


def _tool(dialect: str, step: S) -> tuple[str, Attributes]:
    tool = step.name or "run_tests"
    a: Attributes
    if dialect == "genai":
        name, a = f"execute_tool {tool}", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
        if step.error:
            a["error.type"] = step.error_type
    elif dialect == "openinference":
        name, a = tool, {"openinference.span.kind": "TOOL", "tool.name": tool, "input.value": '{"order": 1234}'}
    elif dialect == "openllmetry":
        name, a = f"{tool}.tool", {"traceloop.span.kind": "tool", "traceloop.entity.name": tool}
    elif dialect == "plain":
        name, a = f"tool:{tool}", {}
    else:
        name, a = f"call {tool}", {"tool.name": tool, "tool.success": step.error is None}
    if step.exit_code is not None:
        a["process.exit.code"] = step.exit_code
    if step.retry is not None:
        a["agent.retry_count"] = step.retry
    return name, a


def _model(dialect: str, step: S) -> tuple[str, Attributes]:
    a: Attributes
    if dialect == "openinference":
        a = {
            "openinference.span.kind": "LLM",
            "llm.model_name": step.model,
            "llm.token_count.prompt": 1200,
            "llm.token_count.completion": step.output_tokens,
            "llm.finish_reason": step.finish,
        }
        if step.max_tokens:
            a["llm.invocation_parameters"] = json.dumps({"max_tokens": step.max_tokens, "temperature": 0})
        return "ChatCompletion", a
    if dialect == "openllmetry":
        a = {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": step.model,
            "gen_ai.response.model": step.model,
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": step.output_tokens,
            "llm.response.finish_reason": step.finish,
        }
        if step.max_tokens:
            a["gen_ai.request.max_tokens"] = step.max_tokens
        return "openai.chat", a
    a = {
        "gen_ai.request.model": step.model,
        "gen_ai.response.model": step.model,
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": step.output_tokens,
        "gen_ai.response.finish_reasons": [step.finish],
    }
    if step.max_tokens:
        a["gen_ai.request.max_tokens"] = step.max_tokens
    if dialect == "genai":
        a["gen_ai.operation.name"] = "chat"
        if step.error:
            a["error.type"] = step.error_type
        return f"chat {step.model}", a
    return ("model" if dialect == "plain" else "llm call"), a


def _verdict(dialect: str, step: S, events: Events, role: str) -> tuple[str, Attributes]:
    label = "pass" if step.passed else "fail"
    default = "verify_answer" if role == "verifier" else "guardrail"
    name = step.name or default
    if dialect == "openinference":
        kind = "EVALUATOR" if role == "verifier" else "GUARDRAIL"
        return name if step.name else f"{role}_check", {"openinference.span.kind": kind, "metadata.label": label}
    if dialect == "genai":
        events.append(("gen_ai.evaluation.result", {"gen_ai.evaluation.score.label": label}))
        return name, {}
    if dialect == "vocabulary":
        return f"check {name}", {"verifier.passed": bool(step.passed)}
    prefix = {"openllmetry": {"traceloop.span.kind": "task"}, "plain": {}}[dialect]
    return (f"{name}.check" if dialect == "openllmetry" else name), {**prefix, "verifier.passed": bool(step.passed)}


def _router(dialect: str, step: S) -> tuple[str, Attributes]:
    a: Attributes = {"agent.route.model": step.model}
    if step.lane:
        a["agent.route.lane"] = step.lane
    if step.risk:
        a["agent.route.risk"] = step.risk
    if step.escalation_required is not None:
        a["agent.route.escalation_required"] = step.escalation_required
    if step.escalated is not None:
        a["agent.route.escalated"] = step.escalated
    if dialect == "openinference":
        return "router", {"openinference.span.kind": "CHAIN", **a}
    if dialect == "plain":
        plain: Attributes = {"router.selected_model": step.model, "router.lane": step.lane or "standard"}
        return "router", {**plain, **{k: v for k, v in a.items() if "risk" in k or "escalat" in k}}
    return ("select_model" if dialect != "vocabulary" else "choose lane"), a


def _step(dialect: str, step: S) -> tuple[str, Attributes, Events]:
    events: Events = []
    if step.role == "planner":
        name, a = _planner(dialect, step)
    elif step.role == "retriever":
        name, a = _retriever(dialect, step, events)
    elif step.role == "tool":
        name, a = _tool(dialect, step)
    elif step.role == "model":
        name, a = _model(dialect, step)
    elif step.role in ("verifier", "guardrail"):
        name, a = _verdict(dialect, step, events, step.role)
    elif step.role == "router":
        name, a = _router(dialect, step)
    else:
        name, a = "POST", {"http.request.method": "POST", "url.full": "https://api.internal/v1/orders"}
        if step.http_status:
            a["http.response.status_code"] = step.http_status
    if step.role != "http":
        a = {**_role_attributes(dialect, step.role), **a}
    if step.error:
        events.append(("exception", {"exception.type": step.error_type, "exception.message": step.error}))
    return name, a, events


def _root(dialect: str, spec: RunSpec, failed: bool) -> tuple[str, Attributes, Events]:
    a: Attributes = {"workflow.name": "refunds", "run.id": "run-1", "enduser.id": "user-42"}
    events: Events = []
    if dialect == "genai":
        a["gen_ai.operation.name"] = "invoke_agent"
        a["gen_ai.agent.name"] = "support"
        if spec.error:
            a["error.type"] = spec.error_type
    elif dialect == "openinference":
        a["openinference.span.kind"] = "AGENT"
    elif dialect == "openllmetry":
        a["traceloop.span.kind"] = "workflow"
    if spec.allowed_steps:
        a["agent.task.allowed_steps"] = list(spec.allowed_steps)
    if spec.token_budget:
        a["agent.token_budget"] = spec.token_budget
    if spec.outcome:
        a["agent.run.outcome"] = spec.outcome
    if spec.feedback:
        if dialect == "genai":
            events.append(
                (
                    "gen_ai.evaluation.result",
                    {"gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.label": spec.feedback},
                )
            )
        else:
            a["agent.feedback"] = spec.feedback
    if spec.error and dialect != "openinference":
        events.append(("exception", {"exception.type": spec.error_type, "exception.message": spec.error}))
    return "invoke_agent support" if dialect == "genai" else "support_agent", a, events


def build(dialect: str, spec: RunSpec, trace_id: bytes) -> list[Span]:
    rng = random.Random(trace_id)
    name, attributes, events = _root(dialect, spec, spec.error is not None)
    root = Span(trace_id=trace_id, span_id=rng.randbytes(8), name=name, kind=Span.SPAN_KIND_SERVER)
    root.attributes.extend(key_value(key, value) for key, value in attributes.items())
    spans = [root]
    parent = root.span_id
    if dialect == "openinference" and spec.error:
        # OpenAI Agents + OpenInference: the run's error lives on an inner agent span; the root stays OK.
        inner = Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root.span_id, name="support")
        inner.attributes.append(key_value("openinference.span.kind", "AGENT"))
        inner.status.code = Status.STATUS_CODE_ERROR
        inner.status.message = f"{spec.error}: {{}}"
        spans.append(inner)
        parent = inner.span_id

    def describe(step: S) -> tuple[str, dict[str, object], Events, str | None]:
        return (*_step(dialect, step), step.error or None)

    clock = add_step_spans(spans, trace_id, rng, spec.steps, parent, START + 1_000_000, describe)
    root.start_time_unix_nano = START
    root.end_time_unix_nano = clock + 1_000_000
    for inner in spans[1:2] if dialect == "openinference" and spec.error else ():
        inner.start_time_unix_nano, inner.end_time_unix_nano = START + 500_000, clock + 500_000
    for event_name, event_attributes in events:
        event = root.events.add(name=event_name, time_unix_nano=clock)
        event.attributes.extend(key_value(key, value) for key, value in event_attributes.items())
    if spec.error and dialect != "openinference":
        root.status.code = Status.STATUS_CODE_ERROR
        root.status.message = spec.error
    return spans


def corpus(seed: int = 7, per_shape: int = 3) -> list[LabelledRun]:
    """Every shape of every bucket in every dialect, per_shape times (a third of them with a recovered
    failure mixed in), plus as many healthy runs per dialect (half of them with a recovered failure)."""
    rng = random.Random(seed)
    runs: list[LabelledRun] = []
    for dialect in DIALECTS:
        for bucket in BUCKETS:
            for index in range(per_shape):
                for shape, shaped in _shapes(bucket, rng).items():
                    recovered = index % 3 == 1
                    spec = _with_recovery(shaped, rng) if recovered else shaped
                    runs.append(LabelledRun(bucket, shape, dialect, recovered, build(dialect, spec, rng.randbytes(16))))
        for index in range(per_shape * 4):
            recovered = index % 2 == 1
            spec = RunSpec(_healthy_steps(rng))
            if recovered:
                spec = _with_recovery(spec, rng)
            runs.append(LabelledRun(None, "healthy", dialect, recovered, build(dialect, spec, rng.randbytes(16))))
    return runs
