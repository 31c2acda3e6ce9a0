"""Step spans of an agent run: planner, retriever, tool, model, verifier, router and guardrail, written in
the vocabulary failpath's diagnosis reads by default (`agent.*` facts, OpenTelemetry GenAI names where they
exist). Each is a context manager (with / async with) and a decorator (sync or async functions).

Content (prompts, outputs, tool arguments and results, documents) is not recorded unless the step or its
run says `record_content=True`: by default a step records argument keys, sizes, ids, counts and verdicts.
An exception leaving a step is recorded on it (event, `error.type`, ERROR status) and raised on.
"""

import asyncio
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar, cast

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

TRACER = "failpath.agent"
# Set in the context by a run envelope: whether its steps may record content, and the tracer provider its
# steps use (the envelope's, else OpenTelemetry's global one).
RECORD_CONTENT = context.create_key("failpath.record_content")
TRACER_PROVIDER = context.create_key("failpath.tracer_provider")

P = ParamSpec("P")
R = TypeVar("R")


def tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """failpath.agent's tracer: from provider, else the current run's, else the global provider."""
    chosen = provider or cast(trace.TracerProvider | None, context.get_value(TRACER_PROVIDER))
    return (chosen or trace.get_tracer_provider()).get_tracer(TRACER)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


