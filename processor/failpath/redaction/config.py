"""Config model of the redaction stage."""

import os
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from failpath.config_types import Strict
from failpath.redaction.detectors import BY_NAME
from failpath.redaction.phones import DEFAULT_REGIONS, SUPPORTED_REGIONS

Action = Literal["keep", "drop", "hash", "summarize"]


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regex {pattern!r}: {error}") from None
    return pattern


def allow_list_pattern(item: str) -> str | None:
    """The regex of an allow-list entry written /like this/, or None for an exact key."""
    return item[1:-1] if len(item) > 2 and item[0] == "/" and item[-1] == "/" else None


class KeyRuleConfig(Strict):
    """What to do with an attribute by its key: exact `key`, or `pattern` (a regex matched against the whole key)."""

    key: str | None = None
    pattern: str | None = None
    action: Action

    @field_validator("pattern")
    @classmethod
    def _valid(cls, pattern: str | None) -> str | None:
        return None if pattern is None else _check_regex(pattern)

    @model_validator(mode="after")
    def _one_matcher(self) -> "KeyRuleConfig":
        if (self.key is None) == (self.pattern is None):
            raise ValueError("a key rule has exactly one of key or pattern")
        return self


class CustomDetectorConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # Python regex; when it has groups, `group` says which one is the secret (0: the whole match).
    regex: str
    group: int = Field(default=0, ge=0)
    category: Literal["credential", "personal"] = "credential"
    ignore_case: bool = False

    @field_validator("regex")
    @classmethod
    def _valid(cls, pattern: str) -> str:
        _check_regex(pattern)
        if re.compile(pattern).match(""):
            raise ValueError(f"regex {pattern!r} matches the empty string")
        return pattern

    @model_validator(mode="after")
    def _group_exists(self) -> "CustomDetectorConfig":
        if self.group > re.compile(self.regex).groups:
            raise ValueError(f"regex has no group {self.group}")
        return self


class DetectorsConfig(Strict):
    # Built-in detectors to switch off, and default-off ones (ipv4, ipv6) to switch on.
    disable: list[str] = Field(default_factory=list)
    enable: list[str] = Field(default_factory=list)
    custom: list[CustomDetectorConfig] = Field(default_factory=list)
    # Where national phone numbers (no +) are read from, as ISO 3166 region codes; international forms
    # (+44 ..., 0044 ...) are found whatever this says.
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_REGIONS), min_length=1)

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, regions: list[str]) -> list[str]:
        unknown = [region for region in regions if region.upper() not in SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone region(s) {', '.join(unknown)}: use ISO 3166 codes such as US, GB, DE")
        return [region.upper() for region in regions]

    @field_validator("disable", "enable")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        return names

    def active(self) -> list[str]:
        return [
            name
            for name, detector in BY_NAME.items()
            if (detector.default_on or name in self.enable) and name not in self.disable
        ]


class KeysConfig(Strict):
    # scan: every attribute is kept and scanned unless a rule says otherwise.
    # allow_list: fail closed; attributes whose key is not in `allowed` are dropped (the rest are scanned).
    mode: Literal["scan", "allow_list"] = "scan"
    allowed: list[str] = Field(default_factory=list)
    # Your rules, checked before the built-in ones (first match wins).
    rules: list[KeyRuleConfig] = Field(default_factory=list)
    # Built-in rules: GenAI/OpenInference content keys are summarized, credential headers dropped.
    builtin_rules: bool = True
    # true: content keys (prompts, completions, tool arguments/results, documents) are kept and scanned.
    keep_content: bool = False

    @field_validator("allowed")
    @classmethod
    def _valid_patterns(cls, allowed: list[str]) -> list[str]:
        for item in allowed:
            pattern = allow_list_pattern(item)
            if pattern is not None:
                _check_regex(pattern)
        return allowed

    @model_validator(mode="after")
    def _allow_list_has_keys(self) -> "KeysConfig":
        if self.mode == "allow_list" and not self.allowed:
            raise ValueError("allow_list mode needs at least one key in allowed")
        return self


class RedactionConfig(Strict):
    enabled: bool = True
    # Name of the environment variable holding the HMAC key (at least 32 bytes). Without it, matches are
    # masked as <redacted:RULE> and failpath warns at start.
    hmac_key_env: str | None = "FAILPATH_REDACTION_KEY"
    # auto: the fastest installed (Hyperscan, then RE2, then pure Python); or name one to require it.
    engine: Literal["auto", "hyperscan", "re2", "python"] = "auto"
    detectors: DetectorsConfig = DetectorsConfig()
    keys: KeysConfig = KeysConfig()
    # Values longer than this are cut to their first max_value_chars characters (redacted), followed by
    # <truncated:chars=N:hmac=HASH> for the whole value.
    max_value_chars: int = Field(default=8192, ge=64)
    # Summarized (content) values longer than this are scanned only this far for their list of hits (noted
    # as :scanned=N); length and hash still cover the whole value. Bounds what one value can cost.
    max_scan_chars: int = Field(default=1 << 20, ge=4096)
    # HTML documents in values are reduced to their (redacted) title, length and hash.
    summarize_html: bool = True
    # Write redaction.*.count attributes on spans (and resources/scopes) that had something redacted.
    span_counts: bool = True
    # Also redaction.*.keys: which attribute keys (or span.name, status.message, ...) were affected. Off by
    # default: key names can tell more than counts (like the Collector's summary: debug).
    span_keys: bool = False
    # The C walk over the serialized request (same output as the pure-Python reference, several times
    # cheaper); false: always the reference. Without the built extension, or with span_keys, the reference
    # runs whatever this says.
    native: bool = True

    def hmac_key(self) -> bytes | None:
        if not self.hmac_key_env:
            return None
        value = os.environ.get(self.hmac_key_env)
        return value.encode() if value else None

    @model_validator(mode="after")
    def _key_long_enough(self) -> "RedactionConfig":
        key = self.hmac_key()
        if key is not None and len(key) < 32:
            raise ValueError(f"the HMAC key in {self.hmac_key_env} must be at least 32 bytes")
        return self
