"""A packet over its size cap is trimmed in a fixed order until it fits; each step taken is listed in
`trimmed`:
  1. texts: tool results, model outputs, verifier reason and task summary cut to 80 characters;
  2. model_calls: the first 3 and the last 3 kept;
  3. documents: the 5 best of each retrieval kept;
  4. tool_events: those on the failing branch and the last 5 kept;
  5. steps: the first 5 and the 10 before the failure kept;
  6. evidence: the first 3 lines kept; tool result summaries dropped, argument keys cut to 5;
  7. everything: tool events and retrieval references, the last 5 kept; every string cut to 200 characters.
Whatever the size, `related_attempts` lists a run's latest 20 other attempts (store/packets.py MAX_ATTEMPTS);
when it has more, `trimmed` says "related_attempts" too (before any of the steps above).
"""

import json
from collections.abc import Callable
from typing import Any, cast

import orjson

from failpath.packets.packet import Packet

_SUMMARY_CHARS = 280


def cut(text: str | None, limit: int = _SUMMARY_CHARS) -> str | None:
    """The text, or its first limit - 1 characters and an ellipsis."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit(packet: Packet, max_bytes: int) -> bytes:
    """The packet as compact JSON, trimmed in place in the order above until it is at most max_bytes (the
    last step cuts everything, so only a packet whose envelope alone is too big stays over)."""
    encoded = _encode(packet)
    for name, trim in _TRIMS:
        if len(encoded) <= max_bytes:
            break
        trim(packet)
        packet["trimmed"].append(name)
        encoded = _encode(packet)
    return encoded


def _encode(packet: Packet) -> bytes:
    """Compact UTF-8 JSON. orjson writes what json.dumps(ensure_ascii=False, separators=(",", ":")) writes but
    for a float under 1e-4 (0.00001, not 1e-05) and NaN (null: valid JSON), ~10x faster: encoding was a
    quarter of making a packet. An integer beyond 64 bits (a token count read from text) it refuses: the
    standard library writes that packet."""
    try:
        return orjson.dumps(packet)
    except orjson.JSONEncodeError:
        return json.dumps(packet, ensure_ascii=False, separators=(",", ":")).encode()


def _trim_texts(packet: Packet) -> None:
    for event in packet["tool_events"]:
        event["result_summary"] = cut(event["result_summary"], 80)
    for call in packet["model_calls"]:
        call["output_summary"] = cut(call["output_summary"], 80)
    if packet["verifier"]:
        packet["verifier"]["reason"] = cut(packet["verifier"]["reason"], 80)
    packet["task_summary"] = cut(packet["task_summary"], 80)


def _trim_models(packet: Packet) -> None:
    calls = packet["model_calls"]
    if len(calls) > 6:
        packet["model_calls"] = calls[:3] + calls[-3:]


def _trim_documents(packet: Packet) -> None:
    for ref in packet["retrieval_refs"]:
        ref["documents"] = sorted(ref["documents"], key=lambda doc: -(doc["score"] or 0))[:5]


def _trim_tools(packet: Packet) -> None:
    events = packet["tool_events"]
    packet["tool_events"] = [e for i, e in enumerate(events) if e["on_failing_path"] or i >= len(events) - 5]


def _trim_steps(packet: Packet) -> None:
    steps = packet["steps"]
    if len(steps) > 15:
        packet["steps"] = steps[:5] + steps[-10:]


def _trim_evidence(packet: Packet) -> None:
    packet["evidence"] = packet["evidence"][:3]
    for event in packet["tool_events"]:
        event["result_summary"] = None
        event["argument_keys"] = event["argument_keys"][:5]


def _cut_strings(node: Any) -> Any:
    if isinstance(node, str):
        return cut(node, 200)
    if isinstance(node, list):
        return [_cut_strings(item) for item in node]
    if isinstance(node, dict):
        return {key: _cut_strings(value) for key, value in node.items()}
    return node


def _trim_rest(packet: Packet) -> None:
    packet["tool_events"] = packet["tool_events"][-5:]
    packet["retrieval_refs"] = packet["retrieval_refs"][-5:]
    trimmed = packet["trimmed"]
    packet.update(cast(Packet, _cut_strings(packet)))
    packet["trimmed"] = trimmed


_TRIMS: tuple[tuple[str, Callable[[Packet], None]], ...] = (
    ("texts", _trim_texts),
    ("model_calls", _trim_models),
    ("documents", _trim_documents),
    ("tool_events", _trim_tools),
    ("steps", _trim_steps),
    ("evidence", _trim_evidence),
    ("everything", _trim_rest),
)
