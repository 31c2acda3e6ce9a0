"""The spool on real files: what is appended and not settled comes back after a restart, settled spans do
not, segments go once no holder needs them, and a full spool says so."""

import asyncio
import stat
from pathlib import Path

from failpath.metrics import Metrics
from failpath.spool.config import SpoolConfig
from failpath.spool.write_ahead import Spool


def _spool(path: Path, **config: object) -> Spool:
    return Spool(path, SpoolConfig.model_validate({"segment_bytes": 65536, **config}), Metrics())


def _sizes(folder: Path) -> list[int]:
    return [path.stat().st_size for path in sorted(folder.iterdir())]


def test_unsettled_requests_come_back_after_a_restart_and_settled_spans_do_not(tmp_path: Path) -> None:
    async def first_run() -> None:
        spool = _spool(tmp_path)
        assert spool.recover() == []
        await spool.start()
        lsns = [await spool.append(f"request {index}".encode()) for index in range(5)]
        assert lsns == [1, 2, 3, 4, 5]
        spool.settle([(b"", (1,)), (b"T" * 16, (2, 3))])  # record 1 done; trace T done in records 2 and 3
        # No close(): as if the process were killed here.

    asyncio.run(first_run())
    spool = _spool(tmp_path)
    pending = spool.recover()
    assert [(p.lsn, p.payload, p.settled_traces) for p in pending] == [
        (2, b"request 1", {b"T" * 16}),
        (3, b"request 2", {b"T" * 16}),
        (4, b"request 3", set()),
        (5, b"request 4", set()),
    ]
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()} == {0o600}

    async def second_run() -> None:
        await spool.start()
        assert await spool.append(b"new") == 7  # after the settled record's LSN 6
        await spool.close()

    asyncio.run(second_run())


def test_segments_go_once_no_holder_needs_them(tmp_path: Path) -> None:
    async def main() -> None:
        spool = _spool(tmp_path, sync="none")
        spool.recover()
        await spool.start()
        held: list[int] = []
        spool.add_holder(lambda: min(held, default=None))
        for _ in range(40):
            held.append(await spool.append(b"x" * 8000))  # ~5 segments
        segments = len(_sizes(tmp_path))
        assert segments >= 5
        held[:] = held[20:]
        assert spool.release() >= 1
        assert 1 < len(_sizes(tmp_path)) < segments
        held.clear()
        spool.release()
        assert spool.size == 0 and _sizes(tmp_path) == [0]
        await spool.close()
        assert _spool(tmp_path).recover() == []

    asyncio.run(main())


def test_a_full_spool_says_so(tmp_path: Path) -> None:
    async def main() -> None:
        spool = _spool(tmp_path, max_bytes="1MiB", sync="none")
        spool.recover()
        await spool.start()
        while spool.has_room(100_000):
            await spool.append(b"y" * 100_000)
        assert 900_000 < spool.size <= 1 << 20
        await spool.close()

    asyncio.run(main())


def test_group_commit_fsyncs_once_for_many_appends_and_early_past_sync_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        metrics = Metrics()
        spool = Spool(tmp_path, SpoolConfig.model_validate({"sync_interval": "200ms", "sync_bytes": "64KiB"}), metrics)
        spool.recover()
        await spool.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(spool.append(b"s" * 100) for _ in range(50)))  # small: they wait the interval
        assert loop.time() - started >= 0.19
        assert metrics.registry.get_sample_value("failpath_spool_fsync_seconds_count") == 1
        started = loop.time()
        await asyncio.gather(*(spool.append(b"b" * 40_000) for _ in range(2)))  # 80 KB: synced at once
        assert loop.time() - started < 0.15
        await spool.close()

    asyncio.run(main())
