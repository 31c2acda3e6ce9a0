// The run envelope: the root span of one agent run, started before its first step, carrying what failpath
// reads of a run (workflow, run id, attempt, actor, task, token budget, allowed steps, outcome, feedback).
// A retry stays one run: inside the run, retry() runs the next attempt in the same trace (a span
// "attempt N <workflow>" under the root, linked to the attempt before); after it, a new trace with the same
// run id, attempt + 1 and a link to the previous attempt's root.

import { randomUUID } from "node:crypto";

import {
  type AttributeValue,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  trace,
  type TracerProvider,
} from "@opentelemetry/api";

import { RECORD_CONTENT, recordError, settle, TRACER_PROVIDER, tracer } from "./steps.js";

const PREVIOUS_ATTEMPT = { "failpath.link": "previous_attempt" };

export interface RunOptions {
  workflow: string;
  actor?: string;
  runId?: string;
  attempt?: number;
  /** A short summary of what was asked, recorded as given. */
  task?: string;
  tokenBudget?: number;
  /** The tools or sub-tasks the run may use. */
  allowedSteps?: string[];
  /** Whether the run's steps record prompts, outputs, arguments and results (off by default). */
  recordContent?: boolean;
  /** The tracer provider for the run and its steps (default: the global one). */
  tracerProvider?: TracerProvider;
}

export class Envelope {
  readonly runId: string;
  attempt: number;
  readonly startedAt: Date;
  private open = true;
  private outcomeSet = false;
  private current: Span;

  constructor(
    readonly options: RunOptions,
    readonly root: Span,
  ) {
    this.runId = options.runId ?? "";
    this.attempt = options.attempt ?? 1;
    this.startedAt = new Date();
    this.current = root;
  }

  /** The run's trace id (32 hex digits), known before its first step. */
  get traceId(): string {
    return this.root.spanContext().traceId;
  }

  /** The current attempt's span context. */
  get spanContext(): SpanContext {
    return this.current.spanContext();
  }

  /** How the run ended when no exception says so ("failure", "gave_up"...); limit: what stopped it. */
  outcome(outcome: string, limit?: string): void {
    this.outcomeSet = true;
    this.root.setAttribute("agent.run.outcome", outcome);
    if (limit !== undefined) this.root.setAttribute("agent.run.limit", limit);
  }

  /** A user's verdict on the run ("negative", a thumbs-down, a score). */
  feedback(value: string | number): void {
    this.root.setAttribute("agent.feedback", value);
  }

  /** The next attempt of this run, running fn: in this trace while the run is open, else a new run (a new
   * trace with the same run id, attempt + 1, linked to this attempt). */
  retry<R>(fn: (envelope: Envelope) => R): R {
    if (!this.open) {
      const options = { ...this.options, runId: this.runId, attempt: this.attempt + 1 };
      return start(options, [{ context: this.spanContext, attributes: PREVIOUS_ATTEMPT }], fn);
    }
    const previous = this.spanContext;
    this.attempt += 1;
    this.root.setAttribute("run.attempt", this.attempt);
    const span = tracer(this.options.tracerProvider).startSpan(
      `attempt ${this.attempt} ${this.options.workflow}`,
      {
        links: [{ context: previous, attributes: PREVIOUS_ATTEMPT }],
        attributes: { "run.id": this.runId, "run.attempt": this.attempt },
      },
      trace.setSpan(context.active(), this.root),
    );
    this.current = span;
    return settle(
      () => context.with(trace.setSpan(context.active(), span), () => fn(this)),
      (error) => {
        if (error !== undefined) recordError(span, error);
        span.end();
      },
    );
  }

  /** Ends the root span: an error is recorded and the outcome set to failure unless one was given. */
  end(error: unknown): void {
    if (error !== undefined) {
      recordError(this.root, error);
      if (!this.outcomeSet) this.root.setAttribute("agent.run.outcome", "failure");
    } else if (!this.outcomeSet) {
      this.root.setAttribute("agent.run.outcome", "success");
    }
    this.open = false;
    this.root.end();
  }
}

function start<R>(options: RunOptions, links: Link[], fn: (envelope: Envelope) => R): R {
  const caller = trace.getSpan(context.active())?.spanContext();
  if (caller !== undefined && trace.isSpanContextValid(caller)) {
    links.push({ context: caller, attributes: { "failpath.link": "caller" } }); // the run is a trace of its own
  }
  const runId = options.runId ?? randomUUID().replaceAll("-", "");
  const attributes: Record<string, AttributeValue | undefined> = {
    "gen_ai.operation.name": "invoke_agent",
    "workflow.name": options.workflow,
    "run.id": runId,
    "run.attempt": options.attempt ?? 1,
    "enduser.id": options.actor,
    "task.summary": options.task,
    "agent.token_budget": options.tokenBudget,
    "agent.task.allowed_steps": options.allowedSteps?.length ? options.allowedSteps : undefined,
  };
  const root = tracer(options.tracerProvider).startSpan(
    `invoke_agent ${options.workflow}`,
    {
      links,
      attributes: Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)),
    },
    ROOT_CONTEXT, // a new trace: the run's root span
  );
  const envelope = new Envelope({ ...options, runId }, root);
  let scoped = trace.setSpan(context.active(), root).setValue(RECORD_CONTENT, options.recordContent === true);
  if (options.tracerProvider !== undefined) scoped = scoped.setValue(TRACER_PROVIDER, options.tracerProvider);
  return settle(
    () => context.with(scoped, () => fn(envelope)),
    (error) => envelope.end(error),
  );
}

/** One agent run: `await run({ workflow: "refunds", actor }, async (envelope) => { ... })`. Returns what fn
 * returns; an error leaving fn is recorded on the run (outcome failure) and thrown on. */
export function run<R>(options: RunOptions, fn: (envelope: Envelope) => R): R {
  return start(options, [], fn);
}
