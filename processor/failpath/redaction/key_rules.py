"""Which attributes are kept as they are, dropped, hashed, summarized, or scanned, decided by key."""

import re
from enum import Enum

from failpath.redaction.config import KeyRuleConfig, KeysConfig, allow_list_pattern


class KeyAction(Enum):
    SCAN = "scan"
    KEEP = "keep"
    # redaction.<what>.count from a failpath earlier in the chain: kept if an integer, scanned otherwise.
    COUNTER = "counter"
    DROP = "drop"
    HASH = "hash"
    SUMMARIZE = "summarize"


# Prompts, completions, tool arguments and results, retrieved documents: full of customer text.
CONTENT_KEYS = (
    r"gen_ai\.(?:input\.messages|output\.messages|system_instructions|tool\.call\.(?:arguments|result))",
    r"gen_ai\.(?:prompt|completion)(?:\.\d+\.content)?",
    r"llm\.(?:input|output)_messages\.\d+\.message\.(?:content|contents\.\d+\.message_content\.text)",
    r"llm\.prompt_template\.variables|llm\.prompts\.\d+",
    r"(?:input|output)\.value",
    r"retrieval\.documents\.\d+\.document\.content|embedding\.embeddings\.\d+\.embedding\.text",
    r"traceloop\.entity\.(?:input|output)",
)
# Credential-carrying headers and metadata, as HTTP/RPC semantic conventions name them.
CREDENTIAL_HEADERS = (
    r"(?:http\.request\.header|http\.response\.header|rpc\.grpc\.request\.metadata)\."
    r"(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-amz-security-token)"
)

_CACHE_LIMIT = 10_000
_COUNTER_KEY = re.compile(r"redaction\.(?:masked|redacted|hashed|summarized|truncated)\.count")


class KeyRules:
    """Rules are tried in order, first match wins; the answer per key is cached (keys repeat endlessly)."""

    def __init__(self, config: KeysConfig) -> None:
        rules: list[KeyRuleConfig] = list(config.rules)
        if config.builtin_rules:
            rules.append(KeyRuleConfig(pattern=CREDENTIAL_HEADERS, action="drop"))
            if not config.keep_content:
                rules.extend(KeyRuleConfig(pattern=pattern, action="summarize") for pattern in CONTENT_KEYS)
        self._rules = [
            (rule.key, re.compile(rule.pattern, re.IGNORECASE) if rule.pattern else None, KeyAction(rule.action))
            for rule in rules
        ]
        self._allowed = None if config.mode == "scan" else self._allow_list(config.allowed)
        # Decided actions by key; hot loops read it directly (cached.get(key)) before calling action(key).
        self.cached: dict[str, KeyAction] = {}
        self.allow_list = self._allowed is not None

    @staticmethod
    def _allow_list(allowed: list[str]) -> tuple[frozenset[str], re.Pattern[str] | None]:
        """Entries are exact keys, or /regex/ between slashes."""
        patterns = [pattern for item in allowed if (pattern := allow_list_pattern(item)) is not None]
        exact = frozenset(item for item in allowed if allow_list_pattern(item) is None)
        return exact, re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def action(self, key: str) -> KeyAction:
        action = self.cached.get(key)
        if action is None:
            action = self._decide(key)
            if len(self.cached) < _CACHE_LIMIT:
                self.cached[key] = action
        return action

    def _decide(self, key: str) -> KeyAction:
        if _COUNTER_KEY.fullmatch(key):
            return KeyAction.COUNTER
        if self._allowed is not None:
            exact, pattern = self._allowed
            if key not in exact and not (pattern and pattern.fullmatch(key)):
                return KeyAction.DROP
        for exact_key, pattern, action in self._rules:
            if key == exact_key or (pattern is not None and pattern.fullmatch(key)):
                return action
        return KeyAction.SCAN
