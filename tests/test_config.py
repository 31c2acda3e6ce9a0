"""Config loading: defaults, env substitution, and errors that name the file, the key path and the reason."""

import subprocess
import sys
from pathlib import Path

import pytest

import failpath
from failpath.config import ConfigError, load_config, parse_config
from failpath.diagnosis.config import default_buckets
from failpath.redaction.phones import DEFAULT_REGIONS
from failpath.signals.errors import ErrorSignalsConfig
from failpath.signals.vocabulary import SignalsConfig
from tests.support.small_disk import small_disk

ROOT = Path(__file__).parent.parent


def test_default_config_is_valid_and_local_only() -> None:
    config = load_config(ROOT / "config" / "failpath.yaml")
    otlp = config.receivers.otlp
    assert otlp.grpc.endpoint == "127.0.0.1:4317"
    assert otlp.http.endpoint == "127.0.0.1:4318"
    assert config.admin.endpoint == "127.0.0.1:13133"
    assert config.exporters.store.enabled and not config.exporters.otlp


def test_the_reference_config_spells_out_the_defaults() -> None:
    """config/failpath.yaml lists the bucket rules and signals; they must be what failpath uses without it."""
    config = load_config(ROOT / "config" / "failpath.yaml")
    assert config.packets.buckets == default_buckets()
    assert config.agents.signals == SignalsConfig()
    assert config.sampling.errors == ErrorSignalsConfig()
    assert tuple(config.redaction.detectors.phone_regions) == DEFAULT_REGIONS


def test_every_example_config_is_valid() -> None:
    for path in (ROOT / "config").glob("*.yaml"):
        load_config(path)


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("receivers:\n  otlp:\n    grpc:\n      endpiont: 127.0.0.1:4317\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "receivers.otlp.grpc.endpiont: unknown key" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            "receivers: {otlp: {http: {max_request_body_size: lots}}}",
            "receivers.otlp.http.max_request_body_size",
            "not a size",
        ),
        ("service: {shutdown_timeout: soon}", "service.shutdown_timeout", "not a duration"),
        ("admin: {endpoint: '::1:13133'}", "admin.endpoint", "brackets"),
        ("exporters: {otlp: [{name: a, protocol: http, endpoint: '127.0.0.1:4318'}]}", "exporters.otlp.0", "http://"),
        ("exporters: {otlp: [{name: a, endpoint: 'x:1'}, {name: a, endpoint: 'y:1'}]}", "exporters", "unique"),
        ("exporters: {store: {enabled: false}}", "exporters", "nowhere to go"),
        ("logging: {level: loud}", "logging.level", "'debug'"),
        (
            "redaction: {detectors: {phone_regions: [GB, UK]}}",
            "redaction.detectors.phone_regions",
            "unknown phone region(s) UK",
        ),
        ("redaction: {detectors: {phone_regions: []}}", "redaction.detectors.phone_regions", "at least 1"),
        # Strings are not numbers or booleans, however they look.
        ("receivers: {otlp: {grpc: {enabled: 'yes'}}}", "receivers.otlp.grpc.enabled", "valid boolean"),
        ("sampling: {buffer: {max_traces: '50000'}}", "sampling.buffer.max_traces", "valid integer"),
        ("receivers: {otlp: {http: {max_connections: 0}}}", "receivers.otlp.http.max_connections", "positive"),
        ("service: {shutdown_timeout: 0}", "service.shutdown_timeout", "greater than 0"),
        # Diagnosis mappings and rules are checked like everything else.
        (
            "agents: {signals: {facts: {route.riskk: [acme.risk]}}}",
            "agents.signals.facts",
            "unknown fact(s) route.riskk",
        ),
        (
            "agents: {signals: {facts: {run.outcome: [{attribute: acme.result}]}}}",
            "agents.signals.facts.run.outcome",
            "json_key",
        ),
        (
            "packets: {buckets: [{name: x, description: d, first_check: c, avoid: a, next_action: n,"
            " match: [{finding: [tool_broke]}]}]}",
            "packets.buckets.0.match.0.finding.0",
            "'retrieval_failed'",
        ),
        (
            "packets: {buckets: [{name: x, description: d, first_check: c, avoid: a, next_action: n,"
            " match: [{finding: [tool_failed], error: '(unclosed'}]}]}",
            "packets.buckets.0.match.0.error",
            "invalid regex",
        ),
    ],
)
def test_bad_values_say_where_and_why(text: str, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "inline.yaml")
    message = str(caught.value)
    assert message.startswith("inline.yaml: invalid config")
    assert where in message and reason in message


