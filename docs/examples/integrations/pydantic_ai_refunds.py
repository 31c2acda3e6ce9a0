"""pydantic-ai pointed at failpath (docs/integrations.md). pydantic-ai's own instrumentation records the
agent, model and tool spans in OpenTelemetry GenAI names; failpath.agent adds the run envelope (run id,
actor, allowed steps, outcome) around it. Offline: the model is pydantic-ai's FunctionModel, scripted to
call a tool whose API is down. Prints the run's trace id.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python docs/examples/integrations/pydantic_ai_refunds.py
"""

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from failpath import agent as failpath

provider = failpath.configure(service_name="refunds-pydantic-ai")  # the OTLP exporter, on the global provider
Agent.instrument_all()  # pydantic-ai's spans go to that provider


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if any(message.kind == "response" for message in messages):
        return ModelResponse(parts=[TextPart("The refund is done.")], model_name="gpt-4.1-mini")
    return ModelResponse(parts=[ToolCallPart("refund_order", {"order_id": "A-1001"})], model_name="gpt-4.1-mini")


refunds = Agent(FunctionModel(scripted, model_name="gpt-4.1-mini"), name="refunds")


@refunds.tool_plain
def refund_order(order_id: str) -> str:
    raise ConnectionError("payments API returned 503 Service Unavailable")


envelope = failpath.run("refunds", actor="user-42", allowed_steps=["refund_order"])
try:
    with envelope:
        refunds.run_sync("Refund order A-1001, please.")
except ConnectionError:
    pass  # recorded on the tool span and the run
provider.shutdown()
print(envelope.trace_id)
