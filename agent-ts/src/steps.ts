// Step spans of an agent run: planner, retriever, tool, model, verifier, router and guardrail, in the
// vocabulary failpath's diagnosis reads by default (the same names as the Python failpath.agent).
// Content (arguments, results, outputs) is recorded only when the step or its run asks for it.

import {
  context,
  createContextKey,
  type Attributes,
  type AttributeValue,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";

export const TRACER_NAME = "failpath.agent";
// Set in the context by a run envelope: whether its steps may record content, and its tracer provider.
export const RECORD_CONTENT = createContextKey("failpath.record_content");
export const TRACER_PROVIDER = createContextKey("failpath.tracer_provider");

export function tracer(provider?: TracerProvider): Tracer {
  const chosen = provider ?? (context.active().getValue(TRACER_PROVIDER) as TracerProvider | undefined);
  return (chosen ?? trace.getTracerProvider()).getTracer(TRACER_NAME);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}

function defined(attributes: Record<string, AttributeValue | undefined>): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)) as Attributes;
}

export interface StepOptions {
  recordContent?: boolean;
}

/** One step of a run as a span; the helpers below make them. */
export class Step {
  protected failed = false;

  constructor(
    readonly span: Span,
    private readonly recordContentOption: boolean | undefined,
  ) {}

  get recordsContent(): boolean {
    return this.recordContentOption ?? context.active().getValue(RECORD_CONTENT) === true;
  }

  /** An attribute of the step (undefined: left unset). */
  set(key: string, value: AttributeValue | undefined): void {
    if (value !== undefined) this.span.setAttribute(key, value);
  }

  /** The step failed without an exception (a tool reporting failure, a refused request). */
  fail(reason: string, errorType = "failed"): void {
    this.failed = true;
    this.set("error.type", errorType);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
  }

  /** Facts known at the end; subclasses add theirs. */
  finish(_error: unknown, _result: unknown): void {}
}

