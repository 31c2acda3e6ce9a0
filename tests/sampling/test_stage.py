"""The tail sampler driven directly, with an injected clock: triggers, policies, late spans, pressure."""

import asyncio
import os
import random
from collections.abc import Coroutine
from typing import Any

import pytest

from failpath.consumer import Refused
from failpath.metrics import Metrics
from failpath.sampling.config import SamplingConfig
from failpath.sampling.stage import TailSamplingStage
from failpath.sampling.threshold import adjusted_count, threshold
from tests.support.traces import FakeClock, Recorder, TraceSpec, attribute, batch_of

# Healthy traces dropped outright, so whatever arrives was kept by a rule.
KEEP_RULES_ONLY = [
    {"name": "errors", "type": "error"},
    {"name": "slow", "type": "latency", "threshold": "30s"},
    {"name": "rest", "type": "probabilistic", "percentage": 0},
]


class Setup:
    def __init__(self, **config: Any) -> None:
        config.setdefault("policies", KEEP_RULES_ONLY)
        self.config = SamplingConfig.model_validate(config)
        self.clock = FakeClock()
        self.recorder = Recorder()
        self.metrics = Metrics()
        self.stage = TailSamplingStage(self.config, self.recorder, self.metrics, clock=self.clock)

    async def send(self, spans: list[Any]) -> None:
        await self.stage.consume(batch_of(spans))

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        await self.stage.tick()

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def test_error_trace_is_decided_after_the_root_plus_decision_wait_and_arrives_whole() -> None:
    async def main() -> None:
        s = Setup()
        spans = TraceSpec(os.urandom(16), children=4, error=True).spans()
        await s.send(spans[1:3])  # children first, out of order, in two requests
        await s.send(spans[3:])
        await s.advance(60)
        assert s.recorder.spans() == []  # no root yet: waits (max_trace_wait is 5 min)
        await s.send(spans[:1])
        await s.advance(1.9)
        assert s.recorder.spans() == []
        await s.advance(0.2)
        received = s.recorder.spans()
        assert sorted(span.span_id for span in received) == sorted(span.span_id for span in spans)
        assert {attribute(span, "failpath.sampling.policy") for span in received} == {"errors"}
        assert {attribute(span, "failpath.sampling.rate") for span in received} == {1.0}
        assert {attribute(span, "failpath.sampling.trigger") for span in received} == {"root"}
        assert all(span.trace_state == "" for span in received)  # rate 1: th left alone
        assert s.metric("failpath_sampling_triggers_total", trigger="root") == 1
        assert s.metric("failpath_sampling_decisions_total", policy="errors", outcome="kept") == 1
        assert s.metric("failpath_sampling_buffer_traces") == 0

    run(main())


def test_trace_without_root_is_decided_at_max_trace_wait() -> None:
    async def main() -> None:
        s = Setup(max_trace_wait="90s")
        spans = TraceSpec(os.urandom(16), error=True).spans()
        await s.send(spans[1:])
        await s.advance(89)
        assert s.recorder.spans() == []
        await s.advance(1)
        assert len(s.recorder.spans()) == 3
        assert attribute(s.recorder.spans()[0], "failpath.sampling.trigger") == "max_wait"

    run(main())


def test_healthy_trace_is_dropped_and_its_late_span_follows() -> None:
    async def main() -> None:
        s = Setup()
        spans = TraceSpec(os.urandom(16)).spans()
        await s.send(spans[:-1])
        await s.advance(3)
        assert s.metric("failpath_sampling_decisions_total", policy="rest", outcome="dropped") == 1
        await s.send(spans[-1:])
        await s.advance(600)
        assert s.recorder.spans() == []
        assert s.metric("failpath_sampling_late_spans_total", outcome="dropped") == 1

    run(main())


def test_late_span_of_a_kept_trace_is_forwarded_with_the_same_decision() -> None:
    async def main() -> None:
        s = Setup()
        spans = TraceSpec(os.urandom(16), error=True).spans()  # the error is on the last span
        await s.send(spans[:1] + spans[2:])
        await s.advance(3)
        assert len(s.recorder.spans()) == 3
        await s.send(spans[1:2])  # forwarded at once, not buffered as a new trace
        late = s.recorder.spans()[-1]
        assert late.span_id == spans[1].span_id
        assert attribute(late, "failpath.sampling.policy") == "errors"
        assert attribute(late, "failpath.sampling.late") is True
        assert s.metric("failpath_sampling_late_spans_total", outcome="kept") == 1
        assert s.metric("failpath_sampling_buffer_traces") == 0

    run(main())


