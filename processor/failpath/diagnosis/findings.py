"""What went wrong in a run, step by step: the findings the blame search weighs.

A finding names what it saw (`tool_failed`, `retrieval_empty`, `replanned`, `turn_limit`...), the step
it saw it at, when, and why, in words. Causes are things that went wrong at a step; symptoms are the
failure showing (a rejection, a limit, the run's outcome). A failed step that a later attempt of the same
step made good (a retried tool call, a model call after a rate limit), or whose error was handled, is
marked recovered: it is reported, and only blamed when nothing else explains the failure.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from failpath.agents.normalize import Run, Step
from failpath.diagnosis.config import SYMPTOMS
from failpath.signals.vocabulary import CUT_OFF, SignalsConfig

# Roles whose failure is a cause of its own; container spans (agents, chains) only show failures.
_WORKING = frozenset({"planner", "retriever", "tool", "model", "router", "guardrail"})
_STEP_FAILURE = {
    "retriever": "retrieval_failed",
    "tool": "tool_failed",
    "guardrail": "guardrail_blocked",
    "model": "model_failed",
    "router": "router_failed",
    "planner": "planner_failed",
}
_LIMIT_FINDINGS = {
    "turns": "turn_limit",
    "steps": "step_limit",
    "recursion": "recursion_limit",
    "requests": "request_limit",
    "tokens": "token_limit",
    "context": "context_limit",
}
_HANDLED = ("non-fatal", "nonfatal", "handled")


@dataclass
class Finding:
    name: str
    step: Step
    at_ns: int
    evidence: str
    # The span that carries the error (the step itself, or a child of it without a role).
    source: Step | None = None
    # The later step that made this failure good (or the step itself, when its error was handled).
    recovered_by: Step | None = None

    @property
    def symptom(self) -> bool:
        return self.name in SYMPTOMS


def made_good(finding: Finding) -> str:
    """How a recovered failure was made good, in words."""
    by = finding.recovered_by
    if by is None:
        return ""
    if by is finding.step:
        return "its error was handled"
    if by.name == finding.step.name or same_step(by, finding.step):
        return "a later attempt succeeded"
    return f"{describe(by)} succeeded after it"


def describe(step: Step) -> str:
    if step.role == "run":
        return f"the run ({step.name!r})"
    if step.role == "other":  # an agent, chain or workflow span
        return f"span {step.name!r}"
    return f"{step.label} {step.name!r}"


def _seconds(run: Run, ns: int) -> str:
    start = run.root.start_ns if run.root else min((step.start_ns for step in run.steps), default=ns)
    return f"{max(0, ns - start) / 1e9:.1f}s"


class FindingReader:
    def __init__(self, config: SignalsConfig) -> None:
        self._config = config

    def read(self, run: Run) -> list[Finding]:
        findings = [
            *self._failed_steps(run),
            *self._retrieval(run),
            *self._models(run),
            *self._routes(run),
            *self._plans(run),
            *self._loops(run),
            *self._verdicts(run),
            *self._run_end(run),
        ]
        findings.sort(key=lambda finding: finding.at_ns)
        return findings

    # -- steps that failed ------------------------------------------------------------------------------------
    def _failed_steps(self, run: Run) -> Iterable[Finding]:
        """A working step that failed (its own error, or one of a child without a role: an HTTP call in a
        tool blames the tool), once per step; recovered when a later attempt of it succeeded. The error
        reported is the one that ended first (the deepest: a child's error ends before its parent's)."""
        by_id = run.by_id()
        blamed: dict[str, tuple[Step, Step]] = {}
        for step in run.steps:
            if not step.errors or step.role in ("run", "verifier"):
                continue
            owner = step
            while owner.role == "other" and owner.parent_id in by_id:
                owner = by_id[owner.parent_id]
            if owner.role not in _WORKING:
                continue
            earlier = blamed.get(owner.span_id)
            if earlier is None or step.end_ns < earlier[1].end_ns:
                blamed[owner.span_id] = (owner, step)
        attempts: dict[str, list[Step]] = {}
        for step in run.steps:
            if step.role == "tool" and step.tool:
                attempts.setdefault(step.tool, []).append(step)
        for owner, errored in blamed.values():
            tried = attempts.get(owner.tool or "", []) if owner.role == "tool" else []
            every = ""
            if len(tried) > 1 and all(t.errors for t in tried) and owner in tried:
                every = f"; attempt {tried.index(owner) + 1} of {len(tried)}, all failed"
            limit = owner.facts.limit or errored.facts.limit
            name = _LIMIT_FINDINGS.get(limit or "", "") if owner.role == "model" else ""
            name = name or _STEP_FAILURE[owner.role]
            where = f" (in {errored.name!r})" if errored is not owner else ""
            when = _seconds(run, owner.start_ns)
            evidence = f"{describe(owner)}{where} failed at {when}: {errored.error()}{every}"
            finding = Finding(name, owner, owner.start_ns, evidence, errored)
            finding.recovered_by = _recovery(run, owner, errored)
            yield finding

    # -- retrieval --------------------------------------------------------------------------------------------
    def _retrieval(self, run: Run) -> Iterable[Finding]:
        low = self._config.low_retrieval_score
        for step in run.steps:
            if step.role != "retriever" or step.errors:
                continue
            if step.document_count == 0:
                yield Finding("retrieval_empty", step, step.start_ns, f"{describe(step)} returned 0 documents")
                continue
            scores = step.facts.scores
            if scores and max(scores) < low:
                yield Finding(
                    "retrieval_low_scores",
                    step,
                    step.start_ns,
                    f"{describe(step)} returned {len(scores)} documents, all scoring below {low} "
                    f"(best {max(scores):.2f})",
                )

    # -- models -----------------------------------------------------------------------------------------------
    def _models(self, run: Run) -> Iterable[Finding]:
        for step in run.steps:
            if step.role != "model":
                continue
            facts = step.facts
            model = step.response_model or step.request_model or "the model"
            cut = set(facts.finish_reasons) & CUT_OFF
            if cut:
                cap = f" at its cap of {facts.max_tokens} tokens" if facts.max_tokens else ""
                yield Finding(
                    "model_cut_off", step, step.start_ns, f"{model} stopped with finish reason {sorted(cut)[0]}{cap}"
                )
            elif not facts.finish_reasons and facts.max_tokens and (facts.output_tokens or 0) >= facts.max_tokens:
                yield Finding(
                    "model_cut_off",
                    step,
                    step.start_ns,
                    f"{model} wrote {facts.output_tokens} tokens, its cap of {facts.max_tokens}",
                )
        yield from self._budget(run)

    @staticmethod
    def _budget(run: Run) -> Iterable[Finding]:
        """The run's models used more tokens (input and output) than the task's budget: where it went over."""
        budget = next(
            (s.facts.token_budget for s in ([run.root] if run.root else []) + run.steps if s.facts.token_budget), None
        )
        if not budget:
            return
        used, over = 0, None
        for step in run.steps:
            if step.role == "model":
                used += (step.facts.input_tokens or 0) + (step.facts.output_tokens or 0)
                if over is None and used > budget:
                    over = step
        if over is not None:
            yield Finding(
                "over_token_budget",
                over,
                over.start_ns,
                f"the run's models used {used} tokens against its budget of {budget} (over at {describe(over)})",
            )

    # -- routing ----------------------------------------------------------------------------------------------
    def _routes(self, run: Run) -> Iterable[Finding]:
        for step in run.steps:
            facts = step.facts
            if facts.escalation_required and facts.escalated is not True:
                risk = f" for a {facts.route_risk}-risk task" if facts.route_risk else ""
                lane = f" (lane {facts.route_lane})" if facts.route_lane else ""
                yield Finding(
                    "escalation_skipped",
                    step,
                    step.start_ns,
                    f"{describe(step)} did not escalate{risk} although escalation was required{lane}",
                )

    # -- planning ---------------------------------------------------------------------------------------------
    def _plans(self, run: Run) -> Iterable[Finding]:
        planners = [step for step in run.steps if step.role == "planner"]
        revisions = max((step.facts.plan_revision or 0 for step in planners), default=0)
        if len(planners) >= 3 or revisions >= 3:
            first = planners[0] if planners else None
            if first is not None:
                count = max(len(planners), revisions)
                yield Finding("replanned", first, first.start_ns, f"the run planned {count} times")
        allowed = self._allowed_steps(run)
        for step in planners:
            plan = step.facts.plan_steps
            if not plan:
                continue
            outside = [name for name in plan if allowed and name not in allowed]
            limit = max(self._config.max_plan_steps, 3 * len(allowed)) if allowed else self._config.max_plan_steps
            if len(plan) > limit:
                allowed_text = f" for a task of {len(allowed)} allowed steps" if allowed else ""
                yield Finding(
                    "plan_explosion", step, step.start_ns, f"{describe(step)} planned {len(plan)} steps{allowed_text}"
                )
            elif outside:
                yield Finding(
                    "plan_outside_task",
                    step,
                    step.start_ns,
                    f"{describe(step)} planned {', '.join(outside)}, outside the task's allowed steps "
                    f"({', '.join(allowed)})",
                )
        if allowed and not any(step.facts.plan_steps for step in planners):
            for step in run.steps:
                if step.role == "tool" and step.tool and step.tool not in allowed:
                    yield Finding(
                        "plan_outside_task",
                        step,
                        step.start_ns,
                        f"{describe(step)} ran, outside the task's allowed steps ({', '.join(allowed)})",
                    )
                    break

    @staticmethod
    def _allowed_steps(run: Run) -> list[str]:
        for step in ([run.root] if run.root else []) + run.steps:
            if step.facts.allowed_steps:
                return step.facts.allowed_steps
        return []

    def _loops(self, run: Run) -> Iterable[Finding]:
        """The same tool called again and again in a row (with only model calls between)."""
        streak: list[Step] = []
        for step in run.steps:
            if step.role == "tool":
                if streak and streak[-1].tool == step.tool:
                    streak.append(step)
                else:
                    if len(streak) >= self._config.repeated_calls:
                        break
                    streak = [step]
            elif step.role not in ("model", "other"):
                if len(streak) >= self._config.repeated_calls:
                    break
                streak = []
        if len(streak) >= self._config.repeated_calls:
            first = streak[0]
            yield Finding(
                "repeated_calls", first, first.start_ns, f"{describe(first)} was called {len(streak)} times in a row"
            )

    # -- verdicts ---------------------------------------------------------------------------------------------
    def _verdicts(self, run: Run) -> Iterable[Finding]:
        checks = [
            step for step in run.steps if step.role in ("verifier", "guardrail") and step.verifier_passed is not None
        ]
        for index, step in enumerate(checks):
            if step.verifier_passed is False:
                reason = f": {step.facts.verdict_reason}" if step.facts.verdict_reason else ""
                finding = Finding("verifier_rejected", step, step.end_ns, f"{describe(step)} rejected the work{reason}")
                finding.recovered_by = next(
                    (later for later in checks[index + 1 :] if later.verifier_passed and later.name == step.name), None
                )
                yield finding

    # -- how the run ended ------------------------------------------------------------------------------------
    def _run_end(self, run: Run) -> Iterable[Finding]:
        containers = [step for step in run.steps if step.role in ("run", "other") and step.errors]
        limits = {step.facts.limit for step in run.steps if step.facts.limit and step.role in ("run", "other")}
        for limit in sorted(limits):
            name = _LIMIT_FINDINGS.get(limit)
            if name is None:
                continue
            where = next(step for step in run.steps if step.facts.limit == limit and step.role in ("run", "other"))
            yield Finding(
                name, where, where.end_ns, f"{describe(where)} stopped at its {limit} limit: {where.error() or limit}"
            )
        if containers and not limits:
            first = min(containers, key=lambda step: step.end_ns)
            yield Finding("run_failed", first, first.end_ns, f"{describe(first)} failed: {first.error()}")
        root = run.root
        for step in [root] if root else []:
            if step.facts.outcome_failed:
                yield Finding("outcome_failed", step, step.end_ns, "the run's outcome was a failure")
            if step.facts.feedback_negative:
                yield Finding("negative_feedback", step, step.end_ns, "the user's feedback on the run was negative")


def _recovery(run: Run, step: Step, errored: Step) -> Step | None:
    """What made a failed step good: a later attempt of the same step that succeeded, or the error being
    handled where it happened ("Error running tool (non-fatal)")."""
    if any(word in text.lower() for text in (errored.status_message, step.status_message) for word in _HANDLED):
        return step
    for later in run.steps:
        if later.start_ns <= step.start_ns or later.errors or later.role != step.role:
            continue
        same = later.tool == step.tool if step.role == "tool" else later.name == step.name
        if same:
            return later
    return None


def same_step(one: Step, other: Step) -> bool:
    """The same step of the run: one span, or attempts of one tool."""
    if one.role == "tool" and other.role == "tool" and one.tool:
        return one.tool == other.tool
    return one.span_id == other.span_id
