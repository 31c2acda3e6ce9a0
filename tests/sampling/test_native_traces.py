"""The sampler's intake grouped by trace (otlp/_spans.c request_traces) against the reference (upb reading,
span_reading.by_trace), and the quiet values that let most spans skip the sampler's per-span look: learned
only where no error signal or condition could come of them, alone or beside any other value."""

import asyncio
import itertools
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.otlp.values import Value, encoded, key_value, python_value
from failpath.otlp.wire import numbered_field as _field
from failpath.sampling.conditions import CompiledConditions
from failpath.sampling.config import SamplingConfig
from failpath.sampling.policies import PolicyEngine
from failpath.sampling.span_facts import SpanInspector
from failpath.sampling.span_reading import Watching, by_trace, read_message
from failpath.sampling.stage import TailSamplingStage
from failpath.signals.errors import EVALUATOR_KIND, ErrorReader
from tests.support.any_values import requests
from tests.support.any_values import spans as spans_of
from tests.support.redaction_mix import request
from tests.support.traces import FakeClock, Recorder

spans = pytest.importorskip("failpath.otlp._spans", reason="the C extension is not built")

KEYS = ("tool.success", "note", "error.type", "", "workflow.name")
TRACE_IDS = [bytes([n]) * 16 for n in range(1, 4)]


def _native(data: bytes, watching: Watching) -> object:
    return spans.request_traces(data, watching.keys, watching.span_keys, watching.quiet, watching.every_span)


def _reference(data: bytes, watching: Watching) -> object:
    resources, scopes, rows = read_message(ExportTraceServiceRequest.FromString(data), watching.keys)
    return resources, scopes, by_trace(rows, watching)


def _quiet_from(message: ExportTraceServiceRequest, keys: tuple[str, ...], share: int) -> tuple[tuple[bytes, ...], ...]:
    """Quiet tables made of every share-th value the request's spans carry per key, so spans match them."""
    found: list[list[bytes]] = [[] for _ in keys]
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for kv in span.attributes:
                    written = encoded(value) if (value := python_value(kv.value)) is not None else None
                    if kv.key in keys and written is not None:
                        found[keys.index(kv.key)].append(written)
    return tuple(tuple(values[::share]) for values in found)


def _mix(seed: int) -> list[ExportTraceServiceRequest]:
    """The redaction span mix with spans of three traces spread over its resources and scopes, children and
    roots, error statuses, tool flags of both kinds and trace states."""
    rng = random.Random(seed)
    messages = []
    for _ in range(5):
        message = request(rng)
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id = rng.choice(TRACE_IDS)
                    span.parent_span_id = b"" if rng.random() < 0.15 else rng.randbytes(8)
                    span.status.code = rng.choice([0, 0, 0, 1, 2])  # type: ignore[assignment]
                    span.start_time_unix_nano = rng.choice([0, rng.randrange(1, 2**64)])
                    span.trace_state = rng.choice(["", "", "", "ot=rv:0a"])
                    if rng.random() < 0.5:
                        span.attributes.append(key_value("tool.success", rng.choice([True, True, False])))
                    if rng.random() < 0.2:
                        span.attributes.append(key_value("workflow.name", "refunds"))
        messages.append(message)
    return messages


def test_traces_match_the_reference_on_the_span_mix() -> None:
    checked = notable = 0
    for message in _mix(7):
        data = message.SerializeToString()
        for span_keys, share, every_span in itertools.product((len(KEYS), 3, 0), (1, 2, 1000), (False, True)):
            watching = Watching(KEYS, span_keys, _quiet_from(message, KEYS[:span_keys], share), every_span)
            native = _native(data, watching)
            assert repr(native) == repr(_reference(data, watching))
            assert isinstance(native, tuple)
            checked += sum(trace[3] for trace in native[2])
            notable += sum(len(trace[2]) for trace in native[2])
    assert checked > 2000 and 0 < notable < checked  # some spans looked at, some not


def _with_trace(span: Span) -> Span:
    span.trace_id = TRACE_IDS[len(span.name) % len(TRACE_IDS)]
    return span


@settings(max_examples=300, deadline=None)
@given(
    requests(
        spans_of(st.sampled_from(KEYS)).map(_with_trace),
        st.builds(Resource, attributes=st.lists(st.builds(KeyValue, key=st.sampled_from(KEYS)), max_size=2)),
    ),
    st.integers(min_value=0, max_value=len(KEYS)),
    st.sampled_from([1, 2]),
    st.booleans(),
)
def test_generated_requests_group_as_the_reference_does(
    message: ExportTraceServiceRequest, span_keys: int, share: int, every_span: bool
) -> None:
    """Spans of a few traces under several resources and scopes, ids, times, statuses, events and trace
    states of every kind, watched values of every kind, quiet or not."""
    data = message.SerializeToString()
    watching = Watching(KEYS, span_keys, _quiet_from(message, KEYS[:span_keys], share), every_span)
    assert repr(_native(data, watching)) == repr(_reference(data, watching))


