"""Config models of the OTLP receivers."""

import os

from pydantic import Field, field_validator

from failpath.config_types import ByteSize, Duration, Endpoint, Strict


class ServerTLS(Strict):
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


class BearerAuth(Strict):
    # Name of the environment variable that holds the token; never the token itself.
    token_env: str

    @field_validator("token_env")
    @classmethod
    def _set(cls, name: str) -> str:
        if not os.environ.get(name):
            raise ValueError(f"environment variable {name} is not set or empty")
        return name

    def token(self) -> str:
        return os.environ[self.token_env]


class GrpcReceiver(Strict):
    enabled: bool = True
    endpoint: Endpoint = "127.0.0.1:4317"
    max_recv_msg_size: ByteSize = Field(default=16 << 20, gt=0)
    tls: ServerTLS | None = None


class HttpReceiver(Strict):
    enabled: bool = True
    endpoint: Endpoint = "127.0.0.1:4318"
    traces_path: str = "/v1/traces"
    # Applied to the decompressed body: a gzip/zstd bomb is refused, not inflated.
    max_request_body_size: ByteSize = Field(default=16 << 20, gt=0)
    tls: ServerTLS | None = None


class OtlpReceiver(Strict):
    grpc: GrpcReceiver = GrpcReceiver()
    http: HttpReceiver = HttpReceiver()
    auth: BearerAuth | None = None
    # Retry-After (HTTP) / RetryInfo (gRPC) sent with an overload refusal.
    retry_after: Duration = 1.0


class Receivers(Strict):
    otlp: OtlpReceiver = OtlpReceiver()
