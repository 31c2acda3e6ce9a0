"""OpenTelemetry consistent probability sampling: 56-bit randomness, rejection thresholds, and the W3C
tracestate `ot=th:` entry that lets backends re-weight counts.

A trace is kept iff R >= T, where R is the `rv` value from tracestate or the trace id's low 56 bits, and
T = (1 - p) * 2^56. Thresholds carry 4 hex digits of precision, as the specification recommends, and the
decision uses the rounded threshold so what is written is exactly what was applied.
"""

import re

MAX = 1 << 56
_DIGITS = 4
_OT_ENTRY = re.compile(r"(?:^|,)\s*ot=([^,]*)")
_RV = re.compile(r"(?:^|;)rv:([0-9a-f]{14})(?:;|$)")
_TH = re.compile(r"(?:^|;)th:([0-9a-f]{1,14})(?:;|$)")


def threshold(probability: float) -> int:
    """The rejection threshold for keeping with this probability, rounded to 4 significant hex digits
    (leading zeros or f's do not count, as in the Collector's pkg/sampling)."""
    if probability >= 1:
        return 0
    digits = _DIGITS
    reject = 1 - probability
    while reject * 16 < 1 and digits < 14:
        reject *= 16
        digits += 1
    accept = probability
    while accept * 16 < 1 and digits < 14:
        accept *= 16
        digits += 1
    step = 1 << (4 * (14 - digits))
    rejected = round((1 - probability) * MAX / step) * step
    # Never round a positive probability down to zero.
    return min(rejected, MAX - step)


def adjusted_count(rejection: int) -> float:
    """How many traces each kept one stands for."""
    return MAX / (MAX - rejection)


def encode(rejection: int) -> str:
    """th value: hex, trailing zeros removed ("0" for 100%)."""
    return f"{rejection:014x}".rstrip("0") or "0"


def decode(th: str) -> int:
    return int(th.ljust(14, "0"), 16)


def randomness(trace_id: bytes, trace_state: str = "") -> int:
    """R: explicit `rv` from the span's tracestate, else the trace id's low 56 bits (W3C random flag)."""
    if trace_state:
        entry = _OT_ENTRY.search(trace_state)
        if entry and (rv := _RV.search(entry.group(1))):
            return int(rv.group(1), 16)
    return int.from_bytes(trace_id[9:16], "big")


def with_threshold(trace_state: str, rejection: int) -> str:
    """The tracestate with its `ot` entry's th raised to at least rejection (thresholds only ever rise,
    so an earlier sampler's weight is never undone); the ot entry moves to the front, as W3C asks of
    a modified entry."""
    entries = [part.strip() for part in trace_state.split(",") if part.strip()] if trace_state else []
    ot_fields: list[str] = []
    others: list[str] = []
    for entry in entries:
        if entry.startswith("ot="):
            ot_fields = [item for item in entry[3:].split(";") if item]
        else:
            others.append(entry)
    current = next((decode(item[3:]) for item in ot_fields if _TH.fullmatch(item)), 0)
    ot_fields = [item for item in ot_fields if not item.startswith("th:")]
    ot_fields.insert(0, f"th:{encode(max(current, rejection))}")
    return ",".join([f"ot={';'.join(ot_fields)}", *others])