def _one_span(*attributes: bytes) -> bytes:
    span = _field(1, TRACE_IDS[0]) + _field(4, b"\2" * 8) + b"".join(_field(9, kv) for kv in attributes)
    return _field(1, _field(2, _field(2, span)))


def test_a_quiet_value_is_quiet_only_as_its_very_bytes() -> None:
    """A value written as upb writes it matches its quiet bytes; the same value written otherwise (the bool
    twice, upb keeping the last) does not, and the span is looked at with its values read from its bytes."""
    quiet_true = AnyValue(bool_value=True).SerializeToString()
    watching = Watching(("tool.success",), 1, ((quiet_true,),))
    plain = _native(_one_span(_field(1, b"tool.success") + _field(2, quiet_true)), watching)
    assert isinstance(plain, tuple)
    assert plain[2][0][2] == () and plain[2][0][3] == 1
    twice = _native(_one_span(_field(1, b"tool.success") + _field(2, b"\x10\x00\x10\x01")), watching)
    assert isinstance(twice, tuple)
    (row,) = twice[2][0][2]
    assert row[10] is None  # left to be read from the bytes: upb reads True
    inspector = SpanInspector([], ErrorReader(SamplingConfig().errors), (), [])
    assert inspector.inspect(row[1], False, 0, "", False, {}, None)[2] == {"tool.success": True}
    # a key read only on roots never makes a span notable; an empty value is unset
    false = _one_span(_field(1, b"tool.success") + _field(2, b"\x10\x00"))
    result = _native(false, Watching(("tool.success",), 0))
    assert isinstance(result, tuple) and result[2][0][2] == ()
    result = _native(_one_span(_field(1, b"tool.success") + _field(2, b"")), Watching(("tool.success",), 1))
    assert isinstance(result, tuple) and result[2][0][2] == ()


def test_bad_arguments_are_refused() -> None:
    data = _one_span()
    with pytest.raises(TypeError):
        spans.request_traces(data, ("a",), 1, (("not bytes",),))
    with pytest.raises(TypeError):
        spans.request_traces(data, (1,))


# -- quiet values -------------------------------------------------------------------------------------------

_ERRORS = ErrorReader(SamplingConfig().errors)
_SIGNAL_KEYS = sorted(_ERRORS.watched_keys)
_SIGNAL_VALUES = st.sampled_from(
    [True, False, "false", "False", "true", 0, 1, -1, 2.5, "", "EVALUATOR", "LLM", "fail", "FAILED", "pass", "stop",
     "thumbs_down", "positive", "error", "success", ("stop",), ("length",), ()]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SIGNAL_KEYS), _SIGNAL_VALUES), max_size=6))
@example([(EVALUATOR_KIND, "EVALUATOR"), ("metadata.label", "FAILED")])
def test_quiet_values_make_no_error_signal_together(pairs: list[tuple[str, object]]) -> None:
    """What makes request_traces' shortcut sound: values each quiet give no error reason together."""
    values = dict(pairs)
    if all(_ERRORS.quiet(key, value) for key, value in values.items()):
        assert list(_ERRORS.attribute_reasons(values)) == []


def test_the_evaluator_kind_is_never_quiet_and_its_failing_label_still_counts() -> None:
    assert not _ERRORS.quiet(EVALUATOR_KIND, "EVALUATOR")
    assert _ERRORS.quiet("eval.label", "fail")  # alone it says nothing
    assert list(_ERRORS.attribute_reasons({EVALUATOR_KIND: "EVALUATOR", "eval.label": "fail"})) == ["verdict"]


def _inspector(policies: list[dict[str, object]] | None = None) -> SpanInspector:
    """The inspector as the stage makes it, its conditions compiled from the policies."""
    config = SamplingConfig.model_validate({"policies": policies} if policies else {})
    conditions = CompiledConditions()
    PolicyEngine(config, conditions)
    return SpanInspector(conditions.leaves, ErrorReader(config.errors), config.workflow_key, [])


