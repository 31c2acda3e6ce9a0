"""deploy/: the Kubernetes manifests and the compose file are valid against their schemas, the failpath
configs inside them load, and the numbers that must agree (memory, grace period, ports) do."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from failpath.config import Config, load_config, parse_config
from failpath.config_types import parse_size
from tests.support.harness import RunningFailpath, make_config, otlp_exporter
from tests.support.sink import OtlpSink

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").rglob("*.yaml"))
# Tokens the manifests read from Secrets; config loading checks that they are set.
ENV = {"FAILPATH_RECEIVER_TOKEN": "test-token", "BACKEND_TOKEN": "test-token", "FAILPATH_TOKEN": "test-token"}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _failpath_config(documents: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Config:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    [config_map] = [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "failpath-config"]
    return parse_config(config_map["data"]["failpath.yaml"], "ConfigMap failpath-config")


def _failpath_container(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    [workload] = [d for d in documents if d["kind"] in ("Deployment", "StatefulSet") and "failpath" in str(d)]
    pod = workload["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "failpath"]
    return pod, container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: str(path.relative_to(DEPLOY)))
def test_manifests_are_valid_kubernetes(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_failpath_config_loads_and_forwards_to_jaeger() -> None:
    config = load_config(DEPLOY / "compose" / "failpath.yaml")
    assert [exporter.endpoint for exporter in config.exporters.otlp] == ["jaeger:4317"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"]["agent"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://failpath:4317"
    assert "failpath-data:/var/lib/failpath" in compose["services"]["failpath"]["volumes"]


@pytest.mark.parametrize("path", [DEPLOY / "k8s" / "sidecar.yaml", DEPLOY / "k8s" / "scale-out" / "failpath.yaml"])
def test_failpath_pods_match_their_config(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    documents = _documents(path)
    config = _failpath_config(documents, monkeypatch)
    pod, container = _failpath_container(documents)
    # Drain before the kubelet kills it.
    assert pod["terminationGracePeriodSeconds"] > config.service.shutdown_timeout + 5
    # The memory limit holds the sampling buffer, every exporter queue, and the process itself.
    limit = parse_size(re.sub(r"Mi$", "MiB", container["resources"]["limits"]["memory"]))
    queues = sum(exporter.queue.max_bytes for exporter in config.exporters.otlp)
    assert limit >= config.sampling.buffer.max_bytes + queues + (100 << 20)
    # Probes hit the admin endpoint on the port the config listens on.
    admin_port = int(config.admin.endpoint.rpartition(":")[2])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["admin"] == admin_port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/etc/failpath", config.data_dir, "/tmp"} <= mounts
    secrets = {env["name"] for env in container["env"]}
    assert "FAILPATH_REDACTION_KEY" in secrets


def test_sidecar_receivers_listen_on_the_pod_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _failpath_config(_documents(DEPLOY / "k8s" / "sidecar.yaml"), monkeypatch)
    assert config.receivers.otlp.grpc.endpoint.startswith("127.0.0.1:")
    assert config.receivers.otlp.http.endpoint.startswith("127.0.0.1:")


def test_gateway_routes_by_trace_id_to_the_failpath_headless_service() -> None:
    documents = _documents(DEPLOY / "k8s" / "scale-out" / "collector.yaml")
    [config_map] = [d for d in documents if d["kind"] == "ConfigMap"]
    collector = yaml.safe_load(config_map["data"]["config.yaml"])
    balancer = collector["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "traceID"
    assert balancer["resolver"]["k8s"]["service"] == "failpath-headless.agents"
    failpath = _documents(DEPLOY / "k8s" / "scale-out" / "failpath.yaml")
    [service] = [d for d in failpath if d["kind"] == "Service"]
    assert service["metadata"]["name"] == "failpath-headless" and service["spec"]["clusterIP"] == "None"


def test_dockerfile_keeps_its_promises() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 4317 4318 13133$", text, re.MULTILINE)
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1].split("\n\n")[0]
    assert re.search(r'^ENTRYPOINT \["/opt/failpath/venv/bin/failpath", "serve"\]$', text, re.MULTILINE)
    assert re.search(r'^VOLUME \["/var/lib/failpath"\]$', text, re.MULTILINE)
    container = load_config(ROOT / "config" / "container.yaml")
    assert container.data_dir == "/var/lib/failpath"


def test_example_agent_runs_through_failpath(tmp_path: Path, sink: OtlpSink) -> None:
    """deploy/example-agent/agent.py, as compose runs it, against a failpath forwarding to a sink."""
    exporter = otlp_exporter("backend", f"127.0.0.1:{sink.grpc_port}")
    config = make_config(
        tmp_path,
        {
            "exporters": {"otlp": [exporter]},
            "sampling": {"enabled": True, "decision_wait": "100ms"},
            "redaction": {"enabled": True},
        },
    )
    with RunningFailpath(config) as failpath:
        result = subprocess.run(
            [sys.executable, str(DEPLOY / "example-agent" / "agent.py")],
            env={
                **os.environ,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{failpath.grpc_endpoint}",
                "OTEL_SERVICE_NAME": "refund-agent",
                "RUNS": "6",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "sent 6 runs" in result.stdout
        # Runs 3 and 6 fail: kept whole (5 spans each) with a packet each; healthy runs sampled at 10%.
        deadline = time.monotonic() + 15
        while failpath.metric("failpath_packets_written_total", bucket="tool_execution") < 2:
            assert time.monotonic() < deadline, "the failing runs got no packets"
            time.sleep(0.05)
    failing = {span.trace_id for span in sink.spans() if span.status.code == 2}
    assert len(failing) == 2
    assert sum(1 for span in sink.spans() if span.trace_id in failing) == 10
    text = str(sink.requests)
    assert "4111 1111 1111 1111" not in text and "dana@example.com" not in text
