"""The OTLP/HTTP receiver's contract: encodings, compression, limits, errors and partial success."""

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from failpath.otlp import json_codec
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.http import request
from tests.support.requests import build_request, compression_bomb
from tests.support.sink import OtlpSink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def failpath(tmp_path: Path, sink: OtlpSink) -> Iterator[RunningFailpath]:
    config = make_config(
        tmp_path,
        {
            "receivers": {"otlp": {"http": {"max_request_body_size": "64KiB"}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    with RunningFailpath(config) as running:
        yield running


def _status(body: bytes, json_body: bool = False) -> status_pb2.Status:
    status = status_pb2.Status()
    if json_body:
        document = json.loads(body)
        status.code, status.message = document["code"], document["message"]
    else:
        status.ParseFromString(body)
    return status


def test_protobuf_body_is_accepted_and_forwarded(failpath: RunningFailpath, sink: OtlpSink) -> None:
    sent = build_request(spans=4)
    status, headers, body = request(failpath.http_url, sent.SerializeToString(), PROTOBUF)
    assert status == 200
    assert headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    sink.wait_for_spans(4)
    assert sink.requests == [sent]


def test_json_body_with_hex_ids_round_trips(failpath: RunningFailpath, sink: OtlpSink) -> None:
    sent = build_request(spans=2)
    document = json.loads(json_codec.encode(sent))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == sent.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    assert span["kind"] == 1  # enums are integers in OTLP/JSON
    status, headers, body = request(failpath.http_url, json.dumps(document).encode(), JSON)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {}
    sink.wait_for_spans(2)
    assert sink.requests == [sent]


def test_json_accepts_unknown_fields_and_string_int64(failpath: RunningFailpath, sink: OtlpSink) -> None:
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-agent"}}]},
                "futureField": {"ignored": True},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "tool",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000001000000000,
                                "status": {"code": 2, "message": "boom"},
                                "attributes": [{"key": "n", "value": {"intValue": "7"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    status, _, body = request(failpath.http_url, json.dumps(document).encode(), JSON)
    assert status == 200, body
    (span,) = sink.wait_for_spans(1)
    assert (span.trace_id.hex(), span.span_id.hex(), span.status.code, span.status.message) == (
        trace_id,
        span_id,
        2,
        "boom",
    )
    assert span.attributes[0].value.int_value == 7


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
    ],
)
def test_compressed_bodies(failpath: RunningFailpath, sink: OtlpSink, encoding: str, compress: object) -> None:
    sent = build_request(spans=3)
    body = compress(sent.SerializeToString())  # type: ignore[operator]
    status, _, _ = request(failpath.http_url, body, {**PROTOBUF, "Content-Encoding": encoding})
    assert status == 200
    sink.wait_for_spans(3)
    assert sink.requests == [sent]


@pytest.mark.parametrize("json_body", [False, True])
def test_malformed_body_is_400_with_status(failpath: RunningFailpath, json_body: bool) -> None:
    headers = JSON if json_body else PROTOBUF
    garbage = b'{"resourceSpans": [' if json_body else b"\xff\xff\xff\xff not protobuf"
    status, response_headers, body = request(failpath.http_url, garbage, headers)
    assert status == 400
    assert response_headers["content-type"] == headers["Content-Type"]
    error = _status(body, json_body)
    assert error.code == code_pb2.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in error.message or "JSON" in error.message
    assert failpath.metric("failpath_receiver_requests_refused_total", transport="http", reason="malformed") == 1


_DEEP_VALUE = (
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":'
    + b'{"kvlistValue":{"values":[{"key":"b","value":' * 400
    + b"{}"
    + b"}]}}" * 400
    + b"}]}]}]}]}"
)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"resourceSpans":5}', "resourceSpans: expected an array, got a number"),
        (b'{"resourceSpans":[{"scopeSpans":7}]}', "resourceSpans[0].scopeSpans: expected an array, got a number"),
        (
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":5}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0].links: expected an array, got a number",
        ),
        (b'{"resourceSpans":[null]}', "resourceSpans[0]: expected an object, got null"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":["x"]}]}]}', "spans[0]: expected an object, got a string"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (_DEEP_VALUE, "nested too deeply"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]}', "traceId"),
    ],
    ids=["resourceSpans", "scopeSpans", "links", "null", "span", "deep-json", "deep-values", "id-type"],
)
def test_wrongly_shaped_json_is_400_naming_the_field(failpath: RunningFailpath, body: bytes, says: str) -> None:
    status, _, answer = request(failpath.http_url, body, JSON)
    assert status == 400
    error = _status(answer, True)
    assert error.code == code_pb2.INVALID_ARGUMENT
    assert says in error.message


def test_oversized_header_is_431_without_echo(failpath: RunningFailpath) -> None:
    marker = "header-marker-" + "A" * 9000
    status, _, body = request(failpath.http_url, build_request().SerializeToString(), {**PROTOBUF, "X-Big": marker})
    assert status == 431
    assert json.loads(body) == {"code": 3, "message": "a request line or header is too long"}
    assert b"header-marker" not in body
    assert (
        failpath.metric("failpath_receiver_connections_refused_total", transport="http", reason="malformed_http") == 1
    )


def test_wrong_method_is_405(failpath: RunningFailpath) -> None:
    status, headers, _ = request(failpath.http_url, method="GET")
    assert status == 405
    assert headers["allow"] == "POST"


def test_wrong_content_type_is_415(failpath: RunningFailpath) -> None:
    status, _, body = request(failpath.http_url, b"x", {"Content-Type": "text/plain"})
    assert status == 415
    assert "application/x-protobuf" in json.loads(body)["message"]


def test_unknown_encoding_is_400(failpath: RunningFailpath) -> None:
    body = build_request().SerializeToString()
    status, _, _ = request(failpath.http_url, body, {**PROTOBUF, "Content-Encoding": "br"})
    assert status == 400


def test_oversized_body_is_413(failpath: RunningFailpath) -> None:
    big = build_request(spans=1, text="x" * 70_000).SerializeToString()
    status, _, body = request(failpath.http_url, big, PROTOBUF)
    assert status == 413
    assert _status(body).code == code_pb2.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_compression_bomb_is_413(failpath: RunningFailpath, sink: OtlpSink, encoding: str) -> None:
    bomb = compression_bomb(encoding, 60 << 20)
    assert len(bomb) < 64 << 10  # under the limit as sent; only its inflated size is over
    status, _, body = request(failpath.http_url, bomb, {**PROTOBUF, "Content-Encoding": encoding})
    assert status == 413
    assert "decompressed body exceeds" in _status(body).message
    assert sink.span_count() == 0


def test_invalid_span_ids_are_rejected_individually(failpath: RunningFailpath, sink: OtlpSink) -> None:
    sent = build_request(spans=5)
    spans = sent.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"short"
    spans[3].span_id = b""
    spans[4].trace_id = bytes(16)
    status, _, body = request(failpath.http_url, sent.SerializeToString(), PROTOBUF)
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 3
    assert "trace_id must be 16 bytes" in partial.error_message
    assert "span_id must be 8 bytes" in partial.error_message
    (arrived,) = sink.wait_for_spans(2)[:1]
    assert sink.span_count() == 2
    assert arrived.name == "step 0"
    assert failpath.metric("failpath_receiver_spans_refused_total", transport="http", reason="invalid_id") == 3


def test_invalid_hex_id_in_json_is_a_partial_success(failpath: RunningFailpath, sink: OtlpSink) -> None:
    document = json.loads(json_codec.encode(build_request(spans=2)))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "not-hex!"
    status, _, body = request(failpath.http_url, json.dumps(document).encode(), JSON)
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    sink.wait_for_spans(1)
    assert sink.span_count() == 1


def test_unknown_path_is_404(failpath: RunningFailpath) -> None:
    status, _, _ = request(failpath.http_url.replace("/v1/traces", "/v1/metrics"), b"", PROTOBUF)
    assert status == 404
