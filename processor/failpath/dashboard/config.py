"""The dashboard's YAML: off the network unless asked, with the receivers' bearer-token and TLS settings."""

from pydantic import Field

from failpath.config_types import Duration, Endpoint, Strict
from failpath.receivers.config import BearerAuthConfig, ServerTLSConfig


class DashboardConfig(Strict):
    """Failing runs, their packets and buckets as web pages, served by `failpath serve` or standalone."""

    enabled: bool = False
    endpoint: Endpoint = "127.0.0.1:13134"
    # Bearer token every page needs (packets are incident artifacts).
    auth: BearerAuthConfig | None = None
    # HTTPS with this certificate, as the receivers' tls (client_ca_file: clients need a certificate too).
    tls: ServerTLSConfig | None = None
    # A link to the trace in the tracing backend, {trace_id} filled in, e.g.
    # http://127.0.0.1:16686/trace/{trace_id} (Jaeger) or a Tempo/Phoenix URL.
    trace_url: str | None = None
    max_connections: int = Field(default=32, gt=0)
    read_header_timeout: Duration = Field(default=10.0, gt=0)
    idle_timeout: Duration = Field(default=60.0, gt=0)