def test_learning_keeps_values_that_tell_nothing_and_only_those() -> None:
    inspector = _inspector(
        [{"name": "slow-tools", "type": "attributes", "when": {"attribute": "note", "equals": "slow"}}]
    )
    watching = inspector.watching
    assert watching.keys.index("note") < watching.span_keys  # a condition's key is read on every span
    assert watching.keys.index("workflow.name") >= watching.span_keys  # the workflow only on roots
    samples: list[dict[str, Value]] = [
        {"tool.success": True},
        {"tool.success": False},  # an error
        {"note": "slow"},  # passes a condition
        {"note": "fast", "error.type": "Timeout"},  # the second is an error
        {EVALUATOR_KIND: "EVALUATOR"},
        {"note": b"raw"},  # bytes: any_value would write text
    ]
    for found in samples:
        inspector.learn(found)
    learned = {
        (watching.keys[k], python_value(AnyValue.FromString(raw)))
        for k, values in enumerate(inspector.watching.quiet)
        for raw in values
    }
    assert learned == {("tool.success", True), ("note", "fast")}


def test_learning_is_bounded() -> None:
    inspector = _inspector()
    for number in range(500):
        inspector.learn({"process.exit.code": 0, "error.type": f"E{number}"})  # 0 is quiet, each type an error
        inspector.learn({"agent.run.outcome": f"done-{number}"})  # all quiet, all different
    tables = dict(zip(inspector.watching.keys, inspector.watching.quiet, strict=False))
    assert len(tables["process.exit.code"]) == 1 and len(tables["agent.run.outcome"]) == 32
    assert tables["error.type"] == ()
    # a condition on span names: every span is looked at, so nothing is learned
    names = _inspector([{"name": "named", "type": "attributes", "when": {"span_name": True, "equals": "x"}}])
    names.learn({"tool.success": True})
    assert names.watching.every_span and names.watching.quiet == ()


def test_errors_after_their_values_were_learned_quiet_still_keep_their_traces() -> None:
    """Many healthy tool spans teach the sampler tool.success=true and a label; then a failing tool call and
    an evaluator span (its kind beside that label) must still make their runs error runs, by bytes or not."""

    def trace(trace_id: bytes, child: dict[str, object]) -> list[Span]:
        root = Span(trace_id=trace_id, span_id=trace_id[:8], name="run", start_time_unix_nano=1, end_time_unix_nano=9)
        span = Span(trace_id=trace_id, span_id=b"\7" * 8, parent_span_id=trace_id[:8], name="step")
        span.attributes.extend(key_value(key, value) for key, value in child.items())
        return [root, span]

    healthy = [trace(bytes([n]) * 16, {"tool.success": True, "eval.label": "fail"}) for n in range(1, 40)]
    healthy += [trace(bytes([n]) * 16, {EVALUATOR_KIND: "EVALUATOR", "eval.label": "pass"}) for n in range(40, 50)]
    failing = trace(b"\xaa" * 16, {"tool.success": False})
    verdict = trace(b"\xbb" * 16, {EVALUATOR_KIND: "EVALUATOR", "eval.label": "fail"})

    async def run(with_bytes: bool) -> set[bytes]:
        clock, recorder = FakeClock(), Recorder()
        policies = [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 0}]
        config = SamplingConfig.model_validate({"policies": policies})
        stage = TailSamplingStage(config, recorder, Metrics(), clock=clock)
        for group in [*healthy, failing, verdict]:
            message = ExportTraceServiceRequest()
            scope = message.resource_spans.add().scope_spans.add()
            scope.spans.extend(group)
            data = message.SerializeToString()
            await stage.consume(Batch(None if with_bytes else message, 2, data if with_bytes else None))
        clock.now += 3600
        await stage.tick()
        if with_bytes:
            assert stage._inspector.watching.quiet  # it did learn
        return {span.trace_id for span in recorder.spans()}

    for with_bytes in (True, False):
        assert asyncio.run(run(with_bytes)) == {b"\xaa" * 16, b"\xbb" * 16}


def test_a_span_without_a_start_leaves_the_traces_start_alone() -> None:
    """Times fold per request and across requests alike, by bytes or not: a start of 0 is no start."""

    async def start_of(with_bytes: bool) -> tuple[int, int]:
        stage = TailSamplingStage(SamplingConfig(), Recorder(), Metrics(), clock=FakeClock())
        for start, end in ((5, 10), (0, 12), (7, 9)):
            message = ExportTraceServiceRequest()
            span = message.resource_spans.add().scope_spans.add().spans.add()
            span.trace_id, span.span_id, span.parent_span_id = TRACE_IDS[0], b"\1" * 8, b"\2" * 8
            span.start_time_unix_nano, span.end_time_unix_nano = start, end
            data = message.SerializeToString()
            await stage.consume(Batch(None if with_bytes else message, 1, data if with_bytes else None))
        trace = stage._buffer.traces[TRACE_IDS[0]]
        return trace.start, trace.end

    for with_bytes in (True, False):
        assert asyncio.run(start_of(with_bytes)) == (5, 12)
