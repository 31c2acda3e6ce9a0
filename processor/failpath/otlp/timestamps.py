"""OTLP timestamps (nanoseconds since the Unix epoch) as the ISO 8601 text packets and the CLI show."""

from datetime import UTC, datetime


def iso_time(ns: int) -> str:
    """UTC, milliseconds, Z: the packets' time format."""
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_time(text: str) -> int:
    """The inverse of iso_time (any ISO 8601 text with a zone), in nanoseconds."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)
