// The scripted support agent of `failpath demo`, in TypeScript: no model, no network beyond failpath.
// Healthy runs, one failure per bucket and a run retried as a second attempt; prints {trace id: the bucket
// failpath should give it (null: healthy, no packet)} as JSON once every span has left.
//
//   node dist/examples/scenarios.js --endpoint http://127.0.0.1:4318 [--healthy 5]

import { parseArgs } from "node:util";

import { type Envelope, model, planner, retriever, router, run, tool, verifier } from "../src/index.js";
import { configure } from "../src/configure.js";

const WORKFLOW = "support-refunds";
const ALLOWED = ["lookup_order", "search_policy", "refund_order"];

class ToolTimeout extends Error {
  override name = "TimeoutError";
}

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2));

async function lookup(): Promise<void> {
  await tool("lookup_order", { timeoutClass: "5s" }, async (call) => {
    call.arguments({ order_id: "A-1001", customer_email: "jane.doe@example.com" });
    await pause();
    return { status: "delivered", amount: 42.5 };
  });
}

async function search(ids: string[], scores: number[]): Promise<void> {
  await retriever("search_policy", { source: "refund-policies" }, async (s) => {
    await pause();
    s.documents(ids, scores);
  });
}

function answer(lane = "careful", output = "Refund approved for order A-1001."): void {
  model("gpt-4.1", { lane, maxTokens: 800 }, (call) => {
    call.usage(1200, 180, ["stop"]);
    call.output(output);
  });
}

function check(passed: boolean, reason?: string): void {
  verifier("check_answer", {}, (v) => v.verdict(passed, reason));
}

const options = (actor: string) => ({ workflow: WORKFLOW, actor, task: "refund an order", allowedSteps: ALLOWED });

async function healthy(actor: string): Promise<string> {
  return run(options(actor), async (r) => {
    planner("plan", {}, (p) => p.plan(["lookup_order", "search_policy", "refund_order"]));
    await lookup();
    await search(["policy-7", "policy-2"], [0.82, 0.61]);
    answer();
    await tool("refund_order", { timeoutClass: "30s" }, async (call) => {
      call.arguments({ order_id: "A-1001", amount: 42.5 });
      return { refund_id: "R-77" };
    });
    check(true);
    return r.traceId;
  });
}

async function retrievalMiss(actor: string): Promise<string> {
  return run(options(actor), async (r) => {
    planner("plan", {}, (p) => p.plan(["lookup_order", "search_policy"]));
    await lookup();
    await search([], []);
    answer("careful", "Refunds are not possible.");
    check(false, "the answer cites no policy");
    r.outcome("failure");
    return r.traceId;
  });
}

async function toolExecution(actor: string): Promise<string> {
  let traceId = "";
  try {
    await run(options(actor), async (r) => {
      traceId = r.traceId;
      planner("plan", {}, (p) => p.plan(["lookup_order", "refund_order"]));
      await lookup();
      answer();
      await tool("refund_order", { timeoutClass: "30s" }, async (call) => {
        call.arguments({ order_id: "A-1001", amount: 42.5 });
        await pause();
        throw new ToolTimeout("payments API did not answer in 30s");
      });
    });
  } catch (error) {
    if (!(error instanceof ToolTimeout)) throw error;
  }
  return traceId;
}

async function routingMistake(actor: string): Promise<string> {
  return run(options(actor), async (r) => {
    router("select_model", {}, (s) =>
      s.route({ lane: "fast", model: "gpt-4.1-mini", risk: "high", escalationRequired: true, escalated: false }),
    );
    await lookup();
    answer("fast", "Refund of 4,800 EUR approved.");
    check(false, "a refund over 1,000 EUR needs the careful lane");
    r.outcome("failure");
    return r.traceId;
  });
}

async function plannerDrift(actor: string): Promise<string> {
  return run(options(actor), async (r) => {
    planner("plan", {}, (p) => p.plan(["lookup_order", "close_account"]));
    await lookup();
    await tool("close_account", { timeoutClass: "5s" }, async (call) => {
      call.arguments({ customer_id: "C-9" });
      return { closed: true };
    });
    check(false, "the customer asked for a refund, not a closed account");
    r.outcome("failure");
    return r.traceId;
  });
}

async function verifierFalsePositive(actor: string): Promise<string> {
  return run(options(actor), async (r) => {
    planner("plan", {}, (p) => p.plan(["lookup_order", "search_policy"]));
    await lookup();
    await search(["policy-7"], [0.77]);
    answer("careful", "Refund approved for order A-1002.");
    check(true);
    r.feedback("negative");
    return r.traceId;
  });
}

async function retried(actor: string): Promise<string[]> {
  const traceIds: string[] = [];
  const attempt = async (r: Envelope): Promise<void> => {
    traceIds.push(r.traceId);
    await lookup();
    await tool("refund_order", { timeoutClass: "30s", retryCount: r.attempt - 1 }, async () => {
      throw new ToolTimeout("payments API did not answer in 30s");
    });
  };
  let first: Envelope | undefined;
  await run(options(actor), async (r) => {
    first = r;
    await attempt(r);
  }).catch(() => undefined);
  await first!.retry(attempt).catch(() => undefined);
  return traceIds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { endpoint: { type: "string" }, healthy: { type: "string" } } });
  const provider = configure({ endpoint: values.endpoint, serviceName: "support-agent-ts" });
  const expected: Record<string, string | null> = {};
  for (let index = 0; index < Number(values.healthy ?? "5"); index += 1) {
    expected[await healthy(`user-${index}`)] = null;
  }
  expected[await retrievalMiss("user-100")] = "retrieval_miss";
  expected[await toolExecution("user-101")] = "tool_execution";
  expected[await routingMistake("user-102")] = "routing_mistake";
  expected[await plannerDrift("user-103")] = "planner_drift";
  expected[await verifierFalsePositive("user-104")] = "verifier_false_positive";
  for (const traceId of await retried("user-200")) expected[traceId] = "tool_execution";
  await provider.shutdown();
  console.log(JSON.stringify(expected));
}

await main();
