"""A bounded fuzz run against both receivers, with the default stages behind them (redaction, tail sampling,
packets): OTLP messages with extreme values, byte-mutated protobuf, OTLP-shaped JSON with wrong types,
and mutated JSON text. Every answer must be 2xx, 4xx or 503 (gRPC: OK or a client-side code), and afterwards
failpath must still be healthy, deliver a plain request, and have logged no error of its own."""

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp import json_codec
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
# What a client may be told. Anything else (500, UNKNOWN, INTERNAL, a reset) is a failpath bug.
CLIENT_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# -- OTLP messages with extreme but valid contents --------------------------------------------------------------

_TEXT = st.text(max_size=60) | st.sampled_from(["", "error", "exception", "sk-proj-" + "A" * 48, "a@b.co", "\x00"])
_U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def _any_value(leaf: Any) -> AnyValue:
    if isinstance(leaf, bool):
        return AnyValue(bool_value=leaf)
    if isinstance(leaf, int):
        return AnyValue(int_value=leaf)
    if isinstance(leaf, float):
        return AnyValue(double_value=leaf)
    if isinstance(leaf, bytes):
        return AnyValue(bytes_value=leaf)
    return AnyValue(string_value=leaf)


_LEAVES = (
    st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | st.floats()
    | st.binary(max_size=40)
    | _TEXT
).map(_any_value)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: AnyValue(array_value=ArrayValue(values=items)))
        | st.lists(st.tuples(_TEXT, inner), max_size=4).map(
            lambda pairs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs]))
        )
    ),
    max_leaves=12,
)
_ATTRIBUTES = st.lists(
    st.tuples(
        st.sampled_from(["gen_ai.input.messages", "error.type", "tool.success", "process.exit.code", "workflow.name"])
        | _TEXT,
        _VALUES,
    ),
    max_size=6,
).map(lambda pairs: [KeyValue(key=k, value=v) for k, v in pairs])


def _mostly(right: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """right six times in seven: deep structures survive to reach the stages, with a fault somewhere."""
    return st.integers(min_value=0, max_value=6).flatmap(lambda roll: wrong if roll == 0 else right)


_IDS = _mostly(
    st.sampled_from([b"\x01" * 16, b"\x02" * 16]) | st.binary(min_size=16, max_size=16), st.binary(max_size=20)
)
_CODES = _mostly(st.integers(min_value=0, max_value=2), st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1))


@st.composite
def _spans(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(_IDS),
        span_id=draw(_mostly(st.binary(min_size=8, max_size=8), st.binary(max_size=10))),
        parent_span_id=draw(st.just(b"") | st.binary(max_size=9)),
        name=draw(_TEXT),
        kind=Span.SpanKind.ValueType(draw(_CODES)),
        start_time_unix_nano=draw(_U64),
        end_time_unix_nano=draw(_U64),
        trace_state=draw(_TEXT),
        attributes=draw(_ATTRIBUTES),
        flags=draw(st.integers(min_value=0, max_value=(1 << 32) - 1)),
    )
    for name, attributes in draw(st.lists(st.tuples(_TEXT, _ATTRIBUTES), max_size=3)):
        span.events.add(name=name, attributes=attributes, time_unix_nano=draw(_U64))
    for trace_id, attributes in draw(st.lists(st.tuples(_IDS, _ATTRIBUTES), max_size=2)):
        span.links.add(trace_id=trace_id, span_id=draw(st.binary(max_size=9)), attributes=attributes)
    span.status.code = Status.StatusCode.ValueType(draw(_CODES))
    span.status.message = draw(_TEXT)
    return span


@st.composite
def _requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        resource_spans = message.resource_spans.add(schema_url=draw(_TEXT))
        resource_spans.resource.attributes.extend(draw(_ATTRIBUTES))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name, scope_spans.scope.version = draw(_TEXT), draw(_TEXT)
            scope_spans.spans.extend(draw(st.lists(_spans(), max_size=4)))
    return message


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if not data:
            break
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if action == "flip":
            data[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(min_value=1, max_value=8))]
    return bytes(data)


_PROTOBUF_BODIES = (
    _requests().map(ExportTraceServiceRequest.SerializeToString)
    | _requests().flatmap(lambda message: _mutated(message.SerializeToString()))
    | st.binary(max_size=200)
)

# -- JSON: OTLP-shaped documents with a wrong type here and there, and mutated valid documents ------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _field(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _mostly(right, _ANY_JSON)


def _object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    return _field(st.fixed_dictionaries({}, optional={name: _field(value) for name, value in fields.items()}))


def _array(item: st.SearchStrategy[Any], size: int = 3) -> st.SearchStrategy[Any]:
    return _field(st.lists(item, max_size=size))


