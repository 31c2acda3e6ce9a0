"""Replay packets: which traces get one, its size cap, where it is kept, and the bucket rules the diagnosis
uses (diagnosis/config.py describes them)."""

from typing import Self

from pydantic import Field, model_validator

from failpath.config_types import ByteSize, Duration, Names, Strict
from failpath.diagnosis.config import BucketRuleConfig, default_buckets, unique_names


class PacketRetentionConfig(Strict):
    max_age: Duration = 30 * 86400.0
    max_packets: int = Field(default=100_000, ge=1)


class PacketsConfig(Strict):
    """Packets need tail sampling: they are built when a trace is decided."""

    enabled: bool = True
    # Traces with a failure the diagnosis confirms get a packet (a run whose every failure was recovered gets
    # none); also those kept by these policies (escalations; add your latency policy's name for slow runs).
    policies: Names = ("escalated",)
    # A packet larger than this is trimmed (docs/architecture.md lists the order).
    max_bytes: ByteSize = 16 << 10
    # Recorded tool results and model outputs (redacted content, or summaries) are cut to this length.
    max_text_chars: int = Field(default=1000, ge=80)
    # Under data_dir: <path>/YYYY-MM-DD/<trace_id>.json, indexed in the embedded store.
    path: str = "replay"
    retention: PacketRetentionConfig = PacketRetentionConfig()
    buckets: list[BucketRuleConfig] = Field(default_factory=default_buckets)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        unique_names(self.buckets)
        return self
