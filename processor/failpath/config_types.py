"""Building blocks of the YAML config: strict models, durations ("5s"), sizes ("16MiB"), endpoints."""

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Strict(BaseModel):
    """Every config model refuses unknown keys, so a typo fails at start instead of being ignored, and takes
    values only of their own type: "50000" is not a number and 'yes' is not a boolean (durations and sizes
    are parsed from strings on purpose)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_BYTES = {
    None: 1,
    "B": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
}


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string with a unit: ms, s, m, h, d."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '5s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. 250ms, 5s, 2m, 1h, 7d)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an integer or a string with a unit: B, KiB, MiB, GiB, KB, MB, GB."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '16MiB'")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(match.group(1)) * _SIZE_BYTES[match.group(2)]
    else:
        raise ValueError(f"not a size: {value!r} (use e.g. 4096, 512KiB, 16MiB)")
    if size < 0:
        raise ValueError("a size cannot be negative")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


def _list_as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


# A YAML list of strings, kept as a tuple (config models are frozen); each item must be a string.
Names = Annotated[tuple[str, ...], BeforeValidator(_list_as_tuple)]


def split_host_port(endpoint: str) -> tuple[str, int]:
    """("127.0.0.1", 4317) from "127.0.0.1:4317"; IPv6 hosts are bracketed: "[::1]:4317"."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not a host:port endpoint: {endpoint!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 host needs brackets: {endpoint!r} (e.g. [::1]:4317)")
    return host, int(port)


def _check_endpoint(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("an endpoint is a 'host:port' string")
    split_host_port(value)
    return value


Endpoint = Annotated[str, BeforeValidator(_check_endpoint)]
