"""The traces recorded from real agent frameworks (tests/fixtures/frameworks), as requests."""

import json
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp import json_codec

FIXTURES = Path(__file__).parents[1] / "fixtures" / "frameworks"


def recorded_requests() -> list[ExportTraceServiceRequest]:
    """Every recorded trace labels.json lists, in name order."""
    requests = []
    for name in sorted(json.loads((FIXTURES / "labels.json").read_text())):
        request = ExportTraceServiceRequest()
        json_codec.decode_request((FIXTURES / f"{name}.json").read_bytes(), request)
        requests.append(request)
    return requests
