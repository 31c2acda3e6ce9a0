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


def _spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every span and link object of a request document, whichever field-name style it uses."""
    found: list[dict[str, Any]] = []
    for resource in document.get("resourceSpans") or document.get("resource_spans") or []:
        if not isinstance(resource, dict):
            continue
        for scope in resource.get("scopeSpans") or resource.get("scope_spans") or []:
            if not isinstance(scope, dict):
                continue
            for span in scope.get("spans") or []:
                if not isinstance(span, dict):
                    continue
                found.append(span)
                found.extend(link for link in span.get("links") or [] if isinstance(link, dict))
    return found


def decode_request(body: bytes, message: Message) -> None:
    """Parse an OTLP/JSON trace request body into message (unknown fields are ignored, as OTLP requires)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonDecodeError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise JsonDecodeError("body is not a JSON object")
    for holder in _spans(document):
        _hex_ids_to_base64(holder)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error) as exc:
        raise JsonDecodeError(f"not an OTLP/JSON trace request: {exc}") from None


def encode(message: Message) -> bytes:
    """OTLP/JSON bytes of a request or response (enums as integers, hex ids)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    for holder in _spans(document):
        _base64_ids_to_hex(holder)
    return json.dumps(document, separators=(",", ":")).encode()
