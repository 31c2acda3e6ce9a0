// The helpers on the real OpenTelemetry SDK (spans kept in memory): the envelope's trace exists before the
// first step and every step is in it; the vocabulary is written; no content unless asked; errors recorded
// and thrown on; async steps; retries stay one run, in the trace or after it.

import assert from "node:assert/strict";
import { after, beforeEach, test } from "node:test";

import { SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

import { guardrail, model, planner, retriever, router, run, tool, verifier } from "../src/index.js";

const SECRET = "jane.doe@example.com";
const memory = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
provider.register(); // the global provider, with Node's async context: a step in an awaited callback finds its run

beforeEach(() => memory.reset());
after(async () => provider.shutdown());

function byName(): Map<string, ReadableSpan> {
  return new Map(memory.getFinishedSpans().map((span) => [span.name, span]));
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

test("the envelope is the root of every step and writes the vocabulary", async () => {
  const traceId = await run({ workflow: "refunds", actor: "user-42", runId: "run-1", tokenBudget: 4000 }, async (r) => {
    const id = r.traceId;
    assert.equal(memory.getFinishedSpans().length, 0); // known before any step
    planner("plan", {}, (p) => p.plan(["lookup_order", "refund_order"], 1));
    await retriever("search_policy", { source: "policies" }, async (s) => s.documents(["policy-7"], [0.8]));
    router("route", {}, (s) => s.route({ lane: "fast", risk: "low", escalationRequired: false }));
    model("gpt-4.1", { lane: "fast", maxTokens: 500 }, (m) => m.usage(120, 30, ["stop"]));
    verifier("check_answer", {}, (v) => v.verdict(false, "no citation"));
    guardrail("moderation", {}, (g) => g.verdict(true));
    return id;
  });
  const spans = byName();
  const root = spans.get("invoke_agent refunds")!;
  assert.equal(root.spanContext().traceId, traceId);
  assert.equal(parentOf(root), undefined);
  for (const span of spans.values()) {
    assert.equal(span.spanContext().traceId, traceId);
    if (span !== root) assert.equal(parentOf(span), root.spanContext().spanId);
  }
  assert.deepEqual(root.attributes, {
    "gen_ai.operation.name": "invoke_agent",
    "workflow.name": "refunds",
    "run.id": "run-1",
    "run.attempt": 1,
    "enduser.id": "user-42",
    "agent.token_budget": 4000,
    "agent.run.outcome": "success",
  });
  assert.deepEqual(spans.get("plan")!.attributes, {
    "agent.step.kind": "planner",
    "gen_ai.operation.name": "plan",
    "agent.plan.steps": ["lookup_order", "refund_order"],
    "agent.plan.revision": 1,
  });
  assert.equal(spans.get("search_policy")!.attributes["retrieval.documents.count"], 1);
  assert.equal(spans.get("route")!.attributes["agent.route.escalation_required"], false);
  assert.equal(spans.get("chat gpt-4.1")!.attributes["agent.model.lane"], "fast");
  assert.equal(spans.get("check_answer")!.attributes["verifier.passed"], false);
  assert.equal(spans.get("moderation")!.attributes["guardrail.passed"], true);
});

test("no content leaves unless asked", async () => {
  for (const recordContent of [false, true]) {
    await run({ workflow: "refunds", recordContent }, async () => {
      await tool("lookup_order", {}, async (call) => {
        call.arguments({ order_id: "A-1", email: SECRET });
        return { customer: SECRET };
      });
      model("gpt-4.1", {}, (m) => m.output(`Write to ${SECRET}`));
    });
  }
  const spans = memory.getFinishedSpans();
  const first = spans.slice(0, 3).flatMap((span) => Object.values(span.attributes).map(String));
  assert.ok(!first.some((value) => value.includes(SECRET)));
  const [without, withContent] = spans.filter((span) => span.name === "execute_tool lookup_order");
  assert.deepEqual(without!.attributes["agent.tool.argument_keys"], ["email", "order_id"]);
  assert.equal(without!.attributes["agent.tool.result_size"], JSON.stringify({ customer: SECRET }).length);
  assert.ok(String(withContent!.attributes["gen_ai.tool.call.result"]).includes(SECRET));
});

test("an error is recorded on the step and the run and thrown on", async () => {
  class TimeoutError extends Error {
    override name = "TimeoutError";
  }
  await assert.rejects(
    run({ workflow: "refunds" }, async () =>
      tool("refund_order", { timeoutClass: "30s" }, async () => {
        throw new TimeoutError("payments API did not answer");
      }),
    ),
    TimeoutError,
  );
  const spans = byName();
  for (const name of ["execute_tool refund_order", "invoke_agent refunds"]) {
    const span = spans.get(name)!;
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, "TimeoutError: payments API did not answer");
    assert.deepEqual(span.events.map((event) => event.name), ["exception"]);
  }
  const call = spans.get("execute_tool refund_order")!.attributes;
  assert.equal(call["tool.success"], false);
  assert.equal(call["agent.tool.timed_out"], true);
  assert.equal(spans.get("invoke_agent refunds")!.attributes["agent.run.outcome"], "failure");
});

test("a retry inside the run stays in its trace, linked to the attempt before", async () => {
  await run({ workflow: "refunds", runId: "run-9" }, async (r) => {
    tool("refund_order", {}, (call) => call.fail("timed out"));
    await r.retry(async (again) => {
      assert.equal(again.attempt, 2);
      tool("refund_order", {}, () => "ok");
    });
  });
  const spans = memory.getFinishedSpans();
  assert.equal(new Set(spans.map((span) => span.spanContext().traceId)).size, 1);
  const attempt = spans.find((span) => span.name === "attempt 2 refunds")!;
  const root = spans.find((span) => span.name === "invoke_agent refunds")!;
  assert.deepEqual(attempt.links.map((link) => link.context.spanId), [root.spanContext().spanId]);
  assert.equal(root.attributes["run.attempt"], 2);
  const tries = spans.filter((span) => span.name === "execute_tool refund_order");
  assert.equal(parentOf(tries[1]!), attempt.spanContext().spanId);
  assert.deepEqual(tries.map((span) => span.attributes["tool.success"]), [false, true]);
});

test("a retry after the run is a new trace of the same run", async () => {
  let first: import("../src/index.js").Envelope | undefined;
  await assert.rejects(
    run({ workflow: "refunds" }, async (r) => {
      first = r;
      throw new Error("gave up");
    }),
  );
  const second = await first!.retry(async (r) => r);
  assert.equal(second.runId, first!.runId);
  assert.equal(second.attempt, 2);
  assert.notEqual(second.traceId, first!.traceId);
  const roots = memory.getFinishedSpans().filter((span) => parentOf(span) === undefined);
  assert.deepEqual(roots.map((span) => span.attributes["run.attempt"]), [1, 2]);
  assert.deepEqual(roots[1]!.links.map((link) => link.context.spanId), [roots[0]!.spanContext().spanId]);
});