class Step:
    """One step of a run as a span. Use a helper (`tool(...)`, `model(...)` ...) rather than this class."""

    kind = "other"
    span_kind = SpanKind.INTERNAL

    def __init__(self, name: str, attributes: Mapping[str, AttributeValue | None], record_content: bool | None) -> None:
        self.name = name
        self._attributes: dict[str, AttributeValue] = {k: v for k, v in attributes.items() if v is not None}
        self._record_content = record_content
        self._span: Span | None = None
        self._token: object = None
        self._failed = False

    # -- recording ---------------------------------------------------------------------------------------------
    @property
    def span(self) -> Span:
        if self._span is None:
            raise RuntimeError(f"step {self.name!r} has not started: use it in a with block")
        return self._span

    @property
    def records_content(self) -> bool:
        if self._record_content is not None:
            return self._record_content
        return context.get_value(RECORD_CONTENT) is True

    def set(self, key: str, value: AttributeValue | None) -> None:
        """An attribute of the step (None: left unset)."""
        if value is not None:
            self.span.set_attribute(key, value)

    def fail(self, reason: str, error_type: str | None = None) -> None:
        """The step failed without an exception leaving it (a tool reporting failure, a refused request)."""
        self._failed = True
        self.set("error.type", error_type or "failed")
        self.span.set_status(Status(StatusCode.ERROR, reason))

    # -- the span's life ---------------------------------------------------------------------------------------
    def _start(self) -> None:
        attributes = {"agent.step.kind": self.kind, **self._attributes}
        self._span = tracer().start_span(self.name, kind=self.span_kind, attributes=attributes)
        self._token = context.attach(trace.set_span_in_context(self._span))

    def _finished(self, error: BaseException | None) -> None:
        """Facts known only at the end (a tool's success); subclasses add theirs."""

    def _end(self, error: BaseException | None) -> None:
        span = self.span
        try:
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            self._finished(error)
        finally:
            span.end()
            context.detach(cast(Any, self._token))

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._end(error)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._end(error)

    # -- as a decorator ----------------------------------------------------------------------------------------
    def _fresh(self) -> Self:
        """A new, unstarted step like this one (a decorated function gets one per call)."""
        step = object.__new__(type(self))
        step.__dict__.update(self.__dict__)
        step._attributes = dict(self._attributes)
        step._span, step._token, step._failed = None, None, False
        return step

    def _called(self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """What the step records of a decorated function's call (a tool: its argument keys)."""

    def _returned(self, value: object) -> None:
        """What the step records of a decorated function's result (a tool: its size)."""

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self._fresh() as step:
                    step._called(function, args, kwargs)
                    value = await cast(Callable[..., Awaitable[Any]], function)(*args, **kwargs)
                    step._returned(value)
                    return value

            return cast(Callable[P, R], run_async)

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh() as step:
                step._called(function, args, kwargs)
                value = function(*args, **kwargs)
                step._returned(value)
                return value

        return run


class ToolStep(Step):
    kind = "tool"

    def arguments(self, arguments: dict[str, object]) -> None:
        """The call's arguments: their keys always, the values only when content is recorded."""
        self.set("agent.tool.argument_keys", sorted(str(key) for key in arguments))
        if self.records_content:
            self.set("gen_ai.tool.call.arguments", _text(arguments))

    def result(self, value: object) -> None:
        """The tool's result: its size always, the text only when content is recorded."""
        text = _text(value)
        self.set("agent.tool.result_size", len(text))
        if self.records_content:
            self.set("gen_ai.tool.call.result", text)

    def _called(self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            bound = inspect.signature(function).bind(*args, **kwargs)
        except TypeError:  # the call itself is wrong: the function raises it
            return
        self.arguments({key: value for key, value in bound.arguments.items() if key not in ("self", "cls")})

    def _returned(self, value: object) -> None:
        self.result(value)

    def _finished(self, error: BaseException | None) -> None:
        failed = error is not None or self._failed
        self.span.set_attribute("tool.success", not failed)
        if isinstance(error, TimeoutError | asyncio.TimeoutError):
            self.span.set_attribute("agent.tool.timed_out", True)


class ModelStep(Step):
    kind = "model"
    span_kind = SpanKind.CLIENT

    def usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, finish_reasons: Sequence[str] = ()
    ) -> None:
        self.set("gen_ai.usage.input_tokens", input_tokens)
        self.set("gen_ai.usage.output_tokens", output_tokens)
        if finish_reasons:
            self.set("gen_ai.response.finish_reasons", list(finish_reasons))

    def output(self, text: str) -> None:
        """The model's answer: its length always, the text only when content is recorded."""
        self.set("agent.model.output_size", len(text))
        if self.records_content:
            self.set("gen_ai.output.messages", json.dumps([{"role": "assistant", "content": text}]))


class RetrieverStep(Step):
    kind = "retriever"
    span_kind = SpanKind.CLIENT

    def documents(self, ids: Sequence[str], scores: Sequence[float] = ()) -> None:
        """What came back: ids and scores (never the documents' text)."""
        self.set("retrieval.documents.count", len(ids))
        if ids:
            self.set("retrieval.documents", [str(doc) for doc in ids])
        if scores:
            self.set("retrieval.scores", [float(score) for score in scores])


class VerdictStep(Step):
    """A verifier's or a guardrail's check."""

    kind = "verifier"

    def verdict(self, passed: bool, reason: str | None = None, score: float | None = None) -> None:
        self.set("guardrail.passed" if self.kind == "guardrail" else "verifier.passed", passed)
        self.set("verifier.reason", reason)
        self.set("verifier.score", score)


class GuardrailStep(VerdictStep):
    kind = "guardrail"


class RouterStep(Step):
    kind = "router"

    def route(
        self,
        lane: str | None = None,
        model: str | None = None,
        risk: str | None = None,
        escalation_required: bool | None = None,
        escalated: bool | None = None,
    ) -> None:
        self.set("agent.route.lane", lane)
        self.set("agent.route.model", model)
        self.set("agent.route.risk", risk)
        self.set("agent.route.escalation_required", escalation_required)
        self.set("agent.route.escalated", escalated)


class PlannerStep(Step):
    kind = "planner"

    def plan(self, steps: Iterable[str], revision: int | None = None) -> None:
        """The plan: the names of the steps it chose (tools, sub-tasks), and which revision it is."""
        self.set("agent.plan.steps", [str(step) for step in steps])
        self.set("agent.plan.revision", revision)


def _common(retry_count: int | None, cache_hit: bool | None) -> dict[str, AttributeValue | None]:
    return {"agent.retry_count": retry_count, "agent.cache.hit": cache_hit}


def planner(name: str = "plan", *, record_content: bool | None = None) -> PlannerStep:
    return PlannerStep(name, {"gen_ai.operation.name": "plan"}, record_content)


def retriever(
    name: str = "retrieve",
    *,
    source: str | None = None,
    cache_hit: bool | None = None,
    record_content: bool | None = None,
) -> RetrieverStep:
    """source: what is searched (an index or collection name)."""
    attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": source, **_common(None, cache_hit)}
    return RetrieverStep(name, attributes, record_content)


def tool(
    name: str,
    *,
    timeout_class: str | None = None,
    retry_count: int | None = None,
    cache_hit: bool | None = None,
    record_content: bool | None = None,
) -> ToolStep:
    """timeout_class: the timeout the call runs under (e.g. "short", "30s"); retry_count: 0 for the first
    try of this call, 1 for its first retry..."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "agent.tool.timeout_class": timeout_class,
        **_common(retry_count, cache_hit),
    }
    return ToolStep(f"execute_tool {name}", attributes, record_content)


def model(
    name: str,
    *,
    lane: str | None = None,
    max_tokens: int | None = None,
    provider: str | None = None,
    retry_count: int | None = None,
    cache_hit: bool | None = None,
    record_content: bool | None = None,
) -> ModelStep:
    """name: the model requested; lane: the route it was chosen for (e.g. "fast", "careful")."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": name,
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.provider.name": provider,
        "agent.model.lane": lane,
        **_common(retry_count, cache_hit),
    }
    return ModelStep(f"chat {name}", attributes, record_content)


def verifier(name: str = "verify", *, record_content: bool | None = None) -> VerdictStep:
    return VerdictStep(name, {}, record_content)


def guardrail(name: str = "guardrail", *, record_content: bool | None = None) -> GuardrailStep:
    return GuardrailStep(name, {}, record_content)


def router(name: str = "route", *, record_content: bool | None = None) -> RouterStep:
    return RouterStep(name, {}, record_content)
