"""The packet index the CLI and the dashboard read: keyset pages that neither repeat nor skip a run when many
runs share a start time, filters that combine, trace-id prefixes, failures per bucket over time slots, and
the top workflows and models of each bucket."""

import itertools
import random
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from failpath.otlp.timestamps import iso_time
from failpath.store.packets import IndexedPacket, PacketStore, PacketWriteError

HOUR_NS = 3600 * 10**9  # packets keep milliseconds: every time here is whole ms
BASE_NS = 494_444 * HOUR_NS  # the start of an hour (2026-05-29 20:00 UTC)


def _packet(index: int, started_ns: int, bucket: str, workflow: str, model: str | None) -> dict[str, Any]:
    trace_id = f"{random.Random(index).getrandbits(128):032x}"
    return {
        "trace_id": trace_id,
        "run": {"run_id": f"run-{index}"},
        "workflow": workflow,
        "failure_bucket": bucket,
        "selected_model": model,
        "started_at": iso_time(started_ns),
        "duration_ms": 10.0,
    }


def _store(tmp_path: Path, packets: list[dict[str, Any]]) -> PacketStore:
    store = PacketStore(tmp_path / "store.db", tmp_path / "packets")
    for packet in packets:
        store.write(packet, b"{}")
    return store


def _all_pages(store: PacketStore, filters: dict[str, str], size: int) -> list[list[IndexedPacket]]:
    pages: list[list[IndexedPacket]] = []
    before: tuple[int, str] | None = None
    while True:
        page = store.page(filters, before, 0, size)
        if not page:
            return pages
        pages.append(page)
        before = (page[-1].started_ns, page[-1].trace_id)


def test_keyset_pages_neither_repeat_nor_skip_runs_that_share_a_start_time(tmp_path: Path) -> None:
    # 130 runs over only 4 distinct start times: every page boundary falls inside a tie.
    packets = [_packet(i, BASE_NS + (i % 4) * 10**6, "tool_execution", "refunds", "gpt-x") for i in range(130)]
    store = _store(tmp_path, packets)
    pages = _all_pages(store, {}, 50)
    assert [len(page) for page in pages] == [50, 50, 30]
    seen = [row.trace_id for page in pages for row in page]
    assert sorted(seen) == sorted(packet["trace_id"] for packet in packets)  # each once
    keys = [(row.started_ns, row.trace_id) for page in pages for row in page]
    assert keys == sorted(keys, reverse=True)  # newest first, ties by trace id, across page boundaries
    store.close()


def test_filters_combine_and_a_trace_prefix_finds_its_runs(tmp_path: Path) -> None:
    buckets, workflows, models = ("tool_execution", "retrieval_miss"), ("refunds", "search"), ("gpt-x", None)
    combos = itertools.cycle(itertools.product(buckets, workflows, models))
    packets = [_packet(i, BASE_NS + i * HOUR_NS, *next(combos)) for i in range(40)]
    store = _store(tmp_path, packets)
    chosen = {"bucket": "retrieval_miss", "workflow": "search", "model": "gpt-x"}
    expected = [
        p["trace_id"]
        for p in reversed(packets)
        if (p["failure_bucket"], p["workflow"], p["selected_model"]) == tuple(chosen.values())
    ]
    assert [row.trace_id for row in store.page(chosen)] == expected
    since = BASE_NS + 20 * HOUR_NS
    assert [row.trace_id for row in store.page(chosen, None, since)] == [
        p["trace_id"] for p in reversed(packets[20:]) if p["trace_id"] in expected
    ]
    target = packets[7]["trace_id"]
    assert [row.trace_id for row in store.page({"trace": target[:10].upper()})] == [target]
    assert [row.trace_id for row in store.find(target[:6])] == [
        p["trace_id"] for p in reversed(packets) if p["trace_id"].startswith(target[:6])
    ]
    assert store.find("f" * 32 + "0") == [] and store.page({"trace": "zz"}) == []
    store.close()


