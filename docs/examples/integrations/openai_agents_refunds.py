"""The OpenAI Agents SDK pointed at failpath (docs/integrations.md). openinference-instrumentation-openai-agents
turns the SDK's traces into OpenTelemetry spans (OpenInference names) and, with exclusive_processor=True,
stops the SDK sending them to OpenAI; failpath.agent adds the run envelope around the run. Offline: a
Model with canned responses calls a tool whose API is down. Prints the run's trace id.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python docs/examples/integrations/openai_agents_refunds.py
"""

from typing import Any

from agents import Agent, Runner, function_tool
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from failpath import agent as failpath

provider = failpath.configure(service_name="refunds-openai-agents")
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider, exclusive_processor=True)


class ScriptedModel(Model):
    """Calls refund_order, then answers."""

    def __init__(self) -> None:
        self.turn = 0

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        self.turn += 1
        if self.turn == 1:
            output: Any = ResponseFunctionToolCall(
                type="function_call", call_id="call-1", name="refund_order", arguments='{"order_id": "A-1001"}'
            )
        else:
            text: list[ResponseOutputText | ResponseOutputRefusal] = [
                ResponseOutputText(type="output_text", text="The refund is done.", annotations=[])
            ]
            output = ResponseOutputMessage(type="message", id="m", role="assistant", status="completed", content=text)
        return ModelResponse(output=[output], usage=Usage(requests=1), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def refund_order(order_id: str) -> str:
    """Refund an order."""
    raise ConnectionError("payments API returned 503 Service Unavailable")


# failure_error_function=None: the error ends the run instead of going back to the model as text.
refunds = Agent(name="refunds", model=ScriptedModel(), tools=[function_tool(refund_order, failure_error_function=None)])
envelope = failpath.run("refunds", actor="user-42", allowed_steps=["refund_order"])
try:
    with envelope:
        Runner.run_sync(refunds, "Refund order A-1001, please.")
except Exception:  # the SDK wraps the tool's error in its own
    pass
provider.shutdown()
print(envelope.trace_id)