export function recordError(span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException(failure);
  span.setAttribute("error.type", failure.name === "Error" ? failure.constructor.name : failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${failure.name}: ${failure.message}` });
}

export class ToolStep extends Step {
  private resultRecorded = false;

  /** The call's arguments: their keys always, the values only when content is recorded. */
  arguments(values: Record<string, unknown>): void {
    this.set("agent.tool.argument_keys", Object.keys(values).sort());
    if (this.recordsContent) this.set("gen_ai.tool.call.arguments", text(values));
  }

  /** The tool's result: its size always, the text only when content is recorded. */
  result(value: unknown): void {
    this.resultRecorded = true;
    const shown = text(value);
    this.set("agent.tool.result_size", shown.length);
    if (this.recordsContent) this.set("gen_ai.tool.call.result", shown);
  }

  override finish(error: unknown, result: unknown): void {
    if (error === undefined && result !== undefined && !this.resultRecorded) this.result(result);
    this.span.setAttribute("tool.success", error === undefined && !this.failed);
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      this.span.setAttribute("agent.tool.timed_out", true);
    }
  }
}

export class ModelStep extends Step {
  usage(inputTokens?: number, outputTokens?: number, finishReasons: string[] = []): void {
    this.set("gen_ai.usage.input_tokens", inputTokens);
    this.set("gen_ai.usage.output_tokens", outputTokens);
    if (finishReasons.length > 0) this.set("gen_ai.response.finish_reasons", finishReasons);
  }

  /** The model's answer: its length always, the text only when content is recorded. */
  output(answer: string): void {
    this.set("agent.model.output_size", answer.length);
    if (this.recordsContent) {
      this.set("gen_ai.output.messages", JSON.stringify([{ role: "assistant", content: answer }]));
    }
  }
}

export class RetrieverStep extends Step {
  /** What came back: ids and scores, never the documents' text. */
  documents(ids: string[], scores: number[] = []): void {
    this.set("retrieval.documents.count", ids.length);
    if (ids.length > 0) this.set("retrieval.documents", ids.map(String));
    if (scores.length > 0) this.set("retrieval.scores", scores);
  }
}

export class VerdictStep extends Step {
  constructor(
    span: Span,
    recordContent: boolean | undefined,
    private readonly key: string,
  ) {
    super(span, recordContent);
  }

  verdict(passed: boolean, reason?: string, score?: number): void {
    this.set(this.key, passed);
    this.set("verifier.reason", reason);
    this.set("verifier.score", score);
  }
}

export interface Route {
  lane?: string;
  model?: string;
  risk?: string;
  escalationRequired?: boolean;
  escalated?: boolean;
}

export class RouterStep extends Step {
  route(chosen: Route): void {
    this.set("agent.route.lane", chosen.lane);
    this.set("agent.route.model", chosen.model);
    this.set("agent.route.risk", chosen.risk);
    this.set("agent.route.escalation_required", chosen.escalationRequired);
    this.set("agent.route.escalated", chosen.escalated);
  }
}

export class PlannerStep extends Step {
  /** The plan: the names of the steps it chose, and which revision it is. */
  plan(steps: string[], revision?: number): void {
    this.set("agent.plan.steps", steps);
    this.set("agent.plan.revision", revision);
  }
}

type Make<S extends Step> = (span: Span, recordContent: boolean | undefined) => S;

/** Runs fn inside a new step span: the span is current for fn, an error is recorded and thrown on. */
function step<S extends Step, R>(
  kind: string,
  name: string,
  attributes: Record<string, AttributeValue | undefined>,
  options: StepOptions,
  make: Make<S>,
  fn: (step: S) => R,
  spanKind: SpanKind = SpanKind.INTERNAL,
): R {
  const span = tracer().startSpan(name, {
    kind: spanKind,
    attributes: defined({ "agent.step.kind": kind, ...attributes }),
  });
  const made = make(span, options.recordContent);
  return settle(
    () => context.with(trace.setSpan(context.active(), span), () => fn(made)),
    (error, result) => {
      if (error !== undefined) recordError(span, error);
      made.finish(error, result);
      span.end();
    },
  );
}

/** Calls fn, then done(error, result) when it returns or its promise settles; errors are thrown on. */
export function settle<R>(fn: () => R, done: (error: unknown, result: unknown) => void): R {
  let result: R;
  try {
    result = fn();
  } catch (error) {
    done(error, undefined);
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        done(undefined, value);
        return value;
      },
      (error: unknown) => {
        done(error, undefined);
        throw error;
      },
    ) as R;
  }
  done(undefined, result);
  return result;
}

export interface ToolOptions extends StepOptions {
  timeoutClass?: string;
  retryCount?: number;
  cacheHit?: boolean;
}

export interface ModelOptions extends StepOptions {
  lane?: string;
  maxTokens?: number;
  provider?: string;
  retryCount?: number;
  cacheHit?: boolean;
}

export interface RetrieverOptions extends StepOptions {
  source?: string;
  cacheHit?: boolean;
}

/** A tool call: `await tool("refund_order", { timeoutClass: "30s" }, async (call) => ...)`. The value fn
 * returns is recorded as the result (its size; its text with content on) unless fn called result(). */
export function tool<R>(name: string, options: ToolOptions, fn: (step: ToolStep) => R): R {
  const attributes = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": name,
    "agent.tool.timeout_class": options.timeoutClass,
    "agent.retry_count": options.retryCount,
    "agent.cache.hit": options.cacheHit,
  };
  return step("tool", `execute_tool ${name}`, attributes, options, (s, c) => new ToolStep(s, c), fn);
}

export function model<R>(name: string, options: ModelOptions, fn: (step: ModelStep) => R): R {
  const attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": name,
    "gen_ai.request.max_tokens": options.maxTokens,
    "gen_ai.provider.name": options.provider,
    "agent.model.lane": options.lane,
    "agent.retry_count": options.retryCount,
    "agent.cache.hit": options.cacheHit,
  };
  const make: Make<ModelStep> = (s, c) => new ModelStep(s, c);
  return step("model", `chat ${name}`, attributes, options, make, fn, SpanKind.CLIENT);
}

export function retriever<R>(name: string, options: RetrieverOptions, fn: (step: RetrieverStep) => R): R {
  const attributes = {
    "gen_ai.operation.name": "retrieval",
    "gen_ai.data_source.id": options.source,
    "agent.cache.hit": options.cacheHit,
  };
  const make: Make<RetrieverStep> = (s, c) => new RetrieverStep(s, c);
  return step("retriever", name, attributes, options, make, fn, SpanKind.CLIENT);
}

export function planner<R>(name: string, options: StepOptions, fn: (step: PlannerStep) => R): R {
  const make: Make<PlannerStep> = (s, c) => new PlannerStep(s, c);
  return step("planner", name, { "gen_ai.operation.name": "plan" }, options, make, fn);
}

export function verifier<R>(name: string, options: StepOptions, fn: (step: VerdictStep) => R): R {
  return step("verifier", name, {}, options, (s, c) => new VerdictStep(s, c, "verifier.passed"), fn);
}

export function guardrail<R>(name: string, options: StepOptions, fn: (step: VerdictStep) => R): R {
  return step("guardrail", name, {}, options, (s, c) => new VerdictStep(s, c, "guardrail.passed"), fn);
}

export function router<R>(name: string, options: StepOptions, fn: (step: RouterStep) => R): R {
  return step("router", name, {}, options, (s, c) => new RouterStep(s, c), fn);
}
