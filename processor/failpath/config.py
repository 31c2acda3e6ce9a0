"""The whole YAML config: loading, ${env:NAME} substitution and validation with clear errors."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from failpath.agents.config import AgentsConfig
from failpath.config_types import Duration, Endpoint, Strict
from failpath.dashboard.config import DashboardConfig
from failpath.exporters.config import ExportersConfig
from failpath.packets.config import PacketsConfig
from failpath.receivers.config import BearerAuthConfig, ReceiversConfig
from failpath.redaction.config import RedactionConfig
from failpath.sampling.config import ErrorPolicyConfig, SamplingConfig
from failpath.spool.config import SpoolConfig

# Where every command looks for its config when --config is not given: FAILPATH_CONFIG, then these.
CONFIG_ENV = "FAILPATH_CONFIG"
SEARCHED = (Path("config/failpath.yaml"), Path("/etc/failpath/failpath.yaml"))
SEARCH_ORDER = "--config, else $FAILPATH_CONFIG, else ./config/failpath.yaml, else /etc/failpath/failpath.yaml"


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """The config a command uses and how it was found; path None: none found, the built-in defaults."""

    path: Path | None
    found_by: str

    def describe(self) -> str:
        if self.path is None:
            return f"no config found ({SEARCH_ORDER}): the built-in defaults"
        return f"{self.path} ({self.found_by})"


def find_config(given: Path | None) -> ConfigSource:
    if given is not None:
        return ConfigSource(given, "--config")
    named = os.environ.get(CONFIG_ENV)
    if named:
        return ConfigSource(Path(named), CONFIG_ENV)
    for candidate in SEARCHED:
        if candidate.is_file():
            return ConfigSource(candidate, "found there")
    return ConfigSource(None, "built-in defaults")


class AdminConfig(Strict):
    """/healthz, /readyz and /metrics."""

    enabled: bool = True
    endpoint: Endpoint = "127.0.0.1:13133"
    # Bearer token for /metrics (probes on /healthz and /readyz never need one).
    auth: BearerAuthConfig | None = None
    max_connections: int = Field(default=16, gt=0)
    read_header_timeout: Duration = Field(default=10.0, gt=0)
    idle_timeout: Duration = Field(default=60.0, gt=0)


class ServiceConfig(Strict):
    # SIGTERM/SIGINT: how long to drain stages and exporter queues before giving up (and counting the rest).
    shutdown_timeout: Duration = Field(default=15.0, gt=0)


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: readable text on a terminal, JSON lines otherwise (containers, files, log shippers).
    format: Literal["auto", "json", "text"] = "auto"


class Config(Strict):
    # Store, packets and other state live here; created 0700. A relative path is taken from the directory
    # failpath is started in, by `serve` and the reading commands alike.
    data_dir: str = "data"
    receivers: ReceiversConfig = ReceiversConfig()
    # The first stage: every string of every span is redacted before anything else sees it.
    redaction: RedactionConfig = RedactionConfig()
    # After redaction: accepted spans are on disk before the client hears OK, replayed after a crash.
    spool: SpoolConfig = SpoolConfig()
    # After the spool: spans are buffered per trace and each trace is kept or dropped as a whole.
    sampling: SamplingConfig = SamplingConfig()
    # After sampling: a replay packet and a failure bucket for each kept failing run.
    packets: PacketsConfig = PacketsConfig()
    # How spans are read as agent steps (roles), for packets and buckets.
    agents: AgentsConfig = AgentsConfig()
    exporters: ExportersConfig = ExportersConfig()
    admin: AdminConfig = AdminConfig()
    # Failing runs as web pages (off by default; also `failpath dashboard` over a data_dir).
    dashboard: DashboardConfig = DashboardConfig()
    service: ServiceConfig = ServiceConfig()
    logging: LoggingConfig = LoggingConfig()

    def data_path(self, path: str) -> Path:
        """A config path resolved under data_dir unless absolute."""
        return Path(self.data_dir) / path

    def packet_paths(self) -> tuple[Path, Path]:
        """The embedded store (which holds the packet index) and the packets folder."""
        return self.data_path(self.exporters.store.path), self.data_path(self.packets.path)


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def config_warnings(config: Config) -> list[str]:
    """Valid but risky settings, said at check-config and at start."""
    warnings: list[str] = []
    otlp = config.receivers.otlp
    for name, receiver in (("grpc", otlp.grpc), ("http", otlp.http)):
        host = receiver.endpoint.rpartition(":")[0].strip("[]")
        if receiver.enabled and host not in _LOOPBACK and not (otlp.auth or receiver.tls):
            warnings.append(
                f"receivers.otlp.{name} listens on {receiver.endpoint} without auth or TLS: "
                "anyone who can reach it can send spans"
            )
    if not otlp.grpc.enabled and not otlp.http.enabled:
        warnings.append("both receivers are disabled: failpath will accept no spans")
    admin = config.admin
    if admin.enabled and admin.auth is None and admin.endpoint.rpartition(":")[0].strip("[]") not in _LOOPBACK:
        warnings.append(
            f"admin listens on {admin.endpoint} without auth: anyone who can reach it can read /metrics "
            "(workflow names, volumes); set admin.auth"
        )
    dashboard = config.dashboard
    if (
        dashboard.enabled
        and dashboard.auth is None
        and dashboard.endpoint.rpartition(":")[0].strip("[]") not in _LOOPBACK
    ):
        warnings.append(
            f"the dashboard listens on {dashboard.endpoint} without auth: anyone who can reach it can read "
            "every replay packet; set dashboard.auth"
        )
    redaction = config.redaction
    if not redaction.enabled:
        warnings.append("redaction is disabled: spans are stored and forwarded as received")
    elif redaction.hmac_key() is None:
        warnings.append(
            f"no redaction HMAC key (environment variable {redaction.hmac_key_env}): secrets are masked "
            "as <redacted:RULE> without stable pseudonyms"
        )
    sampling = config.sampling
    if sampling.enabled and not any(isinstance(policy, ErrorPolicyConfig) for policy in sampling.policies):
        warnings.append("sampling has no error policy: traces with errors may be sampled away")
    if config.packets.enabled and not sampling.enabled:
        warnings.append("packets are built when tail sampling decides a trace: with sampling off, none are")
    return warnings


class ConfigError(Exception):
    """A config that cannot be used, with the file, the key path and the reason."""


_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")


def _substitute(node: Any, source: str, path: str) -> Any:
    """Replace ${env:NAME} and ${env:NAME:-default} in string values; $$ is a literal $."""
    if isinstance(node, dict):
        return {key: _substitute(value, source, f"{path}.{key}" if path else str(key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, source, f"{path}[{index}]") for index, value in enumerate(node)]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"{source}: {path}: environment variable {name} is not set")
            return default
        return value

    substituted = _ENV_REF.sub(replace, node)
    # A value that was only a reference takes the YAML type of what it expands to ("4317" -> 4317).
    if substituted != node and _ENV_REF.fullmatch(node.strip()):
        loaded = yaml.safe_load(substituted) if substituted else substituted
        return loaded if isinstance(loaded, int | float | bool) else substituted
    return substituted


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid config"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"  {where}: {reason}")
    return "\n".join(lines)


def parse_config(text: str, source: str = "<string>") -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    raw = _substitute(raw, source, "")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_found(given: Path | None) -> tuple[Config, ConfigSource]:
    """The config find_config names, loaded (the built-in defaults when none is found), and where it came
    from. Raises ConfigError."""
    source = find_config(given)
    return (Config() if source.path is None else load_config(source.path)), source


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path))