def test_slow_trace_is_kept_and_per_workflow_thresholds_apply() -> None:
    async def main() -> None:
        s = Setup(
            policies=[
                {"name": "slow", "type": "latency", "threshold": "30s", "workflows": {"billing": "5s"}},
                {"name": "rest", "type": "probabilistic", "percentage": 0},
            ]
        )
        slow = TraceSpec(os.urandom(16), duration_s=31)
        fast = TraceSpec(os.urandom(16), duration_s=29)
        billing = TraceSpec(os.urandom(16), duration_s=6, root_attributes={"workflow.name": "billing"})
        for spec in (slow, fast, billing):
            await s.send(spec.spans())
        await s.advance(3)
        assert set(s.recorder.traces()) == {slow.trace_id, billing.trace_id}

    run(main())


def test_span_cap_decides_at_once_and_later_spans_follow() -> None:
    async def main() -> None:
        s = Setup(buffer={"max_spans_per_trace": 3})
        spans = TraceSpec(os.urandom(16), children=5, error=True).spans()
        await s.send(spans[3:6])  # the error child is among these three
        assert len(s.recorder.spans()) == 3
        assert attribute(s.recorder.spans()[0], "failpath.sampling.trigger") == "span_limit"
        await s.send(spans[:3])
        assert len(s.recorder.spans()) == 6

    run(main())


@pytest.mark.parametrize(
    "child_attributes",
    [
        {"error.type": "TimeoutError"},
        {"process.exit.code": 2},
        {"tool.success": False},
        {"verifier.passed": False},
        {"verifier.passed": "false"},
        {"openinference.span.kind": "EVALUATOR", "metadata.label": "Incorrect"},
        {"agent.run.outcome": "failed"},  # the run.outcome fact
        {"run.outcome": "error"},
        {"user.feedback": -1},  # the run.feedback fact
        {"agent.feedback": "thumbs_down"},
    ],
    ids=lambda attributes: ",".join(f"{k}={v}" for k, v in attributes.items()),
)
def test_every_error_signal_keeps_the_trace(child_attributes: dict[str, object]) -> None:
    async def main() -> None:
        s = Setup()
        spec = TraceSpec(os.urandom(16), child_attributes=child_attributes)
        await s.send(spec.spans())
        await s.advance(3)
        assert set(s.recorder.traces()) == {spec.trace_id}

    run(main())


def test_non_errors_look_alike_are_not_errors() -> None:
    async def main() -> None:
        s = Setup()
        look_alikes: list[dict[str, object]] = [
            {"process.exit.code": 0},
            {"tool.success": True},
            {"metadata.label": "fail"},  # not on an EVALUATOR span
            {"openinference.span.kind": "EVALUATOR", "metadata.label": "correct"},
            {"error.type": ""},
            {"agent.run.outcome": "success"},
            {"user.feedback": 1},
            {"agent.feedback": "thumbs_up"},
        ]
        for attributes in look_alikes:
            await s.send(TraceSpec(os.urandom(16), child_attributes=attributes).spans())
        await s.advance(3)
        assert s.recorder.spans() == []

    run(main())


@pytest.mark.parametrize(
    ("event", "attributes"),
    [
        ("exception", {"exception.type": "ValueError"}),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.score.label": "fail"}),
    ],
)
def test_error_events_keep_the_trace(event: str, attributes: dict[str, str]) -> None:
    async def main() -> None:
        s = Setup()
        passing = TraceSpec(os.urandom(16)).spans()
        passing[1].events.add(name="gen_ai.evaluation.result").attributes.extend(
            TraceSpec(b"", root_attributes={}).spans()[0].attributes
        )
        spans = TraceSpec(os.urandom(16)).spans()
        added = spans[2].events.add(name=event, time_unix_nano=spans[2].start_time_unix_nano)
        for key, value in attributes.items():
            added.attributes.add(key=key).value.string_value = value
        await s.send(passing + spans)
        await s.advance(3)
        assert set(s.recorder.traces()) == {spans[0].trace_id}

    run(main())


