"""`failpath replay PACKET --otlp ENDPOINT`: the packet's steps as spans of a new trace, linked to the
original, sent to any OTLP backend so the failing path can be looked at in a trace viewer.

The replay keeps the original run's resource identity (service, OpenInference project...), so a backend
files it beside the original; each span says what kind of step it is in both conventions viewers read
(`openinference.span.kind`, OpenTelemetry GenAI `gen_ai.operation.name`), the failing step and the root
carry ERROR status, and the root names the original trace (`failpath.replay.of_trace_id`, and a link).

ENDPOINT is `host:port` (OTLP/gRPC) or an `http(s)://` URL (OTLP/HTTP protobuf; `/v1/traces` is added
when the URL has no path).
"""

import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value
from failpath.packets.packet import Packet

_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# A step's role as OpenInference's span kind and the GenAI operation (roles without one get none).
_KINDS: dict[str, tuple[str, str | None]] = {
    "run": ("AGENT", "invoke_agent"),
    "model": ("LLM", "chat"),
    "tool": ("TOOL", "execute_tool"),
    "retriever": ("RETRIEVER", "retrieval"),
    "verifier": ("EVALUATOR", None),
    "guardrail": ("GUARDRAIL", None),
    "planner": ("CHAIN", None),
    "router": ("CHAIN", None),
    "other": ("CHAIN", None),
}


def _kind_attributes(role: str) -> list[KeyValue]:
    span_kind, operation = _KINDS.get(role, ("CHAIN", None))
    found = [key_value("openinference.span.kind", span_kind)]
    return found + ([key_value("gen_ai.operation.name", operation)] if operation else [])


class ReemitError(Exception):
    """The backend could not be reached or refused the re-emitted trace."""


def to_request(packet: Packet, now_ns: int | None = None) -> ExportTraceServiceRequest:
    """A new trace: a root span for the replay, one child per recorded step (nested as recorded)."""
    start = now_ns or time.time_ns()
    trace_id, root_id = os.urandom(16), os.urandom(8)
    original = bytes.fromhex(packet["trace_id"])
    failing = packet["failing_span"]
    root = Span(
        trace_id=trace_id,
        span_id=root_id,
        name=f"replay {packet['run']['workflow']}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(packet["duration_ms"] * 1e6),
        attributes=[
            key_value("failpath.replay.of_trace_id", packet["trace_id"]),
            key_value("failpath.replay.failure_bucket", packet["failure_bucket"]),
            key_value("failpath.replay.next_action", packet["next_action"]),
            *_kind_attributes("run"),
        ],
    )
    # The run failed (that is why it has a packet): the replay's root says so, with where it broke.
    root.status.code = Status.STATUS_CODE_ERROR
    root.status.message = f"{packet['failure_bucket']}: " + (
        f"{failing['label']}: {failing['error'] or 'failed'}" if failing else "failed"
    )
    if failing is not None:
        root.links.add(trace_id=original, span_id=bytes.fromhex(failing["span_id"])).attributes.append(
            key_value("failpath.replay.link", "failing span of the original run")
        )
    tools = {event["span_id"]: event for event in packet["tool_events"]}
    models = {call["span_id"]: call for call in packet["model_calls"]}
    new_ids = {step["span_id"]: os.urandom(8) for step in packet["steps"]}
    spans = [root]
    for step in packet["steps"]:
        span = Span(
            trace_id=trace_id,
            span_id=new_ids[step["span_id"]],
            parent_span_id=new_ids.get(step["parent_span_id"] or "", root_id),
            name=step["name"],
            start_time_unix_nano=start + int(step["start_offset_ms"] * 1e6),
            end_time_unix_nano=start + int((step["start_offset_ms"] + step["duration_ms"]) * 1e6),
            kind=Span.SPAN_KIND_CLIENT if step["role"] in ("model", "retriever") else Span.SPAN_KIND_INTERNAL,
            attributes=[
                key_value("failpath.step.role", step["role"]),
                key_value("failpath.step.label", step["label"]),
                key_value("failpath.replay.of_span_id", step["span_id"]),
                *_kind_attributes(step["role"]),
            ],
        )
        if step["status"] == "error":
            span.status.code = Status.STATUS_CODE_ERROR
            if failing is not None and step["span_id"] == failing["span_id"] and failing["error"]:
                span.status.message = failing["error"]
        details: Mapping[str, object] = tools.get(step["span_id"]) or models.get(step["span_id"]) or {}
        for key in ("tool", "exit_code", "error_type", "retry_count", "model", "input_tokens", "output_tokens"):
            if details.get(key) is not None:
                span.attributes.append(key_value(f"failpath.step.{key}", details[key]))
        for key, name in (("tool", "gen_ai.tool.name"), ("model", "gen_ai.request.model")):
            if details.get(key) is not None:  # the names viewers show a tool and a model call by
                span.attributes.append(key_value(name, details[key]))
        spans.append(span)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    identity = packet["run"]["resource"] or {"service.name": packet["run"]["service"] or "unknown_service"}
    resource_spans.resource.attributes.extend(key_value(key, value) for key, value in identity.items())
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "failpath.replay"
    scope_spans.spans.extend(spans)
    return request


def send(request: ExportTraceServiceRequest, endpoint: str, timeout: float = 10.0) -> None:
    body = request.SerializeToString()
    if endpoint.startswith(("http://", "https://")):
        url = endpoint if urlsplit(endpoint).path not in ("", "/") else endpoint.rstrip("/") + "/v1/traces"
        http = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"})
        try:
            with urllib.request.urlopen(http, timeout=timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ReemitError(f"{url}: {exc}") from None
        return
    with grpc.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(_METHOD, request_serializer=None, response_deserializer=None)
        try:
            call(body, timeout=timeout)
        except grpc.RpcError as exc:
            raise ReemitError(f"{endpoint}: {exc.code().name}: {exc.details()}") from None