_NUMBERS = st.integers(min_value=0, max_value=(1 << 64) - 1) | st.integers(min_value=0, max_value=(1 << 64) - 1).map(
    str
)
_HEX = st.binary(min_size=16, max_size=16).map(bytes.hex) | st.binary(min_size=8, max_size=8).map(bytes.hex)
_JSON_VALUE = st.recursive(
    _object({"stringValue": _TEXT})
    | _object({"intValue": _NUMBERS})
    | _object({"doubleValue": st.floats()})
    | _object({"boolValue": st.booleans()})
    | _object({"bytesValue": st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode())}),
    lambda inner: (
        _object({"arrayValue": _object({"values": _array(inner)})})
        | _object({"kvlistValue": _object({"values": _array(_object({"key": _TEXT, "value": inner}))})})
    ),
    max_leaves=10,
)
_JSON_ATTRIBUTES = _array(_object({"key": _TEXT, "value": _JSON_VALUE}), size=4)
_JSON_SPAN = _object(
    {
        "traceId": _HEX,
        "spanId": _HEX,
        "parentSpanId": _HEX,
        "name": _TEXT,
        "kind": st.integers(min_value=0, max_value=5) | st.sampled_from(["SPAN_KIND_SERVER", "NOPE"]),
        "startTimeUnixNano": _NUMBERS,
        "endTimeUnixNano": _NUMBERS,
        "attributes": _JSON_ATTRIBUTES,
        "events": _array(_object({"name": _TEXT, "timeUnixNano": _NUMBERS, "attributes": _JSON_ATTRIBUTES})),
        "links": _array(_object({"traceId": _HEX, "spanId": _HEX, "attributes": _JSON_ATTRIBUTES})),
        "status": _object({"code": st.integers(min_value=0, max_value=2), "message": _TEXT}),
        "traceState": _TEXT,
    }
)
_JSON_DOCUMENTS = _object(
    {
        "resourceSpans": _array(
            _object(
                {
                    "resource": _object({"attributes": _JSON_ATTRIBUTES}),
                    "scopeSpans": _array(
                        _object({"scope": _object({"name": _TEXT, "version": _TEXT}), "spans": _array(_JSON_SPAN)})
                    ),
                }
            )
        )
    }
).map(lambda document: json.dumps(document).encode())
_JSON_MESSAGES = _requests().map(json_codec.encode) | _requests().flatmap(
    lambda message: _mutated(json_codec.encode(message))
)


class _Errors(logging.Handler):
    """failpath's own error records over the whole fuzz run."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_ERRORS = _Errors()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningFailpath, OtlpSink]]:
    logging.getLogger("failpath").addHandler(_ERRORS)
    sink = OtlpSink()
    sink.start_grpc()
    data: Path = tmp_path_factory.mktemp("fuzz")
    config = make_config(
        data,
        {
            "redaction": {"enabled": True},
            "sampling": {"enabled": True, "decision_wait": "20ms"},
            "exporters": {"otlp": [{"name": "sink", "endpoint": f"127.0.0.1:{sink.grpc_port}"}]},
        },
    )
    with RunningFailpath(config) as failpath:
        yield failpath, sink
    sink.stop()
    logging.getLogger("failpath").removeHandler(_ERRORS)


def _http_status(failpath: RunningFailpath, body: bytes, headers: dict[str, str]) -> int:
    return request(failpath.http_url, body, headers)[0]


def _answered_as_a_client_error_at_worst(failpath: RunningFailpath, body: bytes, headers: dict[str, str]) -> None:
    status = _http_status(failpath, body, headers)
    assert 200 <= status < 300 or 400 <= status < 500 or status == 503, status


@FUZZ
@given(body=_PROTOBUF_BODIES)
def test_http_protobuf_bodies(target: tuple[RunningFailpath, OtlpSink], body: bytes) -> None:
    _answered_as_a_client_error_at_worst(target[0], body, PROTOBUF)


@FUZZ
@given(body=_JSON_DOCUMENTS)
def test_http_json_documents(target: tuple[RunningFailpath, OtlpSink], body: bytes) -> None:
    _answered_as_a_client_error_at_worst(target[0], body, JSON)


@FUZZ
@given(body=_JSON_MESSAGES)
def test_http_json_messages(target: tuple[RunningFailpath, OtlpSink], body: bytes) -> None:
    _answered_as_a_client_error_at_worst(target[0], body, JSON)


@FUZZ
@given(body=_PROTOBUF_BODIES)
def test_grpc_bodies(target: tuple[RunningFailpath, OtlpSink], body: bytes) -> None:
    with grpc.insecure_channel(target[0].grpc_endpoint) as channel:
        try:
            channel.unary_unary(EXPORT, None, None)(body, timeout=10)
        except grpc.RpcError as error:
            assert error.code() in CLIENT_CODES, (error.code(), error.details())


def test_still_healthy_after_the_fuzz(target: tuple[RunningFailpath, OtlpSink]) -> None:
    """Runs after the fuzz tests (file order): nothing it sent broke a stage, an exporter or a worker."""
    failpath, sink = target
    time.sleep(0.5)  # let the sampler decide what the fuzz left buffered
    assert request(f"{failpath.admin_url}/healthz", method="GET")[0] == 200
    assert request(f"{failpath.admin_url}/readyz", method="GET")[0] == 200
    plain = build_request(spans=2)
    plain.resource_spans[0].scope_spans[0].spans[0].status.code = Status.STATUS_CODE_ERROR  # kept by the sampler
    before = sink.span_count()
    stored = failpath.metric("failpath_exporter_spans_exported_total", exporter="store")
    assert _http_status(failpath, plain.SerializeToString(), PROTOBUF) == 200
    assert len(sink.wait_for_spans(before + 2)) >= before + 2
    deadline = time.monotonic() + 10
    while failpath.metric("failpath_exporter_spans_exported_total", exporter="store") < stored + 2:
        assert time.monotonic() < deadline, "the store stopped taking spans"
        time.sleep(0.05)
    assert failpath.metric_sum("failpath_receiver_requests_refused_total", reason="internal_error") == 0
    assert failpath.metric_sum("failpath_exporter_spans_dropped_total") == 0
    assert failpath.metric_sum("failpath_packets_failed_total") == 0
    assert not _ERRORS.records, [(r.name, r.getMessage(), r.exc_info and r.exc_info[0]) for r in _ERRORS.records]
