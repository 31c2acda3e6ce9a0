"""Diagnosis measured on a labelled corpus: every bucket in five dialects and several shapes each, recovered
failures mixed into a third of the runs, healthy runs, each run sent through redaction -> tail sampling ->
packets split across requests in shuffled order with a straggler after the decision. Prints the confusion
matrix and the accuracy per bucket and per dialect."""

import asyncio
import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file
from tests.support.diagnosis_corpus import BUCKETS, DIALECTS, corpus
from tests.support.packet_chain import Chain, send_shuffled
from tests.support.traces import START


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


def _span(trace: bytes, index: int, name: str, parent: bytes | None = None, /, **attributes: object) -> Span:
    span = Span(trace_id=trace, span_id=bytes([index]) * 8, name=name, parent_span_id=parent or b"")
    span.start_time_unix_nano = START + index * 1_000_000
    span.end_time_unix_nano = START + (index + 1) * 1_000_000 if parent else START + 100_000_000
    span.attributes.extend(key_value(key, value) for key, value in attributes.items())
    return span


def _packets(data: Path, runs: list[list[Span]], **config: dict[str, Any]) -> dict[str, Packet]:
    """The packet of each run (by trace id) after the chain with these config sections."""

    async def main() -> Chain:
        chain = Chain(data, **config)
        await chain.start()
        for spans in runs:
            await chain.send(spans)
        await chain.decide()
        await chain.stop()
        return chain

    chain = asyncio.run(main())
    return {packet["trace_id"]: packet for packet in map(load_file, chain.packet_files())}


def test_sampling_errors_decide_for_sampler_and_diagnosis_alike(tmp_path: Path) -> None:
    """One place says what an error is: a signal added to sampling.errors makes the sampler keep the trace
    as an error trace and the diagnosis blame the step that carries it; a signal switched off does neither."""
    marked = os.urandom(16)
    run_marked = [
        _span(marked, 0, "support_agent", workflow="refunds"),
        _span(marked, 1, "planner", marked_root := bytes([0]) * 8),
        _span(marked, 2, "tool:charge_card", marked_root, **{"acme.failed": "gateway timeout"}),
    ]
    status_only = os.urandom(16)
    run_status = [_span(status_only, 0, "support_agent"), _span(status_only, 3, "tool:charge_card", bytes([0]) * 8)]
    run_status[1].status.code = Status.STATUS_CODE_ERROR

    default = _packets(tmp_path / "default", [run_marked, run_status])
    assert marked.hex() not in default  # acme.failed means nothing by default
    assert default[status_only.hex()]["failure_bucket"] == "tool_execution"

    configured = _packets(
        tmp_path / "configured",
        [run_marked, run_status],
        sampling={"errors": {"present_keys": ["error.type", "acme.failed"], "status": False}},
    )
    packet = configured[marked.hex()]
    assert packet["decision"]["error_signal"] == "acme.failed"  # the sampler's reason
    assert packet["failure_bucket"] == "tool_execution"
    assert any("acme.failed=gateway timeout" in line for line in packet["evidence"])  # the diagnosis's
    assert status_only.hex() not in configured  # status switched off: an ERROR status is no longer an error


def test_your_attribute_names_give_the_same_diagnosis(tmp_path: Path) -> None:
    """An application with its own names for the facts (one inside a JSON attribute) gets the diagnosis
    failpath's vocabulary gets, after a few lines of agents.signals."""
    approved, routed = os.urandom(16), os.urandom(16)
    root = bytes([0]) * 8
    run_approved = [  # a check passed; the run's outcome, in the app's own JSON, says it failed
        _span(approved, 0, "refund flow", **{"acme.result": json.dumps({"status": "failed", "code": 7})}),
        _span(approved, 1, "decide", root, **{"acme.kind": "planner"}),
        _span(approved, 2, "pay", root, **{"acme.kind": "tool", "tool.name": "issue_refund"}),
        _span(approved, 3, "review", root, **{"acme.kind": "verifier", "acme.approved": True}),
    ]
    route = {"lane": "small", "escalation": {"required": True, "taken": False}}
    run_routed = [  # a high-risk task that was never escalated, and the answer is rejected
        _span(routed, 0, "refund flow"),
        _span(routed, 1, "pick lane", root, **{"acme.kind": "router", "acme.route": json.dumps(route)}),
        _span(routed, 2, "answer", root, **{"acme.kind": "model", "gen_ai.request.model": "small-model"}),
        _span(routed, 3, "review", root, **{"acme.kind": "verifier", "acme.approved": False}),
    ]
    signals = {
        "facts": {
            "step.kind": ["acme.kind"],
            "verdict.passed": ["acme.approved"],
            "run.outcome": [{"attribute": "acme.result", "json_key": "status"}],
            "route.escalation_required": [{"attribute": "acme.route", "json_key": "escalation.required"}],
            "route.escalated": [{"attribute": "acme.route", "json_key": "escalation.taken"}],
            "route.lane": [{"attribute": "acme.route", "json_key": "lane"}],
        }
    }
    mapped = _packets(tmp_path / "mapped", [run_approved, run_routed], agents={"signals": signals})
    assert mapped[approved.hex()]["failure_bucket"] == "verifier_false_positive"
    assert mapped[approved.hex()]["decision"]["error_signal"] == "run.outcome"
    assert mapped[routed.hex()]["failure_bucket"] == "routing_mistake"
    assert any("did not escalate" in line for line in mapped[routed.hex()]["evidence"])
    # Without the mapping, nothing in either run says it failed: no packets at all.
    assert _packets(tmp_path / "unmapped", [run_approved, run_routed]) == {}


