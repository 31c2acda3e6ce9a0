"""failpath's agent side: point OpenTelemetry at failpath, wrap each run in an envelope and each step in
a helper, and failpath's diagnosis reads what it needs without guessing.

    from failpath import agent

    agent.configure(service_name="support-agent")
    with agent.run("refunds", actor="user-42") as run:
        with agent.planner() as plan:
            plan.plan(["lookup_order", "refund_order"])
        with agent.tool("refund_order", timeout_class="30s") as call:
            call.arguments({"order_id": "A-1"})
            ...

docs/agent.md is the reference.
"""

from failpath.agent.envelope import Envelope, run
from failpath.agent.setup import configure, exporter
from failpath.agent.steps import (
    GuardrailStep,
    ModelStep,
    PlannerStep,
    RetrieverStep,
    RouterStep,
    Step,
    ToolStep,
    VerdictStep,
    guardrail,
    model,
    planner,
    retriever,
    router,
    tool,
    verifier,
)

__all__ = [
    "Envelope",
    "GuardrailStep",
    "ModelStep",
    "PlannerStep",
    "RetrieverStep",
    "RouterStep",
    "Step",
    "ToolStep",
    "VerdictStep",
    "configure",
    "exporter",
    "guardrail",
    "model",
    "planner",
    "retriever",
    "router",
    "run",
    "tool",
    "verifier",
]