def test_failures_per_bucket_per_time_slot_and_the_top_workflows_and_models(tmp_path: Path) -> None:
    packets = [
        _packet(0, BASE_NS, "tool_execution", "refunds", "gpt-x"),
        _packet(1, BASE_NS + HOUR_NS - 10**6, "tool_execution", "refunds", "gpt-y"),
        _packet(2, BASE_NS + HOUR_NS, "tool_execution", "search", "gpt-x"),
        _packet(3, BASE_NS + 3 * HOUR_NS, "retrieval_miss", "search", None),
        _packet(4, BASE_NS - 10**6, "retrieval_miss", "search", "gpt-x"),  # before the window
    ]
    store = _store(tmp_path, packets)
    assert store.timeline(BASE_NS, HOUR_NS) == [
        (0, "tool_execution", 2),
        (1, "tool_execution", 1),
        (3, "retrieval_miss", 1),
    ]
    summaries = store.buckets(BASE_NS)
    assert [(s.bucket, s.count) for s in summaries] == [("tool_execution", 3), ("retrieval_miss", 1)]
    assert summaries[0].workflows == [("refunds", 2), ("search", 1)]
    assert summaries[0].models == [("gpt-x", 2), ("gpt-y", 1)]
    assert summaries[1].models == []  # a run without a model is not a model called "None"
    store.close()


def _counted(store: PacketStore, since_ns: int = 0) -> list[tuple[str, int, list[tuple[str, int]]]]:
    return [(s.bucket, s.count, s.workflows) for s in store.buckets(since_ns)]


def test_the_hourly_counts_follow_replaced_and_pruned_packets_and_an_old_index_is_counted(tmp_path: Path) -> None:
    packets = [_packet(i, BASE_NS + i * HOUR_NS // 4, "tool_execution", f"wf-{i % 2}", "gpt-x") for i in range(12)]
    store = _store(tmp_path, packets)
    store.write({**packets[0], "failure_bucket": "retrieval_miss"}, b"{}")  # the same run, diagnosed again
    assert _counted(store) == [("tool_execution", 11, [("wf-1", 6), ("wf-0", 5)]), ("retrieval_miss", 1, [("wf-0", 1)])]
    # Exact from any instant, not only from an hour's start: the part-hour before the first whole one is
    # counted from the packets themselves.
    assert store.buckets(BASE_NS + HOUR_NS // 4 + 1)[0].count == 10
    assert store.prune(3650 * 86400, 4) == 8  # keep the newest 4
    assert _counted(store) == [("tool_execution", 4, [("wf-0", 2), ("wf-1", 2)])]
    assert store.timeline(BASE_NS, HOUR_NS) == [(2, "tool_execution", 4)]
    store.close()
    # An index written before the counts existed: a reader counts the packets themselves, and the service
    # counts them into the hourly table when it opens the store.
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("DROP TABLE packet_counts")
    expected = [("tool_execution", 4, [("wf-0", 2), ("wf-1", 2)])]
    assert _counted(PacketStore(tmp_path / "store.db", tmp_path / "packets", readonly=True)) == expected
    assert _counted(PacketStore(tmp_path / "store.db", tmp_path / "packets")) == expected
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("SELECT SUM(n) FROM packet_counts").fetchone() == (4,)


def test_a_dated_folder_removed_by_hand_is_made_again(tmp_path: Path) -> None:
    """The store makes each dated folder once; one removed behind its back fails one write (which the packet
    stage retries) and is made again for the next."""
    store = _store(tmp_path, [_packet(1, BASE_NS, "tool_execution", "refunds", None)])
    day = tmp_path / "packets" / iso_time(BASE_NS)[:10]
    for file in day.iterdir():
        file.unlink()
    day.rmdir()
    second = _packet(2, BASE_NS + 1_000_000, "tool_execution", "refunds", None)
    with pytest.raises(PacketWriteError):
        store.write(second, b"{}")
    assert store.write(second, b"{}") == day / f"{second['trace_id']}.json"
    assert stat.S_IMODE(day.stat().st_mode) == 0o700
