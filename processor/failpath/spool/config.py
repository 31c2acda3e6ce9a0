"""The spool's YAML: where accepted spans are written before they are acknowledged, and how durably."""

from typing import Literal

from pydantic import Field

from failpath.config_types import ByteSize, Duration, Strict


class SpoolConfig(Strict):
    # Accepted requests (already redacted) are written here before the client gets its OK, and replayed
    # after a crash until their spans are handed on for good.
    enabled: bool = True
    path: str = "spool"
    # interval: the OK waits for an fsync shared by every request of the last `sync_interval` (survives
    # power loss); none: written to the OS at once, never fsynced (survives a killed process, not a lost
    # machine).
    sync: Literal["interval", "none"] = "interval"
    sync_interval: Duration = Field(default=0.005, gt=0, le=1)
    # ... or as soon as this much is written since the last fsync, whichever comes first.
    sync_bytes: ByteSize = Field(default=4 << 20, ge=1)
    segment_bytes: ByteSize = Field(default=16 << 20, ge=1 << 16)
    # Past this, receivers answer 503/UNAVAILABLE until spans are handed on and segments released.
    max_bytes: ByteSize = Field(default=1 << 30, ge=1 << 20)