def test_attribute_policies_and_drop_rules_first() -> None:
    async def main() -> None:
        s = Setup(
            policies=[
                {"name": "errors", "type": "error"},
                {
                    "name": "cut-short",
                    "type": "attributes",
                    "when": {"attribute": "gen_ai.response.finish_reasons", "in": ["length", "content_filter"]},
                },
                {
                    "name": "big-spender",
                    "type": "attributes",
                    "when": {
                        "all": [
                            {"attribute": "gen_ai.usage.output_tokens", "min": 1000},
                            {"not": {"attribute": "user.tier", "equals": "internal", "on": "root"}},
                        ]
                    },
                },
                {"name": "rest", "type": "probabilistic", "percentage": 0},
                # Listed last, evaluated first: health checks go even when they fail.
                {"name": "health", "type": "drop", "when": {"span_name": True, "regex": "^GET /health"}},
            ]
        )
        cut = TraceSpec(os.urandom(16), child_attributes={"gen_ai.response.finish_reasons": ["stop", "length"]})
        spender = TraceSpec(os.urandom(16), child_attributes={"gen_ai.usage.output_tokens": 4000})
        internal = TraceSpec(
            os.urandom(16),
            child_attributes={"gen_ai.usage.output_tokens": 4000},
            root_attributes={"user.tier": "internal"},
        )
        stopped = TraceSpec(os.urandom(16), child_attributes={"gen_ai.response.finish_reasons": ["stop"]})
        health = TraceSpec(os.urandom(16), error=True)
        health_spans = health.spans()
        health_spans[0].name = "GET /healthz"
        for spans in (cut.spans(), spender.spans(), internal.spans(), stopped.spans(), health_spans):
            await s.send(spans)
        await s.advance(3)
        kept = s.recorder.traces()
        assert set(kept) == {cut.trace_id, spender.trace_id}
        assert attribute(kept[cut.trace_id][0], "failpath.sampling.policy") == "cut-short"
        assert attribute(kept[spender.trace_id][0], "failpath.sampling.policy") == "big-spender"
        assert s.metric("failpath_sampling_decisions_total", policy="health", outcome="dropped") == 1

    run(main())


def test_probabilistic_keeps_the_configured_share_deterministically_and_writes_th() -> None:
    async def main() -> None:
        policies = [{"name": "errors", "type": "error"}, {"name": "rest", "type": "probabilistic", "percentage": 10}]
        first, second = Setup(policies=policies), Setup(policies=policies)
        ids = [os.urandom(16) for _ in range(4000)]
        for setup in (first, second):
            for trace_id in ids:
                await setup.send(TraceSpec(trace_id, children=1).spans())
            await setup.advance(3)
        kept = set(first.recorder.traces())
        # A second sampler with the same rule agrees trace by trace.
        assert kept == set(second.recorder.traces())
        # 4000 traces at p = 0.1: mean 400, sd 19; 5 sd either side.
        assert 305 <= len(kept) <= 495
        span = first.recorder.spans()[0]
        assert span.trace_state == "ot=th:e666"
        assert attribute(span, "failpath.sampling.rate") == pytest.approx(adjusted_count(threshold(0.1)))
        assert attribute(span, "failpath.sampling.rate") == pytest.approx(10, rel=1e-3)
        # Consistent with OTel: kept iff the trace id's low 56 bits are at or above the threshold.
        for trace_id in ids:
            assert (trace_id in kept) == (int.from_bytes(trace_id[9:], "big") >= threshold(0.1))

    run(main())


