"""failpath.agent on the real OpenTelemetry SDK (spans kept in memory): the envelope's trace exists before
the first step and every step is in it; the vocabulary is written; no content unless asked; exceptions
recorded and raised on; decorators and async; retries stay one run, in the trace or after it."""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from failpath import agent
from failpath.signals.errors import ErrorSignalsConfig
from failpath.signals.vocabulary import DEFAULT_SOURCES

SECRET = "jane.doe@example.com"


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def _by_name(memory: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in memory.get_finished_spans()}


def test_the_envelope_is_the_root_of_every_step_and_writes_the_vocabulary(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = recorded
    with agent.run("refunds", actor="user-42", run_id="run-1", token_budget=4000, provider=provider) as run:
        trace_id = run.trace_id  # before any step
        assert memory.get_finished_spans() == ()
        with agent.planner() as plan:
            plan.plan(["lookup_order", "refund_order"], revision=1)
        with agent.retriever("search_policy", source="policies") as search:
            search.documents(["policy-7", "policy-2"], [0.8, 0.4])
        with agent.router() as route:
            route.route(lane="fast", model="small", risk="low", escalation_required=False)
        with agent.model("gpt-4.1", lane="fast", max_tokens=500) as call:
            call.usage(input_tokens=120, output_tokens=30, finish_reasons=["stop"])
        with agent.verifier("check_answer") as check:
            check.verdict(False, "no citation", score=0.2)
        with agent.guardrail("moderation") as guard:
            guard.verdict(True)
    spans = _by_name(memory)
    root = spans["invoke_agent refunds"]
    assert format(root.context.trace_id, "032x") == trace_id and root.parent is None
    assert all(format(s.context.trace_id, "032x") == trace_id for s in spans.values())
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in spans.values() if s != root)
    assert dict(root.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "workflow.name": "refunds",
        "run.id": "run-1",
        "run.attempt": 1,
        "enduser.id": "user-42",
        "agent.token_budget": 4000,
        "agent.run.outcome": "success",
    }
    kinds = {name: (s.attributes or {}).get("agent.step.kind") for name, s in spans.items()}
    assert kinds == {
        "invoke_agent refunds": None,
        "plan": "planner",
        "search_policy": "retriever",
        "route": "router",
        "chat gpt-4.1": "model",
        "check_answer": "verifier",
        "moderation": "guardrail",
    }
    assert spans["plan"].attributes == {
        "agent.step.kind": "planner",
        "gen_ai.operation.name": "plan",
        "agent.plan.steps": ("lookup_order", "refund_order"),
        "agent.plan.revision": 1,
    }
    assert (spans["search_policy"].attributes or {})["retrieval.scores"] == (0.8, 0.4)
    assert (spans["route"].attributes or {})["agent.route.escalation_required"] is False
    model = spans["chat gpt-4.1"].attributes or {}
    assert (model["gen_ai.usage.input_tokens"], model["agent.model.lane"], model["gen_ai.request.max_tokens"]) == (
        120,
        "fast",
        500,
    )
    assert (spans["check_answer"].attributes or {})["verifier.passed"] is False
    assert (spans["moderation"].attributes or {})["guardrail.passed"] is True


