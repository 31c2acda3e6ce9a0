"""Replay packets and failure buckets: redaction -> tail sampling -> packets, driven with an injected clock.

Every bucket in every dialect, split across requests in shuffled order with a retry and a late span,
gets the right bucket and a schema-valid packet without the planted secrets; a healthy run gets none.
"""

import asyncio
import json
import stat
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.agents.config import AgentsConfig
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import RedactionStage
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage
from failpath.store.packets import MAX_ATTEMPTS
from tests.support.agent_dialects import BUCKETS, DIALECTS, EMAIL, SECRET, Step, build_run, healthy, scenario
from tests.support.packet_chain import Chain, send_shuffled

POLICIES = [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 100}]


def _run_case(tmp_path: Path, dialect: str, bucket: str) -> Packet:
    async def main() -> Packet:
        chain = Chain(tmp_path)
        await chain.start()
        spans = build_run(dialect, scenario(bucket))
        late = await send_shuffled(chain, spans, hash((dialect, bucket)))
        await chain.decide()
        await chain.send([late])  # after the decision: forwarded, not a second packet
        await chain.stop()
        files = chain.packet_files()
        assert len(files) == 1, files
        assert len(chain.recorder.spans()) == len(spans) + 1
        return load_file(files[0])  # checks the JSON Schema

    return asyncio.run(main())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_in_every_dialect(tmp_path: Path, dialect: str, bucket: str) -> None:
    packet = _run_case(tmp_path, dialect, bucket)
    assert packet["failure_bucket"] == bucket, packet["evidence"]
    text = json.dumps(packet)
    assert SECRET not in text and EMAIL not in text
    assert packet["run"] == {
        "run_id": "run-7f3a",
        "workflow": "refunds",
        "actor": "user-42",
        "service": "support-agent",
        "attempt": None,
        "resource": {"service.name": "support-agent"},
    }
    assert packet["decision"]["policy"] == "errors"
    assert packet["steps"] and packet["evidence"] and packet["next_action"]
    assert "(unknown)" not in packet["next_action"]


def test_bucket_accuracy_over_the_labelled_set(tmp_path: Path) -> None:
    """Prints the confusion of the labelled set (every bucket x dialect, plus harder variants)."""
    cases: list[tuple[str, str, list[Step]]] = [(b, d, scenario(b)) for b in BUCKETS for d in DIALECTS]
    for dialect in DIALECTS:
        # A verifier that passed earlier does not take the blame for a later tool failure.
        cases.append(("tool_execution", dialect, [Step("verifier", passed=True), Step("tool", "deploy", error="403")]))
        # A planner that errors outright.
        cases.append(("planner_drift", dialect, [Step("planner", error="could not decompose the task")]))
        # A retriever that errors outright.
        cases.append(
            ("retrieval_miss", dialect, [Step("planner"), Step("retriever", documents=None, error="index offline")])
        )
    results: Counter[tuple[str, str]] = Counter()
    for index, (expected, dialect, steps) in enumerate(cases):
        folder = tmp_path / str(index)

        async def main(folder: Path = folder, dialect: str = dialect, steps: list[Step] = steps) -> str:
            chain = Chain(folder)
            await chain.start()
            await chain.send(build_run(dialect, steps))
            await chain.decide()
            await chain.stop()
            return str(load_file(chain.packet_files()[0])["failure_bucket"])

        results[(expected, asyncio.run(main()))] += 1
    correct = sum(n for (expected, got), n in results.items() if expected == got)
    print(f"\nbucket accuracy: {correct}/{len(cases)} = {correct / len(cases):.1%}")
    for (expected, got), n in sorted(results.items()):
        print(f"  {expected:24} -> {got:24} {n}")
    assert correct == len(cases)


def test_healthy_run_gets_no_packet(tmp_path: Path) -> None:
    async def main() -> None:
        chain = Chain(tmp_path)
        await chain.start()
        await chain.send(build_run("genai", healthy(), run_failed=False))
        await chain.decide()
        await chain.stop()
        assert chain.packet_files() == []
        assert len(chain.recorder.spans()) == 6  # kept by the 100% rule, forwarded, but no packet

    asyncio.run(main())


def test_packet_files_are_private_and_dated(tmp_path: Path) -> None:
    packet = _run_case(tmp_path, "plain", "tool_execution")
    path = tmp_path / "replay" / packet["started_at"][:10] / f"{packet['trace_id']}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "replay").stat().st_mode) == 0o700


