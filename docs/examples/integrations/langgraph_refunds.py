"""LangGraph pointed at failpath (docs/integrations.md). openinference-instrumentation-langchain records
the graph's chains, the model calls, tools and retrievers in OpenInference names; failpath.agent adds the
run envelope around the graph. Offline: LangChain's fake chat model, scripted to call a tool whose API is
down. Prints the run's trace id.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python docs/examples/integrations/langgraph_refunds.py
"""

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.prebuilt import ToolNode, create_react_agent
from openinference.instrumentation.langchain import LangChainInstrumentor

from failpath import agent as failpath

provider = failpath.configure(service_name="refunds-langgraph")
LangChainInstrumentor().instrument(tracer_provider=provider)


class ScriptedModel(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@tool
def refund_order(order_id: str) -> str:
    """Refund an order."""
    raise ConnectionError("payments API returned 503 Service Unavailable")


call = AIMessage(content="", tool_calls=[{"name": "refund_order", "args": {"order_id": "A-1001"}, "id": "call-1"}])
graph = create_react_agent(ScriptedModel(responses=[call, AIMessage("The refund is done.")]), ToolNode([refund_order]))

envelope = failpath.run("refunds", actor="user-42", allowed_steps=["refund_order"])
try:
    with envelope:
        graph.invoke({"messages": [("user", "Refund order A-1001, please.")]})
except ConnectionError:
    pass
provider.shutdown()
print(envelope.trace_id)
