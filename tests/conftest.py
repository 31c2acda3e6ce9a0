from collections.abc import Iterator

import pytest

from tests.support.sink import OtlpSink


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    """A real OTLP backend on 127.0.0.1 (gRPC and HTTP) that records what it receives."""
    backend = OtlpSink()
    backend.start_grpc()
    backend.start_http()
    yield backend
    backend.stop()