def test_tool_packet_names_the_failing_tool_retries_and_references(tmp_path: Path) -> None:
    packet = _run_case(tmp_path, "genai", "tool_execution")
    failing = packet["failing_span"]
    assert failing is not None and failing["label"] == "tool:pytest"
    assert failing["errored_span_id"] != failing["span_id"]  # the HTTP call inside the tool errored first
    labels = [step["label"] for step in packet["steps"]]
    assert labels[:4] == ["planner", "retriever", "model", "tool:pytest"]
    tools = packet["tool_events"]
    assert [event["retry_count"] for event in tools] == [None, 1]
    assert all(event["exit_code"] == 2 and not event["success"] for event in tools)
    assert tools[0]["argument_keys"] == []  # arguments were summarized by redaction: no keys to show
    assert packet["retrieval_refs"][0]["documents"][0] == {"id": "kb-0", "score": 0.9}
    assert packet["selected_model"] == "gpt-4.1"
    assert packet["tokens"]["input"] == 1200
    assert packet["next_action"].startswith("Re-run tool pytest")


def test_retries_of_one_run_are_linked(tmp_path: Path) -> None:
    async def main() -> list[Packet]:
        chain = Chain(tmp_path)
        await chain.start()
        for _ in range(2):  # the same run id, a new trace each attempt
            await chain.send(build_run("plain", scenario("tool_execution"), run_id="run-retry"))
            await chain.decide()
            chain.clock.now += 1
        await chain.stop()
        return [load_file(path) for path in chain.packet_files()]

    first, second = sorted(asyncio.run(main()), key=lambda packet: len(packet["related_attempts"]))
    assert first["related_attempts"] == []
    assert [attempt["trace_id"] for attempt in second["related_attempts"]] == [first["trace_id"]]


def test_a_run_retried_many_times_lists_its_latest_attempts(tmp_path: Path) -> None:
    """A retry loop reusing one run id: each packet lists at most the latest MAX_ATTEMPTS others, and says
    when there were more."""
    attempts = MAX_ATTEMPTS + 2

    async def main() -> list[Packet]:
        chain = Chain(tmp_path)
        await chain.start()
        for attempt in range(attempts):
            spans = build_run("plain", scenario("tool_execution"), run_id="run-loop")
            for span in spans:  # one second apart
                span.start_time_unix_nano += attempt * 10**9
                span.end_time_unix_nano += attempt * 10**9
            await chain.send(spans)
            await chain.decide()
            chain.clock.now += 1
        await chain.stop()
        return sorted((load_file(path) for path in chain.packet_files()), key=lambda packet: packet["started_at"])

    packets = asyncio.run(main())
    ids = [packet["trace_id"] for packet in packets]
    assert len(set(ids)) == attempts
    full, over = packets[MAX_ATTEMPTS], packets[-1]
    assert [attempt["trace_id"] for attempt in full["related_attempts"]] == ids[:MAX_ATTEMPTS]
    assert "related_attempts" not in full["trimmed"]
    assert [attempt["trace_id"] for attempt in over["related_attempts"]] == ids[1 : MAX_ATTEMPTS + 1]
    assert over["trimmed"] == ["related_attempts"]


def test_huge_run_is_trimmed_to_the_cap(tmp_path: Path) -> None:
    async def main() -> Packet:
        chain = Chain(tmp_path, {"max_bytes": "16KiB"})
        await chain.start()
        steps = [Step("model") for _ in range(60)] + [Step("tool", f"t{i}", retry=i) for i in range(200)]
        steps.append(Step("tool", "deploy", error="boom"))
        await chain.send(build_run("genai", steps))
        await chain.decide()
        await chain.stop()
        [path] = chain.packet_files()
        assert path.stat().st_size <= 16 << 10
        return load_file(path)

    packet = asyncio.run(main())
    assert packet["trimmed"]
    assert packet["failure_bucket"] == "tool_execution"
    assert packet["failing_span"] is not None and packet["failing_span"]["label"] == "tool:deploy"


