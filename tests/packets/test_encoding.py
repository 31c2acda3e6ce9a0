"""Packets are encoded with orjson: the bytes read back as what the json module writes, on real packets of the
labelled corpus; what orjson refuses (an integer beyond 64 bits) the json module writes."""

import json
import math
from typing import Any, cast

from failpath.agents.config import AgentsConfig
from failpath.consumer import DecidedTrace, Decision
from failpath.packets.config import PacketsConfig
from failpath.packets.packet import Packet
from failpath.packets.stage import PacketMaker
from failpath.packets.trimming import fit
from failpath.sampling.config import SamplingConfig
from tests.support.diagnosis_corpus import corpus
from tests.support.traces import request_of

_STANDARD = {"ensure_ascii": False, "separators": (",", ":")}


def _packets() -> list[Packet]:
    sampling = SamplingConfig()
    maker = PacketMaker(PacketsConfig(), AgentsConfig(), sampling.errors, sampling.workflow_key)
    decision = Decision(True, "errors", 1.0, None, "error", "status")
    packets = []
    for run in corpus(per_shape=1):
        data = request_of(run.spans).SerializeToString()
        packet = maker.make(data, DecidedTrace(run.spans[0].trace_id, decision, 0, len(data)))
        if packet is not None:
            packets.append(packet)
    return packets


def test_real_packets_encode_as_the_json_module_writes_them() -> None:
    packets = _packets()
    assert len(packets) > 50
    for packet in packets:
        standard = json.dumps(packet, **_STANDARD).encode()  # type: ignore[arg-type]
        encoded = fit(packet, 10**9)
        assert json.loads(encoded) == json.loads(standard)
        assert len(encoded) == len(standard)  # the same text: no float under 1e-4 in these


def test_what_orjson_refuses_the_json_module_writes() -> None:
    packet = cast(Packet, {"tokens": {"input": 2**70, "output": 3}, "trimmed": []})
    assert json.loads(fit(packet, 10**9)) == {"tokens": {"input": 2**70, "output": 3}, "trimmed": []}


def test_nan_is_written_as_null() -> None:
    packet: dict[str, Any] = {"verifier": {"score": math.nan}, "trimmed": []}
    assert json.loads(fit(cast(Packet, packet), 10**9)) == {"verifier": {"score": None}, "trimmed": []}
