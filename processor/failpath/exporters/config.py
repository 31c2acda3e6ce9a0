"""Config models of the exporters and of the bounded queue in front of each."""

from typing import Literal

from pydantic import Field, model_validator

from failpath.config_types import ByteSize, Duration, Strict, split_host_port


class QueueConfig(Strict):
    """The bounded queue between the pipeline and one exporter. Full means receivers push back."""

    max_spans: int = Field(default=200_000, gt=0)
    max_bytes: ByteSize = Field(default=256 << 20, gt=0)
    # Concurrent sends; each takes queued batches and merges them up to the limits below.
    consumers: int = Field(default=4, ge=1, le=64)
    batch_max_spans: int = Field(default=4096, gt=0)
    batch_max_bytes: ByteSize = Field(default=4 << 20, gt=0)


class RetryConfig(Strict):
    """Exponential backoff with jitter, for retryable failures only."""

    enabled: bool = True
    initial_interval: Duration = 1.0
    max_interval: Duration = 30.0
    multiplier: float = Field(default=1.5, ge=1.0)
    # Share of each interval drawn at random (0.5: anywhere from 0.5x to 1.5x).
    randomization_factor: float = Field(default=0.5, ge=0.0, le=1.0)
    # Give up on a batch after this long (0: retry until shutdown).
    max_elapsed_time: Duration = 300.0

    @model_validator(mode="after")
    def _ordered(self) -> "RetryConfig":
        if self.initial_interval <= 0:
            raise ValueError("initial_interval must be greater than 0")
        if self.max_interval < self.initial_interval:
            raise ValueError("max_interval must be at least initial_interval")
        return self


class ClientTLSConfig(Strict):
    # false: plaintext (h2c / http). true: TLS with the system CAs or ca_file.
    enabled: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class OtlpExporterConfig(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    protocol: Literal["grpc", "http"] = "grpc"
    # gRPC: host:port. HTTP: a base URL; /v1/traces is appended unless the URL already ends in it.
    endpoint: str
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["none", "gzip"] = "gzip"
    timeout: Duration = 10.0
    tls: ClientTLSConfig = ClientTLSConfig()
    retry: RetryConfig = RetryConfig()
    queue: QueueConfig = QueueConfig()

    @model_validator(mode="after")
    def _endpoint_fits_protocol(self) -> "OtlpExporterConfig":
        if self.protocol == "grpc":
            split_host_port(self.endpoint)
        elif not self.endpoint.startswith(("http://", "https://")):
            raise ValueError("an http exporter endpoint is a URL starting with http:// or https://")
        return self


class StoreRetentionConfig(Strict):
    """The store keeps spans this long and at most this many; the oldest go first. 0 turns a limit off."""

    max_age: Duration = 7 * 86400.0
    max_spans: int = Field(default=5_000_000, ge=0)
    # How often the limits are applied.
    interval: Duration = Field(default=60.0, gt=0)


class StoreExporterConfig(Strict):
    """The embedded SQLite store under data_dir, read by the CLI and the dashboard."""

    enabled: bool = True
    retention: StoreRetentionConfig = StoreRetentionConfig()
    # Relative paths are under data_dir.
    path: str = "spans.db"
    queue: QueueConfig = QueueConfig(consumers=1)
    # A locked or full database is retried; max_elapsed_time 0 keeps trying until shutdown.
    retry: RetryConfig = RetryConfig(initial_interval=0.1, max_interval=5.0, max_elapsed_time=0.0)


class JsonlExporterConfig(Strict):
    """One OTLP/JSON ExportTraceServiceRequest per line: for debugging, never for production."""

    enabled: bool = False
    path: str = "spans.jsonl"
    queue: QueueConfig = QueueConfig(consumers=1)


class ExportersConfig(Strict):
    otlp: list[OtlpExporterConfig] = Field(default_factory=list)
    store: StoreExporterConfig = StoreExporterConfig()
    jsonl: JsonlExporterConfig = JsonlExporterConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> "ExportersConfig":
        names = [exporter.name for exporter in self.otlp]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"otlp exporter names must be unique: {', '.join(duplicates)}")
        if not self.otlp and not self.store.enabled and not self.jsonl.enabled:
            raise ValueError("no exporter is enabled: kept spans would have nowhere to go")
        return self
