"""Bearer-token auth and TLS on both receivers, with the real SDK exporters as clients."""

import socket
import ssl
from pathlib import Path

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

from tests.support.agent_run import assert_same_spans, emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.http import request
from tests.support.requests import build_request
from tests.support.sink import OtlpSink
from tests.support.tls import self_signed

TOKEN = "s3cret-token-for-tests"


def test_bearer_token_required_on_both_receivers(
    tmp_path: Path, sink: OtlpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILPATH_TEST_TOKEN", TOKEN)
    config = make_config(
        tmp_path,
        {
            "receivers": {"otlp": {"auth": {"token_env": "FAILPATH_TEST_TOKEN"}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    body = build_request().SerializeToString()
    with RunningFailpath(config) as failpath:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            status, response_headers, _ = request(
                failpath.http_url, body, {"Content-Type": "application/x-protobuf", **headers}
            )
            assert status == 401
            assert response_headers["www-authenticate"] == "Bearer"
        with grpc.insecure_channel(failpath.grpc_endpoint) as channel:
            call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export", None, None)
            with pytest.raises(grpc.RpcError) as caught:
                call(body, timeout=5, metadata=(("authorization", "Bearer wrong"),))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert sink.span_count() == 0

        auth = {"authorization": f"Bearer {TOKEN}"}
        sent = emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint, auth), runs=1)
        sent += emit_runs(sdk_exporter("http", failpath.http_url, auth), runs=1)
        sink.wait_for_spans(len(sent))
    assert_same_spans(sent, sink.requests)


def _raw_http(port: int, header_lines: list[bytes]) -> tuple[int, bytes]:
    """A POST with header lines as given (http.client refuses duplicates and non-ASCII)."""
    body = build_request().SerializeToString()
    head = b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\n"
    head += b"".join(line + b"\r\n" for line in header_lines)
    head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(head + body)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_auth_scheme_case_duplicates_and_odd_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILPATH_TEST_TOKEN", TOKEN)
    config = make_config(tmp_path, {"receivers": {"otlp": {"auth": {"token_env": "FAILPATH_TEST_TOKEN"}}}})
    good = f"Authorization: Bearer {TOKEN}".encode()
    with RunningFailpath(config) as failpath:
        port = failpath.pipeline.http.port  # type: ignore[union-attr]
        # RFC 7235: the scheme is case-insensitive.
        for scheme in (b"bearer", b"BEARER", b"Bearer"):
            assert _raw_http(port, [b"Authorization: " + scheme + b" " + TOKEN.encode()])[0] == 200
        # Two Authorization headers (one of them right) are refused, on both receivers alike.
        status, body = _raw_http(port, [good, b"Authorization: Bearer other"])
        assert (status, status_pb2.Status.FromString(body).message) == (401, "more than one Authorization header")
        with grpc.insecure_channel(failpath.grpc_endpoint) as channel:
            call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export", None, None)
            twice = (("authorization", f"Bearer {TOKEN}"), ("authorization", "Bearer other"))
            with pytest.raises(grpc.RpcError) as caught:
                call(build_request().SerializeToString(), timeout=5, metadata=twice)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert caught.value.details() == "more than one Authorization header"
            call(build_request().SerializeToString(), timeout=5, metadata=(("authorization", f"bearer {TOKEN}"),))
        # Bytes that are not ASCII are a wrong token (401), not a server error.
        assert _raw_http(port, [b"Authorization: Bearer \xe9\xff" + TOKEN.encode()])[0] == 401
        assert (
            failpath.metric("failpath_receiver_requests_refused_total", transport="http", reason="internal_error") == 0
        )


def test_config_refuses_auth_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAILPATH_NO_SUCH_TOKEN", raising=False)
    with pytest.raises(Exception, match="FAILPATH_NO_SUCH_TOKEN is not set"):
        make_config(tmp_path, {"receivers": {"otlp": {"auth": {"token_env": "FAILPATH_NO_SUCH_TOKEN"}}}})


def test_tls_on_both_receivers(tmp_path: Path, sink: OtlpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these override the exporter's own CA file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = self_signed(tmp_path)
    tls = {"cert_file": str(cert), "key_file": str(key)}
    config = make_config(
        tmp_path / "data",
        {
            "receivers": {"otlp": {"grpc": {"tls": tls}, "http": {"tls": tls}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    with RunningFailpath(config) as failpath:
        grpc_exporter = GrpcSpanExporter(
            endpoint=f"https://localhost:{failpath.pipeline.grpc.port}",  # type: ignore[union-attr]
            credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        )
        http_url = failpath.http_url.replace("http://127.0.0.1", "https://localhost")
        sent = emit_runs(grpc_exporter, runs=1)
        sent += emit_runs(HttpSpanExporter(endpoint=http_url, certificate_file=str(cert)), runs=1)
        sink.wait_for_spans(len(sent))
        assert_same_spans(sent, sink.requests)
        # Plaintext is refused on the TLS port; a TLS client that trusts the certificate gets through.
        with pytest.raises(ConnectionError):
            request(failpath.http_url, b"", {"Content-Type": "application/x-protobuf"})
        context = ssl.create_default_context(cafile=str(cert))
        body = build_request().SerializeToString()
        status, _, _ = request(http_url, body, {"Content-Type": "application/x-protobuf"}, context=context)
        assert status == 200


def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, sink: OtlpSink) -> None:
    server_cert, server_key = self_signed(tmp_path / "server")
    client_cert, client_key = self_signed(tmp_path / "client")
    tls = {"cert_file": str(server_cert), "key_file": str(server_key), "client_ca_file": str(client_cert)}
    config = make_config(
        tmp_path / "data",
        {
            "receivers": {"otlp": {"grpc": {"tls": tls}, "http": {"tls": tls}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    body = build_request(spans=2).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    with RunningFailpath(config) as failpath:
        url = failpath.http_url.replace("http://127.0.0.1", "https://localhost")
        anonymous = ssl.create_default_context(cafile=str(server_cert))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            request(url, body, headers, context=anonymous)
        identified = ssl.create_default_context(cafile=str(server_cert))
        identified.load_cert_chain(str(client_cert), str(client_key))
        assert request(url, body, headers, context=identified)[0] == 200

        target = f"localhost:{failpath.pipeline.grpc.port}"  # type: ignore[union-attr]
        method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        no_cert = grpc.ssl_channel_credentials(server_cert.read_bytes())
        with grpc.secure_channel(target, no_cert) as channel, pytest.raises(grpc.RpcError):
            channel.unary_unary(method, None, None)(body, timeout=5)
        with_cert = grpc.ssl_channel_credentials(
            server_cert.read_bytes(), client_key.read_bytes(), client_cert.read_bytes()
        )
        with grpc.secure_channel(target, with_cert) as channel:
            channel.unary_unary(method, None, None)(body, timeout=5)
        sink.wait_for_spans(4)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_exporter_tls_to_a_tls_backend(tmp_path: Path, sink: OtlpSink, protocol: str) -> None:
    """failpath A exports over TLS (trusting a private CA file) to failpath B, which serves TLS."""
    cert, key = self_signed(tmp_path)
    tls = {"cert_file": str(cert), "key_file": str(key)}
    backend = make_config(
        tmp_path / "b",
        {
            "receivers": {"otlp": {"grpc": {"tls": tls}, "http": {"tls": tls}}},
            "exporters": {"otlp": [otlp_exporter("sink", f"127.0.0.1:{sink.grpc_port}")]},
        },
    )
    with RunningFailpath(backend) as failpath_b:
        assert failpath_b.pipeline.grpc is not None and failpath_b.pipeline.http is not None
        endpoint = (
            f"localhost:{failpath_b.pipeline.grpc.port}"
            if protocol == "grpc"
            else f"https://localhost:{failpath_b.pipeline.http.port}"
        )
        exporter = otlp_exporter("b", endpoint, protocol, tls={"enabled": True, "ca_file": str(cert)})
        with RunningFailpath(make_config(tmp_path / "a", {"exporters": {"otlp": [exporter]}})) as failpath_a:
            sent = build_request(spans=3)
            status, _, _ = request(
                failpath_a.http_url, sent.SerializeToString(), {"Content-Type": "application/x-protobuf"}
            )
            assert status == 200
            sink.wait_for_spans(3)
            assert failpath_a.metric("failpath_exporter_send_failures_total", exporter="b", reason="unreachable") == 0
    assert sink.requests == [sent]
