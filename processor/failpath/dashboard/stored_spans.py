"""A kept trace's spans from the embedded span store, as text a page can show: what the store holds is what
left redaction, so nothing shown here is a value redaction removed. Long values are cut for the page."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp.values import python_value
from failpath.store.spans import TraceNotFound, read_trace

VALUE_CHARS = 600
MAX_SPANS = 500
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


@dataclass(frozen=True, slots=True)
class StoredSpan:
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: str
    status: str
    status_message: str
    start_offset_ms: float
    duration_ms: float
    attributes: list[tuple[str, str]]
    events: list[tuple[str, list[tuple[str, str]]]]


@dataclass(frozen=True, slots=True)
class StoredTrace:
    spans: list[StoredSpan]  # by start time, at most MAX_SPANS
    total: int


def _text(value: Any) -> str:
    shown = python_value(value)
    if isinstance(shown, str):
        text = shown
    elif isinstance(shown, bytes):
        text = f"({len(shown)} bytes)"
    else:
        text = json.dumps(shown, default=lambda item: f"({len(item)} bytes)", ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else f"{text[:VALUE_CHARS]}… ({len(text)} characters)"


def _pairs(attributes: Any) -> list[tuple[str, str]]:
    return [(attribute.key, _text(attribute.value)) for attribute in attributes]


def stored_trace(store_path: Path, trace_id: str) -> StoredTrace | None:
    """The stored spans of one trace (a full 32-digit id), or None when the store does not hold it."""
    try:
        request = read_trace(store_path, trace_id)
    except TraceNotFound:
        return None
    found: list[tuple[Span, str]] = []
    for resource_spans in request.resource_spans:
        service = next(
            (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
        )
        found.extend((span, service) for scope in resource_spans.scope_spans for span in scope.spans)
    found.sort(key=lambda pair: pair[0].start_time_unix_nano)
    origin = found[0][0].start_time_unix_nano if found else 0
    spans = [
        StoredSpan(
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            name=span.name,
            service=service,
            kind=_KINDS.get(span.kind, str(span.kind)),
            status=_STATUS.get(span.status.code, str(span.status.code)),
            status_message=span.status.message,
            start_offset_ms=(span.start_time_unix_nano - origin) / 1e6,
            duration_ms=max(0, span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
            attributes=_pairs(span.attributes),
            events=[(event.name, _pairs(event.attributes)) for event in span.events],
        )
        for span, service in found[:MAX_SPANS]
    ]
    return StoredTrace(spans, len(found))
