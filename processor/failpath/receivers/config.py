"""Config models of the OTLP receivers."""

import os
from typing import Literal

from pydantic import Field, field_validator

from failpath.config_types import ByteSize, Duration, Endpoint, Strict

# "auto": a share of the process's open-file limit (see listen.connection_cap), so a flood of connections
# cannot take the descriptors the store, the exporters and the admin port need.
ConnectionCap = Literal["auto"] | int


class ServerTLSConfig(Strict):
    cert_file: str
    key_file: str
    # When set, clients must present a certificate signed by this CA (mutual TLS).
    client_ca_file: str | None = None

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not os.access(path, os.R_OK):
            raise ValueError(f"file not readable: {path}")
        return path


class BearerAuthConfig(Strict):
    # Name of the environment variable that holds the token; never the token itself.
    token_env: str

    @field_validator("token_env")
    @classmethod
    def _set(cls, name: str) -> str:
        token = os.environ.get(name)
        if not token:
            raise ValueError(f"environment variable {name} is not set or empty")
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise ValueError(f"the token in {name} must be printable ASCII without spaces (it travels in a header)")
        return name

    def token(self) -> str:
        return os.environ[self.token_env]


def _positive_cap(cap: ConnectionCap) -> ConnectionCap:
    if cap != "auto" and cap <= 0:
        raise ValueError("max_connections is a positive number or auto")
    return cap


class GrpcReceiverConfig(Strict):
    enabled: bool = True
    endpoint: Endpoint = "127.0.0.1:4317"
    max_recv_msg_size: ByteSize = Field(default=16 << 20, gt=0)
    tls: ServerTLSConfig | None = None
    # Connections beyond this are closed before the handshake.
    max_connections: ConnectionCap = "auto"
    # Concurrent calls per connection.
    max_concurrent_streams: int = Field(default=100, gt=0)
    # A new connection must finish its TLS / HTTP/2 handshake within this.
    handshake_timeout: Duration = Field(default=10.0, gt=0)
    # Connections without calls for this long, or older than max_connection_age, are closed gracefully
    # (GOAWAY; clients reconnect); calls in progress get max_connection_age_grace. 0: never.
    max_connection_idle: Duration = 600.0
    max_connection_age: Duration = 0.0
    max_connection_age_grace: Duration = 0.0

    _cap = field_validator("max_connections")(_positive_cap)


class HttpReceiverConfig(Strict):
    enabled: bool = True
    endpoint: Endpoint = "127.0.0.1:4318"
    traces_path: str = "/v1/traces"
    # Applied to the decompressed body: a gzip/zstd bomb is refused, not inflated.
    max_request_body_size: ByteSize = Field(default=16 << 20, gt=0)
    tls: ServerTLSConfig | None = None
    # Connections beyond this get 503 and are closed at once.
    max_connections: ConnectionCap = "auto"
    # A request's headers must arrive within this (from the connection, or from its first byte after the
    # previous response on a kept-alive one); its body within read_timeout after them (else 408).
    read_header_timeout: Duration = Field(default=10.0, gt=0)
    read_timeout: Duration = Field(default=30.0, gt=0)
    # A kept-alive connection with no request for this long is closed.
    idle_timeout: Duration = Field(default=60.0, gt=0)

    _cap = field_validator("max_connections")(_positive_cap)


class OtlpReceiverConfig(Strict):
    grpc: GrpcReceiverConfig = GrpcReceiverConfig()
    http: HttpReceiverConfig = HttpReceiverConfig()
    auth: BearerAuthConfig | None = None
    # Retry-After (HTTP) / RetryInfo (gRPC) sent with an overload refusal.
    retry_after: Duration = 1.0


class ReceiversConfig(Strict):
    otlp: OtlpReceiverConfig = OtlpReceiverConfig()
