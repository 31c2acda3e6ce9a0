"""The packet path as the pipeline runs it, driven by hand: redaction -> tail sampling (with an injected
clock) -> packets -> a recorder standing in for the exporters."""

import asyncio
import os
import random
from pathlib import Path
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.agents.config import AgentsConfig
from failpath.metrics import Metrics
from failpath.packets.config import PacketsConfig
from failpath.packets.stage import PacketMaker, PacketStage
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import RedactionStage
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage
from tests.support.traces import FakeClock, Recorder, batch_of

POLICIES = [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 100}]


class Chain:
    def __init__(
        self,
        data: Path,
        packets: dict[str, Any] | None = None,
        sampling: dict[str, Any] | None = None,
        agents: dict[str, Any] | None = None,
    ) -> None:
        """packets, sampling, agents: config sections, as in the YAML; each goes to every stage that reads
        it, as the pipeline hands them out."""
        os.environ.setdefault("FAILPATH_REDACTION_KEY", "test-key-" + "0" * 32)
        self.data = data
        self.clock = FakeClock()
        self.recorder = Recorder()
        self.metrics = Metrics()
        sampling_config = SamplingConfig.model_validate({"policies": POLICIES, **(sampling or {})})
        agents_config = AgentsConfig.model_validate(agents or {})
        packets_config = PacketsConfig.model_validate(packets or {})
        self.packets = PacketStage(
            packets_config,
            PacketMaker(packets_config, agents_config, sampling_config.errors, sampling_config.workflow_key),
            data / "spans.db",
            data / "replay",
            self.recorder,
            self.metrics,
        )
        self.sampling = TailSamplingStage(
            sampling_config, self.packets, self.metrics, clock=self.clock, facts=agents_config.signals
        )
        self.redaction = RedactionStage(RedactionConfig(), self.sampling, self.metrics)

    async def start(self) -> None:
        await self.packets.start()

    async def send(self, spans: list[Any]) -> None:
        await self.redaction.consume(batch_of(spans))

    async def decide(self) -> None:
        self.clock.now += 3
        await self.sampling.tick()

    async def stop(self) -> None:
        deadline = asyncio.get_running_loop().time() + 10
        await self.sampling.shutdown(deadline)
        await self.packets.shutdown(deadline)

    def packet_files(self) -> list[Path]:
        return sorted((self.data / "replay").glob("*/*.json"))


async def send_shuffled(chain: Chain, spans: list[Any], seed: int) -> Any:
    """Children in three requests in random order, the root last; returns a straggler (a cleanup span
    that ends after the root) to send after the decision."""
    rng = random.Random(seed)
    root, children = spans[0], spans[1:]
    rng.shuffle(children)
    late = Span(
        trace_id=root.trace_id,
        span_id=rng.randbytes(8),
        parent_span_id=root.span_id,
        name="flush telemetry",
        start_time_unix_nano=root.end_time_unix_nano,
        end_time_unix_nano=root.end_time_unix_nano + 5_000_000,
    )
    for part in (children[0::3], children[1::3], children[2::3]):
        if part:
            await chain.send(part)
    await chain.send([root])
    return late