def test_tracestate_threshold_only_rises_and_other_vendors_survive() -> None:
    async def main() -> None:
        s = Setup(policies=[{"name": "rest", "type": "probabilistic", "percentage": 50}])
        # Randomness from rv (all ones: kept at any threshold); upstream already sampled at 1/4 (th:c).
        spec = TraceSpec(os.urandom(16), trace_state="vendor=abc,ot=th:c;rv:ffffffffffffff")
        lower = TraceSpec(os.urandom(16), trace_state="ot=th:4;rv:ffffffffffffff")
        await s.send(spec.spans() + lower.spans())
        await s.advance(3)
        kept = s.recorder.traces()
        assert {span.trace_state for span in kept[spec.trace_id]} == {"ot=th:c;rv:ffffffffffffff,vendor=abc"}
        assert {span.trace_state for span in kept[lower.trace_id]} == {"ot=th:8;rv:ffffffffffffff"}

    run(main())


def test_upstream_failpath_rate_multiplies() -> None:
    async def main() -> None:
        s = Setup(policies=[{"name": "rest", "type": "probabilistic", "percentage": 100}])
        spec = TraceSpec(os.urandom(16), child_attributes={"failpath.sampling.rate": 4.0})
        await s.send(spec.spans())
        await s.advance(3)
        rates = sorted(attribute(span, "failpath.sampling.rate") for span in s.recorder.spans())  # type: ignore[type-var]
        assert rates == [1.0, 4.0, 4.0, 4.0]
        assert all(
            [item.key for item in span.attributes].count("failpath.sampling.rate") == 1 for span in s.recorder.spans()
        )

    run(main())


def test_memory_pressure_decides_healthy_traces_first_and_keeps_errors() -> None:
    async def main() -> None:
        s = Setup(buffer={"max_traces": 10})
        error = TraceSpec(os.urandom(16), error=True)
        await s.send(error.spans()[1:])  # no root: nothing would decide it for 5 minutes
        healthy = [TraceSpec(os.urandom(16)) for _ in range(9)]
        for spec in healthy:
            await s.send(spec.spans()[1:])
        assert s.metric("failpath_sampling_buffer_traces") == 10
        newcomer = TraceSpec(os.urandom(16))
        await s.send(newcomer.spans()[1:])
        # Room was made by deciding healthy traces (dropped at rate 0), the error trace stayed.
        assert s.metric("failpath_sampling_early_decisions_total", error="false") >= 1
        assert s.metric("failpath_sampling_early_decisions_total", error="true") == 0
        assert s.recorder.spans() == []
        # Fill up with error traces only: now they are decided early, and kept.
        errors = [TraceSpec(os.urandom(16), error=True) for _ in range(12)]
        for spec in errors:
            await s.send(spec.spans()[1:])
        assert s.metric("failpath_sampling_early_decisions_total", error="true") >= 1
        forwarded = s.recorder.traces()
        assert error.trace_id in forwarded
        assert all(len(spans) == 3 for spans in forwarded.values())
        assert s.metric("failpath_sampling_triggers_total", trigger="memory_pressure") >= 10

    run(main())


def test_when_downstream_refuses_the_buffer_pushes_back_and_loses_nothing() -> None:
    async def main() -> None:
        s = Setup(buffer={"max_bytes": 4000})
        s.recorder.refusing = True
        accepted: list[TraceSpec] = []
        refused: TraceSpec | None = None
        for _ in range(50):
            spec = TraceSpec(os.urandom(16), error=True)
            try:
                await s.send(spec.spans())
            except Refused:
                refused = spec
                break
            accepted.append(spec)
            await s.advance(3)  # decided and kept, but the next stage refuses them: they wait
        assert refused is not None and accepted
        assert s.recorder.spans() == []
        s.recorder.refusing = False
        await s.advance(0.1)
        await s.send(refused.spans())  # the client's retry
        await s.advance(3)
        forwarded = s.recorder.traces()
        assert set(forwarded) == {spec.trace_id for spec in [*accepted, refused]}
        assert all(len(spans) == 4 for spans in forwarded.values())

    run(main())


def test_shutdown_decides_every_buffered_trace() -> None:
    async def main() -> None:
        s = Setup()
        error = TraceSpec(os.urandom(16), error=True)
        await s.send(error.spans()[1:])
        await s.send(TraceSpec(os.urandom(16)).spans()[1:])
        await s.stage.shutdown(asyncio.get_running_loop().time() + 5)
        assert set(s.recorder.traces()) == {error.trace_id}
        assert attribute(s.recorder.spans()[0], "failpath.sampling.trigger") == "shutdown"
        assert s.metric("failpath_sampling_buffer_traces") == 0

    run(main())


