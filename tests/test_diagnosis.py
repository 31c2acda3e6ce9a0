"""Diagnosis measured on a labelled corpus: every bucket in five dialects and several shapes each, recovered
failures mixed into a third of the runs, healthy runs, each run sent through redaction -> tail sampling ->
packets split across requests in shuffled order with a straggler after the decision. Prints the confusion
matrix and the accuracy per bucket and per dialect."""

import asyncio
from collections import Counter, defaultdict
from pathlib import Path

from failpath.packets.reader import load_file
from tests.support.diagnosis_corpus import BUCKETS, DIALECTS, corpus
from tests.support.packet_chain import Chain, send_shuffled


def _diagnose_all(data: Path) -> tuple[dict[str, str | None], Chain]:
    """Packet bucket per trace id, for every run of the corpus sent through one chain."""
    runs = corpus()

    async def main() -> Chain:
        chain = Chain(data)
        await chain.start()
        late = []
        for index, run in enumerate(runs):
            late.append(await send_shuffled(chain, run.spans, index))
        await chain.decide()
        for span in late:
            await chain.send([span])  # after the decision: forwarded, no second packet
        await chain.stop()
        return chain

    chain = asyncio.run(main())
    packets = {packet["trace_id"]: packet["failure_bucket"] for packet in map(load_file, chain.packet_files())}
    return {run.spans[0].trace_id.hex(): packets.get(run.spans[0].trace_id.hex()) for run in runs}, chain


def test_labelled_corpus_is_diagnosed_right(tmp_path: Path) -> None:
    got, chain = _diagnose_all(tmp_path)
    runs = corpus()
    confusion: Counter[tuple[str, str]] = Counter()
    right: dict[tuple[str, str], Counter[bool]] = defaultdict(Counter)
    for run in runs:
        expected = run.bucket or "(no packet)"
        actual = got[run.spans[0].trace_id.hex()] or "(no packet)"
        confusion[(expected, actual)] += 1
        for key in (("bucket", expected), ("dialect", run.dialect), ("all", "")):
            right[key][actual == expected] += 1
    labels = [*BUCKETS, "(no packet)"]
    columns = labels + sorted({actual for _, actual in confusion} - set(labels))
    print("\nconfusion matrix (rows: labelled; columns: diagnosed, in the same order as the rows)")
    print(" " * 26 + "".join(f"{index:>6}" for index in range(len(columns))))
    for index, expected in enumerate(labels):
        print(f"{index} {expected:24}" + "".join(f"{confusion[(expected, column)]:>6}" for column in columns))
    for index, column in enumerate(columns[len(labels) :], start=len(labels)):
        print(f"{index} {column} (a column only)")

    def rate(key: tuple[str, str]) -> float:
        return right[key][True] / sum(right[key].values())

    for kind, names in (("bucket", labels), ("dialect", list(DIALECTS))):
        for name in names:
            counts = right[(kind, name)]
            print(f"  {kind:8} {name:26} {rate((kind, name)):7.1%}  ({counts[True]}/{sum(counts.values())})")
    print(f"  overall  {'':26} {rate(('all', '')):7.1%}  ({right[('all', '')][True]}/{len(runs)})")
    assert rate(("all", "")) >= 0.95
    assert all(rate(("bucket", name)) >= 0.90 for name in labels)
    assert all(rate(("dialect", name)) >= 0.90 for name in DIALECTS)
    # Healthy runs get no packet: those with a recovered failure were kept for it and counted instead.
    assert confusion[("(no packet)", "(no packet)")] == sum(1 for run in runs if run.bucket is None)
    recovered_healthy = sum(1 for run in runs if run.bucket is None and run.recovered)
    assert chain.metrics.registry.get_sample_value("failpath_runs_recovered_total") == recovered_healthy
