"""Writes a kept trace's buffered spans out as an ExportTraceServiceRequest, decorated with the decision.

Every span gets failpath.sampling.policy, .rate (the adjusted count) and .trigger, appended as encoded
attribute fields (no parse); .late on a span that came after its trace was kept, .late_error on the spans
of a dropped trace a late error brought back. A probabilistic decision also sets the W3C tracestate
`ot=th:` threshold; a span that already has a tracestate, or failpath.sampling attributes from an earlier
failpath, is parsed and merged instead: thresholds only rise and rates multiply.
"""

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.consumer import Decision
from failpath.otlp import wire
from failpath.otlp.native import scope_spans_field
from failpath.otlp.values import key_value
from failpath.sampling import policies, threshold
from failpath.sampling.trace_buffer import Group

POLICY = "failpath.sampling.policy"
RATE = "failpath.sampling.rate"
TRIGGER = "failpath.sampling.trigger"
LATE = "failpath.sampling.late"
# On every span of a dropped trace brought back by an error signal that arrived after the decision.
LATE_ERROR = "failpath.sampling.late_error"
_PREFIX = b"failpath.sampling."


def _attributes(decision: Decision, late: bool, rate: float) -> list[KeyValue]:
    attributes = [
        key_value(POLICY, decision.policy),
        key_value(RATE, float(rate)),
        key_value(TRIGGER, decision.trigger),
    ]
    if late:
        attributes.append(key_value(LATE, True))
    if decision.trigger == policies.LATE_ERROR:
        attributes.append(key_value(LATE_ERROR, True))
    return attributes


# Decorations remembered (see KeptOutput._decorations); past this many kinds of decision they are made anew.
_REMEMBERED = 1024


class KeptOutput:
    def __init__(self, span_attributes: bool) -> None:
        self._span_attributes = span_attributes
        self._remembered: dict[tuple[Decision, bool], tuple[bytes, bytes]] = {}

    def encode(self, groups: dict[Group, list[bytes]], decision: Decision, late: bool = False) -> bytes:
        suffix, state_field = self._decorations(decision, late)
        merge_state = decision.threshold is not None
        by_resource: dict[bytes, list[bytes]] = {}
        for (resource, scope), spans in groups.items():
            framed = None
            if scope_spans_field is not None:
                framed = scope_spans_field(scope, spans, state_field, suffix, self._span_attributes, merge_state)
            if framed is None:  # no extension, or a span to merge
                framed = self.scope_spans(scope, spans, decision, late)
            by_resource.setdefault(resource, []).append(framed)
        parts: list[bytes] = []  # joined once: a kept trace's bytes are copied a single time here
        for resource, scopes in by_resource.items():
            size = len(resource) + sum(map(len, scopes))
            parts += (wire.REQUEST_RESOURCE_SPANS, wire.varint(size), resource, *scopes)
        return b"".join(parts)

    def scope_spans(self, scope: bytes, spans: list[bytes], decision: Decision, late: bool) -> bytes:
        """A run of spans under their scope as a ScopeSpans field, each span decorated: the reference for the
        native scope_spans_field, and the way for runs with spans to merge (upstream decorations, a trace
        state when the decision sets a threshold)."""
        suffix, state_field = self._decorations(decision, late)
        rejection = decision.threshold
        extra, marked = len(state_field) + len(suffix), self._span_attributes
        parts = [scope]
        for blob in spans:
            if (marked and _PREFIX in blob) or (rejection is not None and wire.may_have_trace_state(blob)):
                parts.append(wire.field(wire.SPANS, self._merged(blob, decision, late)))
                continue
            parts += (wire.SPANS + wire.varint(len(blob) + extra), blob, state_field, suffix)
        return wire.field(wire.SCOPE_SPANS, b"".join(parts))

    def _decorations(self, decision: Decision, late: bool) -> tuple[bytes, bytes]:
        """The encoded attributes appended to every span and the trace state field (empty when none) of a
        decision: the same for every trace decided alike (a few policies, triggers and rates), and making
        them (protobuf messages, serialized) cost more than framing the trace's spans."""
        key = (decision, late)
        made = self._remembered.get(key)
        if made is None:
            suffix = wire.span_attributes(_attributes(decision, late, decision.rate)) if self._span_attributes else b""
            state_field = b""
            if decision.threshold is not None:
                state = threshold.with_threshold("", decision.threshold).encode()
                state_field = wire.field(wire.SPAN_TRACE_STATE, state)
            if len(self._remembered) >= _REMEMBERED:
                self._remembered.clear()
            made = self._remembered[key] = (suffix, state_field)
        return made

    def _merged(self, blob: bytes, decision: Decision, late: bool) -> bytes:
        span = Span.FromString(blob)
        if decision.threshold is not None:
            span.trace_state = threshold.with_threshold(span.trace_state, decision.threshold)
        if self._span_attributes:
            upstream = 1.0
            for index in reversed(range(len(span.attributes))):
                kv = span.attributes[index]
                if kv.key.startswith("failpath.sampling."):
                    if kv.key == RATE and kv.value.WhichOneof("value") in ("double_value", "int_value"):
                        upstream = float(kv.value.double_value or kv.value.int_value) or 1.0
                    del span.attributes[index]
            span.attributes.extend(_attributes(decision, late, upstream * decision.rate))
        return span.SerializeToString()
