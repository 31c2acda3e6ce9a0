"""Kept traces framed for the next stage: the native scope_spans_field (otlp/_spans.c) against the reference
(KeptOutput.scope_spans): the same bytes, and None exactly where a span must be merged instead (decorations
from an upstream failpath, or a possible trace state when the decision sets a threshold)."""

from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.consumer import Decision
from failpath.otlp import wire
from failpath.otlp.values import key_value
from failpath.sampling import kept_output, policies
from failpath.sampling.kept_output import KeptOutput
from failpath.sampling.trace_buffer import resource_frame, scope_frame
from tests.support.any_values import spans as spans_of

native = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

KEYS = st.sampled_from(("failpath.sampling.rate", "failpath.sampling.policy", "note", "gen_ai.prompt"))
DECISIONS = st.builds(
    Decision,
    keep=st.just(True),
    policy=st.sampled_from(("errors", "healthy")),
    rate=st.sampled_from((1.0, 10.0)),
    threshold=st.one_of(st.none(), st.integers(min_value=0, max_value=2**56 - 1)),
    trigger=st.sampled_from(("root", policies.LATE_ERROR)),
)
FRAMES = [
    (
        resource_frame(Resource(attributes=[key_value("service.name", service)]).SerializeToString(), b""),
        scope_frame(InstrumentationScope(name=scope).SerializeToString(), b"https://schema" if scope else b""),
    )
    for service in ("a", "b")
    for scope in ("", "agent.framework")
]
# Laid out as upb writes a span with valid ids: whether a trace state follows is read from the bytes.
PLAIN = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="chat").SerializeToString()
STATED = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="ot=rv:00", name="x").SerializeToString()
MARKED = Span(
    trace_id=b"\x01" * 16, span_id=b"\x02" * 8, attributes=[key_value("failpath.sampling.rate", 10.0)]
).SerializeToString()


def _needs_merge(blob: bytes, decision: Decision, marked: bool) -> bool:
    return (marked and b"failpath.sampling." in blob) or (
        decision.threshold is not None and wire.may_have_trace_state(blob)
    )


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(st.lists(spans_of(KEYS).map(Span.SerializeToString), max_size=5), min_size=1, max_size=4),
    decision=DECISIONS,
    late=st.booleans(),
    marked=st.booleans(),
)
@example(runs=[[PLAIN, PLAIN]], decision=Decision(True, "healthy", 10.0, 2**55, "root"), late=False, marked=True)
@example(runs=[[PLAIN, STATED]], decision=Decision(True, "healthy", 10.0, 2**55, "root"), late=False, marked=True)
@example(runs=[[PLAIN, STATED]], decision=Decision(True, "errors", 1.0, None, "root"), late=True, marked=True)
@example(runs=[[MARKED], [PLAIN]], decision=Decision(True, "errors", 1.0, None, "root"), late=False, marked=True)
@example(runs=[[MARKED], [PLAIN]], decision=Decision(True, "errors", 1.0, None, "root"), late=False, marked=False)
def test_native_framing_writes_the_reference_bytes(
    runs: list[list[bytes]], decision: Decision, late: bool, marked: bool
) -> None:
    output = KeptOutput(marked)
    suffix, state = output._decorations(decision, late)
    for index, blobs in enumerate(runs):
        scope = FRAMES[index][1]
        framed = native.scope_spans_field(scope, blobs, state, suffix, marked, decision.threshold is not None)
        if any(_needs_merge(blob, decision, marked) for blob in blobs):
            assert framed is None
        else:
            assert framed == output.scope_spans(scope, blobs, decision, late)
    groups = {FRAMES[index]: blobs for index, blobs in enumerate(runs)}
    encoded = output.encode(groups, decision, late)
    with mock.patch.object(kept_output, "scope_spans_field", None):
        assert encoded == output.encode(groups, decision, late)
    # What the next stage reads: every span, under its resource and scope, in order.
    request = ExportTraceServiceRequest.FromString(encoded)
    read = [len(scope_spans.spans) for resource in request.resource_spans for scope_spans in resource.scope_spans]
    assert read == [len(blobs) for blobs in runs]


def test_framing_refuses_what_is_not_a_list_of_bytes() -> None:
    with pytest.raises(TypeError):
        native.scope_spans_field(b"", [b"span", "text"], b"", b"", False, False)
    with pytest.raises(TypeError):
        native.scope_spans_field(b"", (b"span",), b"", b"", False, False)
