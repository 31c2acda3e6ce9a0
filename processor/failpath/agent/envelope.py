"""The run envelope: the root span of one agent run, started before its first step, carrying what failpath
reads of a run (workflow, run id, attempt, actor, task, token budget, allowed steps, outcome, feedback).

A retry stays one run. `retry()` inside the envelope's block starts the next attempt in the same trace (a
span `attempt N <workflow>` under the root, linked to the attempt before; later steps go under it); after the
block it returns a new envelope for the next attempt: a new trace with the same run id, attempt + 1 and a
link to the previous attempt's root, so failpath lists the attempts together in the packet.
"""

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar, cast

from opentelemetry import context, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from failpath.agent.steps import RECORD_CONTENT, TRACER_PROVIDER, tracer

P = ParamSpec("P")
R = TypeVar("R")
PREVIOUS_ATTEMPT = {"failpath.link": "previous_attempt"}


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What an envelope records of its run; see run() for each."""

    workflow: str
    actor: str | None = None
    run_id: str | None = None
    attempt: int = 1
    task: str | None = None
    token_budget: int | None = None
    allowed_steps: tuple[str, ...] = ()
    record_content: bool = False
    provider: trace.TracerProvider | None = None


class Envelope:
    def __init__(self, settings: RunSettings, previous: SpanContext | None = None) -> None:
        """previous: the attempt before this one (a new trace links to it)."""
        self.settings = settings
        self.workflow = settings.workflow
        self.run_id = settings.run_id or uuid.uuid4().hex
        self.attempt = settings.attempt
        self.started_at: datetime | None = None
        self._previous = previous
        self._root: Span | None = None
        self._attempt_span: Span | None = None
        self._tokens: list[object] = []
        self._outcome: str | None = None
        self._last: SpanContext | None = None

    # -- what the run is -----------------------------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The run's trace id (32 hex digits), known from the start of the block, before any step."""
        return format(self._span_context().trace_id, "032x")

    @property
    def span_context(self) -> SpanContext:
        """The current attempt's span context (to link to it, or to pass it to another process)."""
        return self._span_context()

    def _span_context(self) -> SpanContext:
        span = self._attempt_span or self._root
        if span is None:
            if self._last is None:
                raise RuntimeError(f"the run envelope of {self.workflow!r} has not started: use it in a with block")
            return self._last
        return span.get_span_context()

    def outcome(self, outcome: str, limit: str | None = None) -> None:
        """How the run ended when that is not an exception: "failure", "gave_up", "success"...; limit: the
        limit that stopped it ("turns", "tokens", "steps", "time", ...)."""
        root = self._started()
        self._outcome = outcome
        root.set_attribute("agent.run.outcome", outcome)
        if limit is not None:
            root.set_attribute("agent.run.limit", limit)

    def feedback(self, value: str | float) -> None:
        """A user's verdict on the run ("negative", "positive", a thumbs-down, a score)."""
        self._started().set_attribute("agent.feedback", value)

    def _started(self) -> Span:
        if self._root is None:
            raise RuntimeError(f"the run envelope of {self.workflow!r} is not open")
        return self._root

    # -- attempts --------------------------------------------------------------------------------------------------
    def retry(self) -> "Envelope":
        """The next attempt of this run: in the same trace while the block is open (call it between steps),
        else a new envelope to enter."""
        if self._root is None:
            return Envelope(
                replace(self.settings, run_id=self.run_id, attempt=self.attempt + 1), previous=self._span_context()
            )
        previous = self._span_context()
        if self._attempt_span is not None:
            self._end_attempt(None, "retried")
        self.attempt += 1
        self._root.set_attribute("run.attempt", self.attempt)
        parent = trace.set_span_in_context(self._root)
        self._attempt_span = tracer(self.settings.provider).start_span(
            f"attempt {self.attempt} {self.workflow}",
            context=parent,
            links=[Link(previous, PREVIOUS_ATTEMPT)],
            attributes={"run.id": self.run_id, "run.attempt": self.attempt},
        )
        self._tokens.append(context.attach(trace.set_span_in_context(self._attempt_span)))
        return self

    def _end_attempt(self, error: BaseException | None, why: str | None) -> None:
        span = cast(Span, self._attempt_span)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        elif why is not None:
            span.set_status(Status(StatusCode.ERROR, why))
        span.end()
        context.detach(cast(Any, self._tokens.pop()))
        self._attempt_span = None

    # -- the block -------------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        if self._root is not None:
            raise RuntimeError("a run envelope is entered once; retry() gives the next attempt")
        attributes: dict[str, AttributeValue | None] = {
            "gen_ai.operation.name": "invoke_agent",
            "workflow.name": self.workflow,
            "run.id": self.run_id,
            "run.attempt": self.attempt,
            "enduser.id": self.settings.actor,
            "task.summary": self.settings.task,
            "agent.token_budget": self.settings.token_budget,
            "agent.task.allowed_steps": list(self.settings.allowed_steps) or None,
        }
        links = [Link(self._previous, PREVIOUS_ATTEMPT)] if self._previous else []
        caller = trace.get_current_span().get_span_context()
        if caller.is_valid:  # the run is a trace of its own; the request that started it is linked
            links.append(Link(caller, {"failpath.link": "caller"}))
        self._root = tracer(self.settings.provider).start_span(
            f"invoke_agent {self.workflow}",
            context=context.Context(),  # a new trace: the run's root span
            kind=SpanKind.INTERNAL,
            attributes={key: value for key, value in attributes.items() if value is not None},
            links=links,
        )
        self.started_at = datetime.now(UTC)
        scoped = context.set_value(RECORD_CONTENT, self.settings.record_content, trace.set_span_in_context(self._root))
        if self.settings.provider is not None:
            scoped = context.set_value(TRACER_PROVIDER, self.settings.provider, scoped)
        self._tokens.append(context.attach(scoped))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        root = self._started()
        if self._attempt_span is not None:
            self._end_attempt(error, None)
        if error is not None:
            root.record_exception(error)
            root.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            if self._outcome is None:
                root.set_attribute("agent.run.outcome", "failure")
        elif self._outcome is None:
            root.set_attribute("agent.run.outcome", "success")
        self._last = self._span_context()
        root.end()
        context.detach(cast(Any, self._tokens.pop()))
        self._root = None

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, error, tb)

    # -- as a decorator --------------------------------------------------------------------------------------------
    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        """Each call of the function is a run of its own (a new run id unless one was given)."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with Envelope(self.settings):
                    return await cast(Callable[..., Awaitable[Any]], function)(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(function)
        def run_sync(*args: P.args, **kwargs: P.kwargs) -> R:
            with Envelope(self.settings):
                return function(*args, **kwargs)

        return run_sync


def run(
    workflow: str,
    *,
    actor: str | None = None,
    run_id: str | None = None,
    attempt: int = 1,
    task: str | None = None,
    token_budget: int | None = None,
    allowed_steps: Sequence[str] = (),
    record_content: bool = False,
    provider: trace.TracerProvider | None = None,
) -> Envelope:
    """The envelope of one agent run: `with run("refunds", actor=user) as envelope:` (or `async with`, or
    `@run("refunds")` on the function that runs it). task: a short summary of what was asked (recorded as
    given); token_budget: the tokens the run may use; allowed_steps: the tools or sub-tasks it may use;
    record_content: whether its steps record prompts, outputs, arguments and results (off by default);
    provider: the tracer provider for the run and its steps (default: OpenTelemetry's global one)."""
    settings = RunSettings(
        workflow, actor, run_id, attempt, task, token_budget, tuple(allowed_steps), record_content, provider
    )
    return Envelope(settings)
