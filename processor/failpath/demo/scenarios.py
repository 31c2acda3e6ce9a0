"""A scripted support agent built on failpath.agent: no model and no network, each run a fixed sequence of
steps. Healthy runs, one failure per bucket (the way each typically shows in a real agent), and a run whose
retry fails too. `failpath demo` runs them against failpath; the tests run them to check the helpers."""

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from failpath import agent

WORKFLOW = "support-refunds"
ALLOWED = ("lookup_order", "search_policy", "refund_order")


class ToolTimeout(TimeoutError):
    """The payments API did not answer in time."""


def _pause() -> None:
    time.sleep(0.002)  # steps take a little time, so the waterfall shows them in order


def _retrieve(documents: list[str], scores: list[float]) -> None:
    with agent.retriever("search_policy", source="refund-policies") as search:
        _pause()
        search.documents(documents, scores)


def _model(lane: str = "careful", output: str = "Refund approved for order A-1001.") -> None:
    with agent.model("gpt-4.1", lane=lane, max_tokens=800) as call:
        _pause()
        call.usage(input_tokens=1200, output_tokens=180, finish_reasons=["stop"])
        call.output(output)


def _verify(passed: bool, reason: str | None = None) -> None:
    with agent.verifier("check_answer") as check:
        _pause()
        check.verdict(passed, reason)


def _lookup() -> None:
    with agent.tool("lookup_order", timeout_class="5s") as call:
        call.arguments({"order_id": "A-1001", "customer_email": "jane.doe@example.com"})
        _pause()
        call.result({"status": "delivered", "amount": 42.5})


def healthy(actor: str) -> str:
    with agent.run(WORKFLOW, actor=actor, task="refund a delivered order", allowed_steps=ALLOWED) as run:
        with agent.planner() as plan:
            plan.plan(["lookup_order", "search_policy", "refund_order"])
        _lookup()
        _retrieve(["policy-7", "policy-2"], [0.82, 0.61])
        _model()
        with agent.tool("refund_order", timeout_class="30s") as call:
            call.arguments({"order_id": "A-1001", "amount": 42.5})
            call.result({"refund_id": "R-77"})
        _verify(True)
        return run.trace_id


def retrieval_miss(actor: str) -> str:
    """The policy search finds nothing; the model answers anyway and the check rejects it."""
    with agent.run(WORKFLOW, actor=actor, task="refund a damaged order", allowed_steps=ALLOWED) as run:
        with agent.planner() as plan:
            plan.plan(["lookup_order", "search_policy"])
        _lookup()
        _retrieve([], [])
        _model(output="Refunds are not possible.")
        _verify(False, "the answer cites no policy")
        run.outcome("failure")
        return run.trace_id


def tool_execution(actor: str) -> str:
    """The payments API times out: the exception ends the run (the agent gives up)."""
    envelope = agent.run(WORKFLOW, actor=actor, task="refund a delivered order", allowed_steps=ALLOWED)
    try:
        with envelope:
            with agent.planner() as plan:
                plan.plan(["lookup_order", "refund_order"])
            _lookup()
            _model()
            with agent.tool("refund_order", timeout_class="30s") as call:
                call.arguments({"order_id": "A-1001", "amount": 42.5})
                _pause()
                raise ToolTimeout("payments API did not answer in 30s")
    except ToolTimeout:
        pass  # recorded on the tool step and the run
    return envelope.trace_id


def routing_mistake(actor: str) -> str:
    """A high-risk refund goes to the fast lane although it had to be escalated."""
    with agent.run(WORKFLOW, actor=actor, task="refund 4,800 EUR", allowed_steps=ALLOWED) as run:
        with agent.router("select_model") as route:
            route.route(lane="fast", model="gpt-4.1-mini", risk="high", escalation_required=True, escalated=False)
        _lookup()
        _model(lane="fast", output="Refund of 4,800 EUR approved.")
        _verify(False, "a refund over 1,000 EUR needs the careful lane")
        run.outcome("failure")
        return run.trace_id


def planner_drift(actor: str) -> str:
    """The plan calls a tool the task does not allow; everything downstream follows it."""
    with agent.run(WORKFLOW, actor=actor, task="refund a delivered order", allowed_steps=ALLOWED) as run:
        with agent.planner() as plan:
            plan.plan(["lookup_order", "close_account"])
        _lookup()
        with agent.tool("close_account", timeout_class="5s") as call:
            call.arguments({"customer_id": "C-9"})
            call.result({"closed": True})
        _verify(False, "the customer asked for a refund, not a closed account")
        run.outcome("failure")
        return run.trace_id


def verifier_false_positive(actor: str) -> str:
    """The check passes a wrong answer; the customer says so."""
    with agent.run(WORKFLOW, actor=actor, task="refund a delivered order", allowed_steps=ALLOWED) as run:
        with agent.planner() as plan:
            plan.plan(["lookup_order", "search_policy"])
        _lookup()
        _retrieve(["policy-7"], [0.77])
        _model(output="Refund approved for order A-1002.")  # the wrong order
        _verify(True)
        run.feedback("negative")
        return run.trace_id


def retried(actor: str) -> list[str]:
    """A run that fails, is retried as attempt 2 of the same run (a new trace, linked), and fails again."""
    first = agent.run(WORKFLOW, actor=actor, task="refund a delivered order", allowed_steps=ALLOWED)
    trace_ids = []
    for envelope in (first, None):
        attempt = envelope or first.retry()
        try:
            with attempt:
                trace_ids.append(attempt.trace_id)
                _lookup()
                with agent.tool("refund_order", timeout_class="30s", retry_count=attempt.attempt - 1) as call:
                    call.arguments({"order_id": "A-1001", "amount": 42.5})
                    raise ToolTimeout("payments API did not answer in 30s")
        except ToolTimeout:
            pass
    return trace_ids


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    bucket: str | None  # the bucket failpath should give it; None: healthy, no packet
    run: Callable[[str], str]


FAILURES = (
    Scenario("retrieval_miss", "retrieval_miss", retrieval_miss),
    Scenario("tool_execution", "tool_execution", tool_execution),
    Scenario("routing_mistake", "routing_mistake", routing_mistake),
    Scenario("planner_drift", "planner_drift", planner_drift),
    Scenario("verifier_false_positive", "verifier_false_positive", verifier_false_positive),
)
HEALTHY = Scenario("healthy", None, healthy)


def run_all(healthy_runs: int = 5) -> dict[str, str | None]:
    """Every scenario once (healthy ones healthy_runs times, then the retried run): trace id -> the bucket
    expected (None for healthy runs)."""
    expected: dict[str, str | None] = {}
    for index in range(healthy_runs):
        expected[HEALTHY.run(f"user-{index}")] = None
    for index, scenario in enumerate(FAILURES):
        expected[scenario.run(f"user-{100 + index}")] = scenario.bucket
    for trace_id in retried("user-200"):
        expected[trace_id] = "tool_execution"
    return expected


def main() -> None:
    """The scripted agent as a process of its own: `python -m failpath.demo.scenarios --endpoint URL`; prints
    {trace id: expected bucket} as JSON once every span has left."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--endpoint", help="failpath's OTLP/HTTP base URL (default: OTEL_EXPORTER_OTLP_ENDPOINT)")
    parser.add_argument("--healthy", type=int, default=5, help="healthy runs before the failing ones")
    args = parser.parse_args()
    provider = agent.configure(args.endpoint, service_name="support-agent")
    expected = run_all(args.healthy)
    provider.shutdown()
    print(json.dumps(expected))


if __name__ == "__main__":
    main()
