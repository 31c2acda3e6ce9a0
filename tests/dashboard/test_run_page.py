"""The run page's list of the run's other attempts: the latest MAX_ATTEMPTS of them, and a line saying so when
the run has more (a retry loop can reuse one run id thousands of times)."""

import asyncio
from pathlib import Path

from failpath.dashboard import pages
from failpath.otlp.timestamps import parse_iso_time
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file
from failpath.store.packets import MAX_ATTEMPTS, IndexedPacket
from tests.support.agent_dialects import build_run, scenario
from tests.support.packet_chain import Chain


def _packet(tmp_path: Path) -> Packet:
    async def main() -> Packet:
        chain = Chain(tmp_path)
        await chain.start()
        await chain.send(build_run("plain", scenario("tool_execution"), run_id="run-loop"))
        await chain.decide()
        await chain.stop()
        [path] = chain.packet_files()
        return load_file(path)

    return asyncio.run(main())


def test_a_run_retried_many_times_lists_its_latest_attempts_and_says_there_are_more(tmp_path: Path) -> None:
    packet = _packet(tmp_path)
    started = parse_iso_time(packet["started_at"])
    others = [  # oldest first, as the index gives them; the first one is beyond the latest MAX_ATTEMPTS
        IndexedPacket(
            f"{i:032x}", "run-loop", "refunds", "tool_execution", None, started - (50 - i) * 10**9, 1.0, tmp_path
        )
        for i in range(MAX_ATTEMPTS + 1)
    ]
    page = pages.run(packet, None, None, others[1:], True)
    assert f"/runs/{0:032x}'" not in page
    assert all(f"/runs/{i:032x}'" in page for i in range(1, MAX_ATTEMPTS + 1))
    assert f"Earlier attempts are not listed: the latest {MAX_ATTEMPTS} are." in page
    page = pages.run(packet, None, None, others[1:], False)
    assert all(f"/runs/{i:032x}'" in page for i in range(1, MAX_ATTEMPTS + 1))
    assert "Earlier attempts are not listed" not in page