def test_dynamic_policy_samples_frequent_workflows_harder_than_rare_ones() -> None:
    async def main() -> None:
        s = Setup(
            policies=[
                {"name": "errors", "type": "error"},
                {"name": "busy", "type": "dynamic", "goal_spans_per_second": 10, "adjustment_interval": "10s"},
            ]
        )
        for round_ in range(3):  # three adjustment intervals of traffic: 400 "chat" runs, 4 "refund" runs each
            for index in range(404):
                workflow = "refund" if index % 101 == 0 else "chat"
                spec = TraceSpec(os.urandom(16), children=1, root_attributes={"workflow.name": workflow})
                await s.send(spec.spans())
            await s.advance(10)
            if round_ == 0:
                s.recorder.requests.clear()  # the first interval runs at the initial rate
        kept = s.recorder.spans()
        roots = [span for span in kept if not span.parent_span_id]
        refunds = [span for span in roots if attribute(span, "workflow.name") == "refund"]
        chats = [span for span in roots if attribute(span, "workflow.name") == "chat"]
        assert len(refunds) == 8  # rare key: kept whole
        assert 20 < len(chats) < 200  # frequent key: sampled (goal: 10 spans/s x 10 s = 50 runs per interval)
        rates = {attribute(span, "failpath.sampling.rate") for span in chats}
        assert all(isinstance(rate, float) and rate > 1 for rate in rates)
        assert all(span.trace_state.startswith("ot=th:") for span in chats)

    run(main())


def test_latency_quantile_keeps_the_slowest_runs_of_each_workflow() -> None:
    async def main() -> None:
        s = Setup(
            policies=[
                {"name": "slow", "type": "latency", "threshold": "1h", "quantile": 0.9, "min_samples": 50},
                {"name": "rest", "type": "probabilistic", "percentage": 0},
            ]
        )
        rng = random.Random(7)
        for _ in range(400):
            spec = TraceSpec(os.urandom(16), children=1, duration_s=rng.uniform(1, 100))
            await s.send(spec.spans())
            await s.advance(2.5)  # decide one by one, so the quantile follows the history
        kept = [span for span in s.recorder.spans() if not span.parent_span_id]
        durations = sorted((span.end_time_unix_nano - span.start_time_unix_nano) / 1e9 for span in kept)
        # About the slowest tenth of the 350 runs after the first 50: none of the fast ones.
        assert 20 <= len(kept) <= 55
        assert durations[0] >= 70

    run(main())


def test_dynamic_goal_in_traces_counts_each_trace_once() -> None:
    async def kept_runs(goal: dict[str, float]) -> int:
        s = Setup(policies=[{"name": "busy", "type": "dynamic", "adjustment_interval": "10s", **goal}])
        for round_ in range(3):
            for _ in range(300):
                await s.send(TraceSpec(os.urandom(16), children=3).spans())  # 4 spans a run
            await s.advance(10)
            if round_ == 0:
                s.recorder.requests.clear()
        return len(s.recorder.traces())

    by_traces = asyncio.run(kept_runs({"goal_traces_per_second": 5}))
    by_spans = asyncio.run(kept_runs({"goal_spans_per_second": 5}))
    # 5/s over two 10 s intervals: ~100 runs when counting runs, ~4x fewer when counting their 4 spans each.
    assert 50 <= by_traces <= 200
    assert by_spans * 2 < by_traces