def test_token_and_lane_facts_reach_the_diagnosis_and_the_packet(tmp_path: Path) -> None:
    """A model that wrote its whole output cap (no finish reason recorded) and a run whose models went over
    the task's token budget are routing findings; lane, risk, escalation, cache and timeout facts land in
    the packet where a person reads them."""
    capped, budgeted = os.urandom(16), os.urandom(16)
    root = bytes([0]) * 8
    run_capped = [
        _span(capped, 0, "support_agent"),
        _span(
            capped,
            1,
            "answer",
            root,
            **{
                "agent.step.kind": "model",
                "gen_ai.request.model": "nano",
                "gen_ai.request.max_tokens": 256,
                "gen_ai.usage.output_tokens": 256,
                "agent.model.lane": "small",
                "agent.cache.hit": False,
            },
        ),
        _span(capped, 2, "review", root, **{"agent.step.kind": "verifier", "verifier.passed": False}),
    ]
    run_capped[0].status.code = Status.STATUS_CODE_ERROR
    run_budget = [
        _span(budgeted, 0, "support_agent", **{"agent.token_budget": 3000}),
        _span(
            budgeted,
            1,
            "route",
            root,
            **{
                "agent.step.kind": "router",
                "agent.route.lane": "small",
                "agent.route.risk": "low",
                "agent.route.escalation_required": False,
            },
        ),
        _span(
            budgeted,
            2,
            "draft",
            root,
            **{
                "agent.step.kind": "model",
                "gen_ai.request.model": "nano",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 900,
            },
        ),
        _span(
            budgeted,
            3,
            "search",
            root,
            **{
                "agent.step.kind": "tool",
                "gen_ai.tool.name": "search",
                "agent.tool.timeout_class": "fast",
                "agent.cache.hit": True,
            },
        ),
        _span(
            budgeted,
            4,
            "redraft",
            root,
            **{
                "agent.step.kind": "model",
                "gen_ai.request.model": "nano",
                "gen_ai.usage.input_tokens": 1500,
                "gen_ai.usage.output_tokens": 900,
            },
        ),
        _span(budgeted, 5, "review", root, **{"agent.step.kind": "verifier", "verifier.passed": False}),
    ]
    run_budget[0].status.code = Status.STATUS_CODE_ERROR
    packets = _packets(tmp_path, [run_capped, run_budget])

    cut = packets[capped.hex()]
    assert cut["failure_bucket"] == "routing_mistake"
    assert any("nano wrote 256 tokens, its cap of 256" in line for line in cut["evidence"])
    assert cut["model_selection"]["lane"] == "small"
    assert cut["model_calls"][0]["cache_hit"] is False and cut["model_calls"][0]["rate_limited"] is False

    over = packets[budgeted.hex()]
    assert over["failure_bucket"] == "routing_mistake"
    assert over["failing_span"] is not None
    assert over["failing_span"]["span_id"] == (bytes([4]) * 8).hex()  # where the run went over, not the first call
    assert any("used 4300 tokens against its budget of 3000" in line for line in over["evidence"])
    assert over["tokens"] == {"input": 2500, "output": 1800, "budget": 3000}
    assert over["model_selection"] | {"model": None} == {
        "model": None,
        "requested_model": "nano",
        "provider": None,
        "lane": "small",
        "route": "small",
        "risk": "low",
        "escalation_required": False,
        "escalated": None,
    }
    (tool,) = over["tool_events"]
    assert (tool["timed_out"], tool["timeout_class"], tool["cache_hit"]) == (False, "fast", True)
