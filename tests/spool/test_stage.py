"""The spool stage: what it acknowledges is on disk, a refused request is settled at once, and a restart
replays the rest (without the traces already handed on), waiting while the next stage is full."""

import asyncio
import os
from pathlib import Path

import pytest

from failpath.consumer import Batch, Refused
from failpath.metrics import Metrics
from failpath.spool.config import SpoolConfig
from failpath.spool.stage import SpoolStage
from failpath.spool.write_ahead import Spool
from tests.support.traces import Recorder, TraceSpec, request_of


class _Next(Recorder):
    """Records batches with their LSNs; refuses the first `refusals` offers."""

    def __init__(self, refusals: int = 0) -> None:
        super().__init__()
        self.refusals = refusals
        self.lsns: list[tuple[int, ...]] = []

    async def consume(self, batch: Batch) -> None:
        if self.refusals:
            self.refusals -= 1
            raise Refused("overloaded", "full")
        self.lsns.append(batch.lsns)
        await super().consume(batch)


def _stage(path: Path, next_stage: _Next) -> SpoolStage:
    metrics = Metrics()
    return SpoolStage(Spool(path, SpoolConfig(), metrics), next_stage, metrics)


def test_a_restart_replays_what_was_not_settled_and_skips_what_was(tmp_path: Path) -> None:
    first, second = (TraceSpec(os.urandom(16)).spans() for _ in range(2))

    async def before_the_crash() -> None:
        refusing = _Next(refusals=1)
        stage = _stage(tmp_path, refusing)
        await stage.start()
        with pytest.raises(Refused):  # refused: settled at once, the client sends it again
            await stage.consume(Batch(request_of(second), len(second)))
        await stage.consume(Batch(request_of(first + second), 8))
        await stage.consume(Batch(request_of(second), 4))
        assert refusing.lsns == [(3,), (4,)]  # LSN 2: the record that settled the refused one
        stage.spool.settle([(first[0].trace_id, (3,))])  # the first trace was delivered; then a kill

    asyncio.run(before_the_crash())

    async def after_the_restart() -> None:
        replayed = _Next(refusals=3)  # full for a while: the replay waits
        stage = _stage(tmp_path, replayed)
        await stage.start()
        for _ in range(100):
            if len(replayed.lsns) == 2:
                break
            await asyncio.sleep(0.05)
        assert replayed.lsns == [(3,), (4,)]
        assert [span.trace_id for span in replayed.spans()] == [second[0].trace_id] * 8
        await stage.shutdown(0)
        await stage.close()

    asyncio.run(after_the_restart())
