"""Per-span id checks: a span with a bad id is rejected on its own, the rest of the request goes on."""

from collections import Counter

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp.native import valid_spans

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)

_BAD_TRACE_ID = "trace_id must be 16 bytes and not all zero"
_BAD_SPAN_ID = "span_id must be 8 bytes and not all zero"
_BAD_PARENT_ID = "parent_span_id must be empty or 8 bytes"


def _problem(trace_id: bytes, span_id: bytes, parent_span_id: bytes) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        return _BAD_TRACE_ID
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        return _BAD_SPAN_ID
    if parent_span_id and len(parent_span_id) != 8:
        return _BAD_PARENT_ID
    return None


def checked_spans(body: bytes) -> int | None:
    """The number of spans of a protobuf request body that certainly parses and whose spans all have valid
    ids (the common case), checked on the bytes in one native pass: then nothing needs parsing it at the
    receiver. None: parse it (upb refuses malformed bytes) and check the parsed spans with
    reject_invalid_spans."""
    return valid_spans(body) if valid_spans is not None else None


def reject_invalid_spans(request: ExportTraceServiceRequest) -> tuple[int, int, str]:
    """Remove spans with invalid ids in place. Returns (accepted, rejected, message for partial_success)."""
    accepted = 0
    problems: Counter[str] = Counter()
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            spans = scope.spans
            bad: list[int] = []
            for index, span in enumerate(spans):
                problem = _problem(span.trace_id, span.span_id, span.parent_span_id)
                if problem is None:
                    accepted += 1
                else:
                    problems[problem] += 1
                    bad.append(index)
            for index in reversed(bad):
                del spans[index]
    rejected = sum(problems.values())
    if not rejected:
        return accepted, 0, ""
    detail = "; ".join(f"{reason} ({count})" for reason, count in problems.most_common())
    return accepted, rejected, f"{rejected} span(s) rejected: {detail}"