def test_env_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP_PORT", "4999")
    monkeypatch.setenv("FP_TOKEN", "abc$def")
    config = parse_config(
        """
receivers: {otlp: {grpc: {endpoint: "127.0.0.1:${env:FP_PORT}"}}}
service: {shutdown_timeout: "${env:FP_UNSET:-3s}"}
exporters:
  otlp: [{name: b, endpoint: "h:1", headers: {authorization: "Bearer ${env:FP_TOKEN}", cost: "$$5"}}]
"""
    )
    assert config.receivers.otlp.grpc.endpoint == "127.0.0.1:4999"
    assert config.service.shutdown_timeout == 3.0
    assert config.exporters.otlp[0].headers == {"authorization": "Bearer abc$def", "cost": "$5"}


def test_missing_env_var_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FP_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"x.yaml: data_dir: environment variable FP_MISSING is not set"):
        parse_config("data_dir: ${env:FP_MISSING}", "x.yaml")


def test_check_config_command(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "failpath", "check-config", str(ROOT / "config" / "failpath.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("admin: {endpoint: nowhere}\n")
    bad = subprocess.run(
        [sys.executable, "-m", "failpath", "check-config", str(bad_file)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert f"{bad_file}: invalid config" in bad.stderr and "admin.endpoint" in bad.stderr


def test_check_config_warns_about_risky_settings(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(
        "receivers: {otlp: {grpc: {endpoint: '0.0.0.0:4317'}}}\nredaction: {hmac_key_env: FP_UNSET_KEY}\n"
        "dashboard: {enabled: true, endpoint: '0.0.0.0:13134'}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "failpath", "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "receivers.otlp.grpc listens on 0.0.0.0:4317 without auth or TLS" in result.stdout
    assert "no redaction HMAC key (environment variable FP_UNSET_KEY)" in result.stdout
    assert "receivers.otlp.http" not in result.stdout  # still on 127.0.0.1
    assert "the dashboard listens on 0.0.0.0:13134 without auth" in result.stdout


@pytest.mark.parametrize("script", ["failpath", "agent-debug"])
def test_console_scripts_are_installed(script: str) -> None:
    path = Path(sys.executable).parent / script
    result = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(failpath.__version__)


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "failpath", "check-config", str(path)], capture_output=True, text=True, check=False
    )


def test_check_config_refuses_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    path = tmp_path / "c.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data' / 'inner'}\n")
    result = _check_config(path)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"{path}: data_dir {tmp_path / 'data' / 'inner'}: {tmp_path / 'data'} is a file, not a folder\n"
    )


def test_serve_refuses_a_read_only_data_dir_in_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "ro", size="1m") as disk:
        if disk is None:
            pytest.skip("needs a tmpfs it can mount (root) to make a read-only filesystem")
        subprocess.run(["mount", "-o", "remount,ro", str(disk.path)], check=True)
        path = tmp_path / "c.yaml"
        path.write_text(f"data_dir: {disk.path / 'data'}\nadmin: {{endpoint: '127.0.0.1:0'}}\n")
        checked = _check_config(path)
        served = subprocess.run(
            [sys.executable, "-m", "failpath", "serve", "--config", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    assert checked.returncode == 2
    assert checked.stderr.strip().endswith(f"cannot write in {disk.path}: Read-only file system")
    assert served.returncode == 2
    (line,) = served.stderr.strip().splitlines()
    assert "Read-only file system" in line and "Traceback" not in served.stderr


def test_check_config_warns_when_nothing_can_arrive_or_metrics_are_open(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers: {otlp: {grpc: {enabled: false}, http: {enabled: false}}}\nadmin: {endpoint: '0.0.0.0:13133'}\n"
    )
    result = _check_config(path)
    assert result.returncode == 0
    assert "both receivers are disabled" in result.stdout
    assert "admin listens on 0.0.0.0:13133 without auth" in result.stdout
