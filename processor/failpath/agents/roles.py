"""Which step of an agent run a span is: run (the root), planner, retriever, tool, model, verifier, router,
guardrail or other, read from every common dialect.

Order: your mappings (config), then failpath's vocabulary (`agent.step.kind`), then the dialects' own kind
attributes (OTel GenAI `gen_ai.operation.name`, OpenInference `openinference.span.kind`, OpenLLMetry
`traceloop.span.kind` / `llm.request.type`), then plain hand-instrumented names (`planner`, `retriever`,
`tool:<name>`, `model`, `verifier`, ...), then telling attributes (`gen_ai.tool.name`, `verifier.passed`,
a model name, retrieved documents, a vector-database query).
"""

import re
from collections.abc import Mapping
from typing import cast, get_args

from failpath.agents.config import AgentsConfig, Role

GENAI_OPERATIONS: dict[str, Role] = {
    "chat": "model",
    "text_completion": "model",
    "generate_content": "model",
    "embeddings": "retriever",
    "retrieval": "retriever",
    "execute_tool": "tool",
    "plan": "planner",
    "invoke_agent": "other",
    "create_agent": "other",
    "invoke_workflow": "other",
}
OPENINFERENCE_KINDS: dict[str, Role] = {
    "LLM": "model",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "retriever",
    "EVALUATOR": "verifier",
    "GUARDRAIL": "guardrail",
    "AGENT": "other",
    "CHAIN": "other",
}
TRACELOOP_KINDS: dict[str, Role] = {"tool": "tool", "workflow": "other", "task": "other", "agent": "other"}
# Plain names, searched case-insensitively at the start of the span name (followed by a non-letter, so
# "verify_answer" and "retriever.search" count, "modeling" does not).
_NAME_PATTERNS: tuple[tuple[str, Role], ...] = (
    (r"^(?:tool|execute_tool)[:\s]+(?P<tool>\S.*)$", "tool"),
    (r"^(?:planner|plan|planning|replan)(?![a-z])", "planner"),
    (r"^(?:retriever|retrieve|retrieval|search_docs|vector_search|rerank)(?![a-z])", "retriever"),
    (r"^(?:verifier|verify|verification|evaluator|evaluate|judge|check_answer)(?![a-z])", "verifier"),
    (r"^(?:router|route|routing|select_model)(?![a-z])", "router"),
    (r"^(?:guardrail|moderation|safety_check)(?![a-z])", "guardrail"),
    (r"^(?:model|llm|chat|completion|generate)(?![a-z])", "model"),
)
_NAMES = tuple((re.compile(pattern, re.IGNORECASE), role) for pattern, role in _NAME_PATTERNS)
_ATTRIBUTE_HINTS: tuple[tuple[str, Role], ...] = (
    ("gen_ai.tool.name", "tool"),
    ("tool.name", "tool"),
    ("verifier.passed", "verifier"),
    ("router.selected_model", "router"),
    ("route.selected", "router"),
    ("gen_ai.request.model", "model"),
    ("llm.model_name", "model"),
    ("retrieval.documents", "retriever"),
    ("gen_ai.retrieval.documents", "retriever"),
    # OpenLLMetry's vector-database instrumentations (Chroma, Pinecone, Qdrant...).
    ("db.vector.query.top_k", "retriever"),
)
# A span none of whose keys is a hint or starts with one and a dot is looked at once, not once per hint.
_HINT_KEYS = frozenset(key for key, _ in _ATTRIBUTE_HINTS)
_HINT_PREFIXES = tuple(key + "." for key, _ in _ATTRIBUTE_HINTS)
_ROLES: frozenset[str] = frozenset(get_args(Role))


class RoleReader:
    def __init__(self, config: AgentsConfig) -> None:
        self._names = [(re.compile(rule.pattern), rule.role) for rule in config.span_names]
        self._attributes = config.attributes

    def role(
        self, name: str, attributes: Mapping[str, object], facts: Mapping[str, object], root: bool
    ) -> tuple[Role, str | None]:
        """(role, tool name if the span name carries one); facts are the vocabulary's facts of the span."""
        if root:
            return "run", None
        for pattern, role in self._names:
            match = pattern.search(name)
            if match:
                return role, match.groupdict().get("tool")
        for rule in self._attributes:
            value = attributes.get(rule.attribute)
            if value is not None and (rule.equals is None or str(value) == rule.equals):
                return rule.role, None
        kind = facts.get("step.kind")
        if isinstance(kind, str) and kind in _ROLES and kind != "run":
            return cast(Role, kind), None
        # A dialect's agent/chain/workflow kind is a container: its name may still say it plans or routes,
        # but its attributes (the model it was configured with, say) do not make it a model call.
        container = False
        for key, kinds in (
            ("gen_ai.operation.name", GENAI_OPERATIONS),
            ("openinference.span.kind", OPENINFERENCE_KINDS),
            ("traceloop.span.kind", TRACELOOP_KINDS),
        ):
            kind = attributes.get(key)
            if isinstance(kind, str) and kind in kinds:
                if kinds[kind] != "other":
                    return kinds[kind], None
                container = True
        if not container and attributes.get("llm.request.type") is not None:
            return "model", None
        for pattern, role in _NAMES:
            match = pattern.search(name)
            if match:
                return role, match.groupdict().get("tool")
        if container:
            return "other", None
        if _HINT_KEYS.isdisjoint(attributes) and not any(key.startswith(_HINT_PREFIXES) for key in attributes):
            return "other", None
        for key, role in _ATTRIBUTE_HINTS:
            if key in attributes or any(k.startswith(key + ".") for k in attributes):
                return role, None
        return "other", None
