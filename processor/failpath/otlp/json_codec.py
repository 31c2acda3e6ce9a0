"""The OTLP/JSON mapping: like proto3 JSON, but trace and span ids are hex strings, not base64.

Both directions go through protobuf's json_format, with the ids rewritten on the way in and out.
JSON is the slow, debugging-friendly encoding; protobuf is the hot path and never touches this module.
"""

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

# Span-level and link-level id fields, under both the lowerCamelCase and the original proto names.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class JsonDecodeError(ValueError):
    """The body is not OTLP/JSON; the message says where."""


def _hex_ids_to_base64(holder: dict[str, Any]) -> None:
    for field in _ID_FIELDS:
        value = holder.get(field)
        if not isinstance(value, str):
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            # Not hex: leave the id empty so the span is rejected on its own (partial success).
            raw = b""
        holder[field] = base64.b64encode(raw).decode("ascii")


def _base64_ids_to_hex(holder: dict[str, Any]) -> None:
    for field in ("traceId", "spanId", "parentSpanId"):
        value = holder.get(field)
        if isinstance(value, str):
            holder[field] = base64.b64decode(value).hex()


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _objects(holder: dict[str, Any], names: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    """The objects of the array field holder[name] (either spelling); a wrong shape names the field."""
    for name in names:
        if name not in holder:
            continue
        items = holder[name]
        if items is None:
            return []
        if not isinstance(items, list):
            raise JsonDecodeError(f"{where}{name}: expected an array, got {_kind(items)}")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise JsonDecodeError(f"{where}{name}[{index}]: expected an object, got {_kind(item)}")
        return items
    return []


def _spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every span and link object of a request document, whichever field-name style it uses."""
    found: list[dict[str, Any]] = []
    for r, resource in enumerate(_objects(document, ("resourceSpans", "resource_spans"), "")):
        where = f"resourceSpans[{r}]."
        for s, scope in enumerate(_objects(resource, ("scopeSpans", "scope_spans"), where)):
            for index, span in enumerate(_objects(scope, ("spans",), f"{where}scopeSpans[{s}].")):
                found.append(span)
                found.extend(_objects(span, ("links",), f"{where}scopeSpans[{s}].spans[{index}]."))
    return found


def decode_request(body: bytes, message: Message) -> None:
    """Parse an OTLP/JSON trace request body into message (unknown fields are ignored, as OTLP requires)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonDecodeError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise JsonDecodeError("body is nested too deeply") from None
    if not isinstance(document, dict):
        raise JsonDecodeError("body is not a JSON object")
    for holder in _spans(document):
        _hex_ids_to_base64(holder)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error) as exc:
        raise JsonDecodeError(f"not an OTLP/JSON trace request: {exc}") from None
    except RecursionError:
        raise JsonDecodeError("values are nested too deeply") from None


def encode(message: Message) -> bytes:
    """OTLP/JSON bytes of a request or response (enums as integers, hex ids)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    for holder in _spans(document):
        _base64_ids_to_hex(holder)
    return json.dumps(document, separators=(",", ":")).encode()