def test_a_late_error_brings_a_dropped_trace_back_whole_while_it_is_held() -> None:
    async def main() -> None:
        s = Setup(regret_window={"duration": "30s"})
        spans = TraceSpec(os.urandom(16), children=4, error=True).spans()  # the error is on the last child
        await s.send(spans[:2])
        await s.advance(3)  # root + 2 s: healthy so far, dropped
        assert s.metric("failpath_sampling_decisions_total", policy="rest", outcome="dropped") == 1
        await s.send(spans[2:4])  # late and healthy: held with the trace, nothing forwarded
        assert s.recorder.spans() == []
        await s.advance(20)
        await s.send(spans[4:])  # late, with the error: the whole trace comes back
        await s.advance(0.1)
        received = s.recorder.spans()
        assert sorted(span.span_id for span in received) == sorted(span.span_id for span in spans)
        assert {attribute(span, "failpath.sampling.policy") for span in received} == {"errors"}
        assert {attribute(span, "failpath.sampling.trigger") for span in received} == {"late_error"}
        assert {attribute(span, "failpath.sampling.late_error") for span in received} == {True}
        assert [(d.decision.policy, d.decision.error, d.late) for d in s.recorder.decided] == [
            ("errors", "status", False)
        ]
        assert s.metric("failpath_sampling_late_errors_total", outcome="saved") == 1
        assert s.metric("failpath_sampling_late_spans_total", outcome="saved") == 1
        assert s.metric("failpath_sampling_late_spans_total", outcome="dropped") == 2
        assert s.metric("failpath_sampling_regret_window_bytes") == 0
        # Spans later still follow the new decision.
        await s.send([TraceSpec(spans[0].trace_id, children=6).spans()[5]])
        assert attribute(s.recorder.spans()[-1], "failpath.sampling.late") is True

    run(main())


def test_a_late_error_after_the_window_is_counted_lost() -> None:
    async def main() -> None:
        s = Setup(regret_window={"duration": "30s"})
        spans = TraceSpec(os.urandom(16), children=2, error=True).spans()
        await s.send(spans[:2])
        await s.advance(3)
        await s.advance(31)
        assert s.metric("failpath_sampling_regret_window_released_spans_total", reason="expired") == 2
        await s.send(spans[2:])
        await s.advance(0.1)
        assert s.recorder.spans() == []
        assert s.metric("failpath_sampling_late_errors_total", outcome="lost") == 1
        assert s.metric("failpath_sampling_late_spans_total", outcome="dropped") == 1

    run(main())


def test_the_regret_window_sheds_its_oldest_traces_past_max_bytes_and_drop_rules_still_apply() -> None:
    async def main() -> None:
        s = Setup(
            regret_window={"duration": "30s", "max_bytes": 4000},
            policies=[
                {"name": "no-health", "type": "drop", "when": {"span_name": True, "equals": "health"}},
                *KEEP_RULES_ONLY,
            ],
        )
        traces = [TraceSpec(os.urandom(16), children=2, error=True).spans() for _ in range(8)]
        for spans in traces:
            await s.send(spans[:2])
        await s.advance(3)
        evicted = s.metric("failpath_sampling_regret_window_released_spans_total", reason="evicted")
        assert evicted > 0 and s.metric("failpath_sampling_regret_window_bytes") <= 4000
        for spans in traces:
            await s.send(spans[2:])
        await s.advance(0.1)
        saved = s.metric("failpath_sampling_late_errors_total", outcome="saved")
        lost = s.metric("failpath_sampling_late_errors_total", outcome="lost")
        assert saved + lost == 8 and saved > 0 and lost == evicted / 2
        # A trace a drop rule takes stays dropped, however late its error.
        health = TraceSpec(os.urandom(16), children=1, error=True).spans()
        health[1].name = "health"
        await s.send(health[:1])
        await s.advance(3)
        await s.send(health[1:])
        await s.advance(0.1)
        assert health[0].trace_id not in s.recorder.traces()
        assert s.metric("failpath_sampling_late_errors_total", outcome="saved") == saved

    run(main())


def test_a_resource_s_attributes_count_for_the_spans_under_it_request_after_request() -> None:
    """Resources and scopes are read once per distinct bytes (remembered across requests): a resource that
    differs in one attribute is read again, and its spans are decided by its own values."""

    async def main() -> None:
        s = Setup(
            policies=[
                {"name": "billing", "type": "attributes", "when": {"attribute": "service.name", "equals": "billing"}},
                {"name": "rest", "type": "probabilistic", "percentage": 0},
            ]
        )
        sent = []
        for service in ("support-agent", "billing", "support-agent", "billing"):
            spec = TraceSpec(os.urandom(16), children=2)
            await s.stage.consume(batch_of(spec.spans(), service))
            sent.append(spec.trace_id)
        await s.advance(3)
        assert set(s.recorder.traces()) == {sent[1], sent[3]}

    run(main())
