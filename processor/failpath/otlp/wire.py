"""Protobuf wire format, just enough to assemble OTLP messages from already-serialized parts.

Buffered spans are kept serialized; a kept trace is written out by framing those bytes into
ResourceSpans/ScopeSpans instead of parsing them back into messages. Concatenated encodings of repeated
fields are valid protobuf, and for a singular field the last occurrence wins.
"""

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

# Field tags (field number << 3 | wire type 2, length-delimited) used in framing.
REQUEST_RESOURCE_SPANS = b"\x0a"  # ExportTraceServiceRequest.resource_spans = 1
RESOURCE = b"\x0a"  # ResourceSpans.resource = 1
SCOPE_SPANS = b"\x12"  # ResourceSpans.scope_spans = 2
SCHEMA_URL = b"\x1a"  # ResourceSpans.schema_url = 3, ScopeSpans.schema_url = 3
SCOPE = b"\x0a"  # ScopeSpans.scope = 1
SPANS = b"\x12"  # ScopeSpans.spans = 2
SPAN_TRACE_STATE = b"\x1a"  # Span.trace_state = 3
SPAN_ATTRIBUTES = b"\x4a"  # Span.attributes = 9


def varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:  # most lengths: two bytes without the loop
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field."""
    return tag + varint(len(payload)) + payload


def numbered_field(number: int, payload: bytes) -> bytes:
    """One length-delimited field, by its field number."""
    return field(varint(number << 3 | 2), payload)


def span_attributes(attributes: list[KeyValue]) -> bytes:
    """Encoded Span.attributes entries: appended to a serialized span, they add to its attributes."""
    return b"".join(field(SPAN_ATTRIBUTES, kv.SerializeToString()) for kv in attributes)


def may_have_trace_state(span: bytes) -> bool:
    """False only when a span serialized by upb (fields in number order) provably has no trace_state: the
    field would sit right after a 16-byte trace id and an 8-byte span id. Anything unexpected says True."""
    if span[:2] == b"\x0a\x10" and span[18:20] == b"\x12\x08":
        return span[28:29] == SPAN_TRACE_STATE
    return True