def test_your_own_span_names_map_to_roles(tmp_path: Path) -> None:
    from failpath.agents.normalize import Normalizer
    from failpath.diagnosis.blame import Blame
    from failpath.diagnosis.config import default_buckets
    from tests.support.traces import request_of

    agents = AgentsConfig.model_validate(
        {
            "span_names": [{"pattern": "^mcp:(?P<tool>.+)$", "role": "tool"}],
            "attributes": [{"attribute": "step.kind", "equals": "fetch", "role": "retriever"}],
        }
    )
    spans = build_run("plain", [Step("planner")])
    fetch, call = Span(), Span()
    fetch.CopyFrom(spans[1])
    fetch.span_id, fetch.name = b"\x01" * 8, "fetch context"
    fetch.attributes.add(key="step.kind").value.string_value = "fetch"
    fetch.attributes.add(key="retrieval.documents.count").value.int_value = 0
    call.CopyFrom(spans[1])
    call.span_id, call.name = b"\x02" * 8, "mcp:github.create_issue"
    call.start_time_unix_nano = fetch.end_time_unix_nano + 1
    call.end_time_unix_nano = call.start_time_unix_nano + 10
    call.status.code = Status.STATUS_CODE_ERROR
    sampling = SamplingConfig()
    run = Normalizer(agents, sampling.errors, sampling.workflow_key).run(request_of([spans[0], fetch, call]))
    roles = {step.name: (step.role, step.tool) for step in run.steps}
    assert roles["fetch context"] == ("retriever", None)
    assert roles["mcp:github.create_issue"] == ("tool", "github.create_issue")
    verdict = Blame(default_buckets(), agents.signals).diagnose(run)
    assert verdict.bucket == "retrieval_miss"  # the tool failed after the fetch found nothing
    assert any("returned 0 documents" in line for line in verdict.evidence)


def test_escalated_healthy_run_gets_a_packet_but_counts_no_failure(tmp_path: Path) -> None:
    async def main() -> None:
        chain = Chain(tmp_path)
        chain.sampling = TailSamplingStage(
            SamplingConfig.model_validate(
                {
                    "policies": [
                        {"name": "errors", "type": "error"},
                        {
                            "name": "escalated",
                            "type": "attributes",
                            "when": {"attribute": "agent.escalated", "is": True},
                        },
                        {"name": "rest", "type": "probabilistic", "percentage": 0},
                    ]
                }
            ),
            chain.packets,
            chain.metrics,
            clock=chain.clock,
        )
        chain.redaction = RedactionStage(RedactionConfig(), chain.sampling, chain.metrics)
        await chain.start()
        spans = build_run("genai", healthy(), run_failed=False)
        spans[0].attributes.add(key="agent.escalated").value.bool_value = True
        await chain.send(spans)
        await chain.decide()
        await chain.stop()
        [path] = chain.packet_files()
        packet = load_file(path)
        assert packet["decision"] == {"policy": "escalated", "trigger": "root", "error_signal": None}
        assert (
            chain.metrics.registry.get_sample_value(
                "failpath_packets_written_total", {"bucket": packet["failure_bucket"]}
            )
            == 1
        )
        assert (
            chain.metrics.registry.get_sample_value(
                "failpath_failures_total", {"bucket": packet["failure_bucket"], "workflow": "refunds"}
            )
            is None
        )

    asyncio.run(main())


def test_retention_prunes_by_age_and_count(tmp_path: Path) -> None:
    from failpath.store.packets import PacketStore

    store = PacketStore(tmp_path / "spans.db", tmp_path / "replay")
    template = _run_case(tmp_path / "one", "plain", "tool_execution")
    paths = []
    for index in range(5):
        packet = {**template, "trace_id": f"{index:032x}", "started_at": f"2026-11-0{index + 1}T10:00:00.000Z"}
        paths.append(store.write(packet, json.dumps(packet).encode()))
    assert store.prune(max_age_s=86400, max_packets=3) == 2  # the two oldest runs
    assert [path.exists() for path in paths] == [False, False, True, True, True]
    assert not (tmp_path / "replay" / "2026-11-01").exists()  # emptied day folders go too
    store._db.execute("UPDATE packets SET written_ns = 0 WHERE trace_id = ?", (f"{2:032x}",))
    assert store.prune(max_age_s=86400, max_packets=3) == 1
    assert [packet.trace_id for packet in store.recent()] == [f"{4:032x}", f"{3:032x}"]
    store.close()


def test_a_full_backlog_skips_packets_and_counts_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import failpath.packets.stage

    monkeypatch.setattr(failpath.packets.stage, "_MAX_BACKLOG", 0)

    async def main() -> None:
        chain = Chain(tmp_path)
        await chain.start()
        await chain.send(build_run("plain", scenario("tool_execution")))
        await chain.decide()
        await chain.stop()
        assert chain.packet_files() == []
        assert len(chain.recorder.spans()) == 8  # the spans still go on (root + 7 steps)
        assert (
            chain.metrics.registry.get_sample_value(
                "failpath_packets_failed_total", {"stage": "backlog", "cause": "backlog_full"}
            )
            == 1
        )

    asyncio.run(main())