def test_no_content_leaves_unless_asked(recorded: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, memory = recorded
    for record_content in (False, True):
        with agent.run("refunds", record_content=record_content, provider=provider):
            with agent.tool("lookup_order") as call:
                call.arguments({"order_id": "A-1", "email": SECRET})
                call.result({"customer": SECRET})
            with agent.model("gpt-4.1") as answer:
                answer.output(f"Write to {SECRET}")
    first, second = [span for span in memory.get_finished_spans() if span.name == "execute_tool lookup_order"]
    everything = [str(value) for span in memory.get_finished_spans()[:3] for value in (span.attributes or {}).values()]
    assert not any(SECRET in value for value in everything)
    assert (first.attributes or {})["agent.tool.argument_keys"] == ("email", "order_id")
    assert (first.attributes or {})["agent.tool.result_size"] == len('{"customer": "jane.doe@example.com"}')
    assert SECRET in str((second.attributes or {})["gen_ai.tool.call.arguments"])  # asked: recorded
    assert SECRET in str((second.attributes or {})["gen_ai.tool.call.result"])


def test_an_exception_is_recorded_on_the_step_and_the_run_and_raised_on(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = recorded
    with pytest.raises(TimeoutError), agent.run("refunds", provider=provider), agent.tool("refund_order"):
        raise TimeoutError("payments API did not answer")
    spans = _by_name(memory)
    tool, root = spans["execute_tool refund_order"], spans["invoke_agent refunds"]
    for span in (tool, root):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "TimeoutError: payments API did not answer"
        assert [event.name for event in span.events] == ["exception"]
    assert (tool.attributes or {})["tool.success"] is False and (tool.attributes or {})["agent.tool.timed_out"]
    assert (tool.attributes or {})["error.type"] == "TimeoutError"
    assert (root.attributes or {})["agent.run.outcome"] == "failure"


def test_a_step_can_fail_without_an_exception(recorded: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, memory = recorded
    with agent.run("refunds", provider=provider) as run, agent.tool("refund_order") as call:
        call.fail("refund refused: over limit", error_type="LimitExceeded")
        run.outcome("failure", limit="refund_amount")
    spans = _by_name(memory)
    tool = spans["execute_tool refund_order"]
    assert tool.status.status_code is StatusCode.ERROR and (tool.attributes or {})["tool.success"] is False
    assert (spans["invoke_agent refunds"].attributes or {})["agent.run.limit"] == "refund_amount"


def test_decorators_sync_and_async(recorded: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, memory = recorded

    @agent.tool("lookup_order")
    def lookup(order_id: str, verbose: bool = False) -> dict[str, str]:
        return {"status": "delivered"}

    @agent.model("gpt-4.1")
    async def answer(prompt: str) -> str:
        await asyncio.sleep(0)
        return "ok"

    @agent.run("refunds", provider=provider)
    async def handle() -> str:
        lookup("A-1")
        lookup("A-2", verbose=True)
        return await answer("hello")

    assert asyncio.run(handle()) == "ok"
    assert asyncio.run(handle()) == "ok"
    spans = memory.get_finished_spans()
    roots = [span for span in spans if span.parent is None]
    assert len(roots) == 2 and len({(r.attributes or {})["run.id"] for r in roots}) == 2  # a run per call
    tools = [span for span in spans if span.name == "execute_tool lookup_order"]
    assert [(s.attributes or {})["agent.tool.argument_keys"] for s in tools[:2]] == [
        ("order_id",),
        ("order_id", "verbose"),
    ]
    assert all((s.attributes or {})["tool.success"] is True for s in tools)
    assert all(s.parent is not None for s in spans if s.name == "chat gpt-4.1")


def test_a_retry_inside_the_run_stays_in_its_trace_linked_to_the_attempt_before(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = recorded
    with agent.run("refunds", run_id="run-9", provider=provider) as run:
        with agent.tool("refund_order") as call:
            call.fail("timed out")
        again = run.retry()
        assert again is run and run.attempt == 2
        with agent.tool("refund_order"):
            pass
    spans = memory.get_finished_spans()
    assert len({span.context.trace_id for span in spans}) == 1
    attempt = next(span for span in spans if span.name == "attempt 2 refunds")
    root = next(span for span in spans if span.parent is None)
    assert [link.context.span_id for link in attempt.links] == [root.context.span_id]
    assert (attempt.attributes or {})["run.attempt"] == 2 and (root.attributes or {})["run.attempt"] == 2
    second_try = [span for span in spans if span.name == "execute_tool refund_order"][1]
    assert second_try.parent is not None and second_try.parent.span_id == attempt.context.span_id


def test_a_retry_after_the_run_is_a_new_trace_of_the_same_run(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = recorded
    first = agent.run("refunds", provider=provider)
    with pytest.raises(RuntimeError), first:
        raise RuntimeError("gave up")
    with first.retry() as second:
        assert second.attempt == 2 and second.run_id == first.run_id and second.trace_id != first.trace_id
    roots = [span for span in memory.get_finished_spans() if span.parent is None]
    assert [(r.attributes or {})["run.attempt"] for r in roots] == [1, 2]
    assert [link.context.span_id for link in roots[1].links] == [roots[0].context.span_id]


def test_docs_agent_md_lists_what_the_helpers_write(recorded: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    """Every attribute the helpers write (every method called, content on) is named in docs/agent.md, and
    failpath reads the fact names among them by default."""
    provider, memory = recorded
    with agent.run(
        "w", actor="a", task="t", token_budget=1, allowed_steps=["x"], record_content=True, provider=provider
    ) as run:
        with agent.planner() as plan:
            plan.plan(["x"], revision=1)
        with agent.retriever(source="s", cache_hit=False) as search:
            search.documents(["d"], [0.5])
        with agent.tool("x", timeout_class="5s", retry_count=0, cache_hit=True) as call:
            call.arguments({"k": 1})
            call.result("r")
        with pytest.raises(TimeoutError), agent.tool("y"):
            raise TimeoutError
        with agent.model("m", lane="l", max_tokens=1, provider="p") as answer:
            answer.usage(1, 2, ["stop"])
            answer.output("o")
        with agent.verifier() as check:
            check.verdict(True, "r", 1.0)
        with agent.guardrail() as guard:
            guard.verdict(True)
        with agent.router() as route:
            route.route("l", "m", "r", True, False)
        run.outcome("failure", limit="turns")
        run.feedback("negative")
        run.retry()
    written = {key for span in memory.get_finished_spans() for key in (span.attributes or {})}
    page = (Path(__file__).parents[2] / "docs" / "agent.md").read_text()
    named = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", page))
    wildcards = {name.removesuffix(".*") for name in re.findall(r"`([a-z_.]+\.\*)`", page)}
    undocumented = {key for key in written if key not in named and not any(key.startswith(w) for w in wildcards)}
    assert undocumented == set()
    facts = {source for sources in DEFAULT_SOURCES.values() for source in sources if isinstance(source, str)}
    # Beside the facts: error signals, the workflow key, document ids (agents/step_facts.py reads them).
    read = (
        ErrorSignalsConfig().false_keys + ErrorSignalsConfig().present_keys + ("workflow.name", "retrieval.documents")
    )
    assert {
        key for key in written if key.startswith(("agent.route", "agent.plan", "verifier.", "retrieval."))
    } <= facts | set(read)
