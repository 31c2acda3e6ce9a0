// failpath's agent side for TypeScript: a run envelope and step helpers on @opentelemetry/api, writing the
// vocabulary failpath's diagnosis reads (see docs/agent.md in the failpath repository). configure() lives
// in "@failpath/agent/configure" (it needs the SDK).

export { Envelope, run, type RunOptions } from "./envelope.js";
export {
  guardrail,
  type ModelOptions,
  model,
  ModelStep,
  planner,
  PlannerStep,
  type RetrieverOptions,
  retriever,
  RetrieverStep,
  type Route,
  router,
  RouterStep,
  Step,
  type StepOptions,
  type ToolOptions,
  tool,
  ToolStep,
  VerdictStep,
  verifier,
} from "./steps.js";
