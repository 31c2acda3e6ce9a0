"""Traces recorded from real agent frameworks (pydantic-ai, LangGraph + OpenInference, OpenAI Agents +
OpenInference; tests/fixtures/frameworks/record.py made them) go through redaction -> tail sampling ->
packets: each failure mode gets the bucket it belongs to, and runs whose failures were recovered get no
packet."""

import asyncio
import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp import json_codec
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file
from tests.support.packet_chain import Chain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "frameworks"
LABELS: dict[str, dict[str, str]] = json.loads((FIXTURES / "labels.json").read_text())


def _spans(name: str) -> list[object]:
    request = ExportTraceServiceRequest()
    json_codec.decode_request((FIXTURES / f"{name}.json").read_bytes(), request)
    return [span for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]


@pytest.mark.parametrize("name", sorted(LABELS))
def test_recorded_framework_run_gets_its_bucket(tmp_path: Path, name: str) -> None:
    expected = LABELS[name]["bucket"]
    spans = _spans(name)
    assert spans, "an empty fixture: record it again"

    async def main() -> list[Packet]:
        chain = Chain(tmp_path)
        await chain.start()
        await chain.send(spans)
        await chain.decide()
        await chain.stop()
        return [load_file(path) for path in chain.packet_files()]

    packets = asyncio.run(main())
    if expected == "none":
        assert packets == [], [packet["evidence"] for packet in packets]
    else:
        assert [packet["failure_bucket"] for packet in packets] == [expected], [p["evidence"] for p in packets]
