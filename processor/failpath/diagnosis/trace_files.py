"""Traces from a file, for `failpath diagnose`: OTLP/JSON (one request, or the JSONL exporter's one request
per line) or OTLP protobuf (one serialized ExportTraceServiceRequest), split into one request per trace."""

import json
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp import json_codec


class TraceFileError(Exception):
    """A file that cannot be read as traces; the message names the file and what is wrong."""


def read_traces(path: Path) -> list[ExportTraceServiceRequest]:
    """One request per trace in the file, in the order their first spans appear."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TraceFileError(f"{path}: cannot read: {error.strerror or error}") from None
    requests = _json_requests(path, data) if data.lstrip()[:1] in (b"{", b"[") else [_protobuf_request(path, data)]
    traces = split_by_trace(requests)
    if not traces:
        raise TraceFileError(f"{path}: holds no spans")
    return traces


def _json_requests(path: Path, data: bytes) -> list[ExportTraceServiceRequest]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceFileError(f"{path}: not UTF-8 text, and not OTLP protobuf either") from None
    try:
        json.loads(text)
        documents = [text]
    except ValueError:
        documents = [line for line in text.splitlines() if line.strip()]  # JSON lines
    requests = []
    for number, document in enumerate(documents, start=1):
        request = ExportTraceServiceRequest()
        try:
            json_codec.decode_request(document.encode(), request)
        except json_codec.JsonDecodeError as error:
            where = f" (line {number})" if len(documents) > 1 else ""
            raise TraceFileError(f"{path}{where}: not an OTLP/JSON trace request: {error}") from None
        requests.append(request)
    return requests


def _protobuf_request(path: Path, data: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        raise TraceFileError(f"{path}: neither OTLP/JSON nor an OTLP protobuf ExportTraceServiceRequest") from None


def split_by_trace(requests: list[ExportTraceServiceRequest]) -> list[ExportTraceServiceRequest]:
    by_trace: dict[bytes, ExportTraceServiceRequest] = {}
    groups: dict[tuple[bytes, int, int, int], Any] = {}
    for number, request in enumerate(requests):
        for r, resource_spans in enumerate(request.resource_spans):
            for s, scope_spans in enumerate(resource_spans.scope_spans):
                for span in scope_spans.spans:
                    key = (span.trace_id, number, r, s)
                    group = groups.get(key)
                    if group is None:
                        trace = by_trace.get(span.trace_id)
                        if trace is None:
                            trace = by_trace[span.trace_id] = ExportTraceServiceRequest()
                        target = trace.resource_spans.add()
                        target.resource.CopyFrom(resource_spans.resource)
                        group = groups[key] = target.scope_spans.add()
                        group.scope.CopyFrom(scope_spans.scope)
                    group.spans.add().CopyFrom(span)
    return list(by_trace.values())
