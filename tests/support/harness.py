"""Runs a real failpath pipeline in-process on its own event loop thread, bound to free ports."""

import asyncio
import threading
from pathlib import Path
from typing import Any

import yaml

from failpath.config import Config, parse_config
from failpath.pipeline import Pipeline


def make_config(data_dir: Path, extra: dict[str, Any] | None = None) -> Config:
    """A config with every listener on a free 127.0.0.1 port, merged with extra (nested dicts merge)."""
    base: dict[str, Any] = {
        "data_dir": str(data_dir),
        "receivers": {
            "otlp": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}, "retry_after": "1s"}
        },
        "admin": {"endpoint": "127.0.0.1:0"},
        # Off here so transport tests can compare spans byte for byte; redaction tests switch it on.
        "redaction": {"enabled": False},
        # Off here so every span sent reaches the sink; sampling tests switch it on.
        "sampling": {"enabled": False},
        "service": {"shutdown_timeout": "5s"},
        "logging": {"level": "warning"},
    }

    def merge(into: dict[str, Any], more: dict[str, Any]) -> None:
        for key, value in more.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(base, extra or {})
    return parse_config(yaml.safe_dump(base), "test-config")


def otlp_exporter(name: str, endpoint: str, protocol: str = "grpc", **more: Any) -> dict[str, Any]:
    """An exporter entry with fast retries, suitable for tests."""
    entry: dict[str, Any] = {
        "name": name,
        "protocol": protocol,
        "endpoint": endpoint,
        "timeout": "3s",
        "retry": {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "60s"},
    }
    entry.update(more)
    return entry


class RunningFailpath:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.pipeline = Pipeline(config)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> "RunningFailpath":
        self._thread.start()
        self.call(self.pipeline.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self.pipeline.shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    @property
    def grpc_endpoint(self) -> str:
        assert self.pipeline.grpc is not None
        return f"127.0.0.1:{self.pipeline.grpc.port}"

    @property
    def http_url(self) -> str:
        assert self.pipeline.http is not None
        return f"http://127.0.0.1:{self.pipeline.http.port}/v1/traces"

    @property
    def admin_url(self) -> str:
        assert self.pipeline.admin is not None
        return f"http://127.0.0.1:{self.pipeline.admin.port}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.pipeline.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    def metric_sum(self, name: str, **labels: str) -> float:
        """The sum over every sample of name whose labels include these (any value of the others)."""
        return sum(
            sample.value
            for family in self.pipeline.metrics.registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
