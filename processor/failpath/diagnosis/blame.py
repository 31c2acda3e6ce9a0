"""Blame as a search for the earliest unrecovered cause.

Every finding a bucket rule accepts is a candidate. The winner is the earliest cause that nothing made
good; symptoms (a rejection, a limit, a failed run) are traced back to it, and are blamed themselves only
when no cause precedes them. Recovered failures are reported and only blamed when nothing else is left.
The verdict says why: the winning evidence, how the failure then showed, a confidence, and the runner-up
with the reason it lost ("why not tool_execution: ... was retried successfully").
"""

import re
from dataclasses import dataclass, field

from failpath.agents.normalize import Run, Step
from failpath.diagnosis.config import BucketRuleConfig, MatchConfig
from failpath.diagnosis.findings import Finding, FindingReader, describe, made_good, same_step
from failpath.signals.vocabulary import SignalsConfig

UNKNOWN = "unknown"
# A run in which nothing failed for good (every failure was recovered): no bucket, no packet.
NO_FAILURE = "none"
# Findings after a passing check that show the check was wrong (a working step failing afterwards is a
# cause of its own, not the check's fault).
_CHECK_MISSED = frozenset({"verifier_rejected", "outcome_failed", "negative_feedback", "run_failed"})
# Causes that are a step failing outright; the others are conditions (an empty retrieval, a skipped
# escalation) that explain a failure less directly.
_OUTRIGHT = frozenset(
    {
        "tool_failed",
        "retrieval_failed",
        "model_failed",
        "context_limit",
        "token_limit",
        "router_failed",
        "planner_failed",
        "guardrail_blocked",
    }
)


@dataclass
class Candidate:
    finding: Finding
    rule: BucketRuleConfig
    order: int

    @property
    def bucket(self) -> str:
        return self.rule.name


@dataclass
class RunnerUp:
    bucket: str
    evidence: str
    why_not: str


@dataclass
class Diagnosis:
    failed: bool
    bucket: str
    rule: BucketRuleConfig | None
    # The step the failure is blamed on, and the span that actually errored (a tool's HTTP call, say).
    failing: Step | None
    errored: Step | None
    path: list[str] = field(default_factory=list)
    confidence: float = 0.0
    evidence: list[str] = field(default_factory=list)
    runner_up: RunnerUp | None = None
    # The winning finding, and the one where the failure showed (a rejection, a limit, the run failing).
    cause: Finding | None = None
    showed: Finding | None = None
    findings: list[Finding] = field(default_factory=list)


class Blame:
    def __init__(self, rules: list[BucketRuleConfig], signals: SignalsConfig) -> None:
        self._rules = rules
        self._reader = FindingReader(signals)
        self._errors = {id(match): re.compile(match.error) for rule in rules for match in rule.match if match.error}

    def diagnose(self, run: Run) -> Diagnosis:
        findings = self._reader.read(run)
        findings = sorted([*findings, *self._passed_checks(run, findings)], key=lambda finding: finding.at_ns)
        failures = [f for f in findings if f.recovered_by is None and (f.symptom or f.name in _OUTRIGHT)]
        if not failures:
            return self._healthy(run, findings)
        candidates = [c for c in (self._candidate(f) for f in findings) if c is not None]
        causes = [c for c in candidates if not c.finding.symptom and c.finding.recovered_by is None]
        symptoms = [c for c in candidates if c.finding.symptom and c.finding.recovered_by is None]
        recovered = [c for c in candidates if c.finding.recovered_by is not None]
        ranked = sorted(causes, key=_rank) + sorted(symptoms, key=_rank) + sorted(recovered, key=_rank)
        if not ranked:
            first = failures[0]
            diagnosis = Diagnosis(True, UNKNOWN, None, first.step, first.step, _path(run, first.step))
            diagnosis.evidence = [first.evidence, "no bucket rule had evidence"]
            diagnosis.findings = findings
            return diagnosis
        winner = ranked[0]
        cause = winner.finding
        diagnosis = Diagnosis(True, winner.bucket, winner.rule, cause.step, _errored(cause), _path(run, cause.step))
        diagnosis.cause = cause
        diagnosis.findings = findings
        diagnosis.evidence = [cause.evidence]
        # How the failure showed further on: not another attempt of the same step.
        later = [f for f in failures if f.at_ns >= cause.at_ns and not same_step(f.step, cause.step)]
        showed = next(iter(later), None)
        diagnosis.showed = showed
        if showed is not None and showed.evidence not in cause.evidence:  # a passed check already says it
            diagnosis.evidence.append(f"then: {showed.evidence}")
        diagnosis.evidence.extend(
            f"recovered, not blamed: {f.evidence} ({made_good(f)})"
            for f in findings
            if f.recovered_by is not None and f.recovered_by is not f.step and f is not cause
        )
        # The runner-up is the strongest other explanation: another cause, a recovered failure (the red span
        # a reader will ask about), and only then a symptom.
        alternatives = sorted(causes, key=_rank) + sorted(recovered, key=_rank) + sorted(symptoms, key=_rank)
        runner = next((c for c in alternatives if c.bucket != winner.bucket), None)
        if runner is not None:
            diagnosis.runner_up = RunnerUp(runner.bucket, runner.finding.evidence, _why_not(winner, runner))
        diagnosis.confidence = _confidence(winner, runner, showed)
        return diagnosis

    def _passed_checks(self, run: Run, findings: list[Finding]) -> list[Finding]:
        """A verifier or guardrail that passed, after which the run failed anyway, with no working step
        failing after it to explain that."""
        passed: list[Finding] = []
        checks = [s for s in run.steps if s.role in ("verifier", "guardrail") and s.verifier_passed is True]
        for check in checks:
            # What the run's root says (its outcome, the user's feedback) comes after every step, whatever the
            # clocks say: an SDK that keeps start times to the millisecond (OpenTelemetry JS) can end the
            # root a hair before its last check.
            after = [f for f in findings if (f.at_ns > check.end_ns or f.step is run.root) and f.recovered_by is None]
            if any(f.name in _OUTRIGHT for f in after):
                continue
            missed = next((f for f in after if f.name in _CHECK_MISSED), None)
            if missed is not None:
                passed.append(
                    Finding(
                        "verifier_passed", check, check.start_ns, f"{describe(check)} passed, then: {missed.evidence}"
                    )
                )
                break
        return passed

    def _candidate(self, finding: Finding) -> Candidate | None:
        for order, rule in enumerate(self._rules):
            for match in rule.match:
                if self._matches(match, finding):
                    return Candidate(finding, rule, order)
        return None

    def _matches(self, match: MatchConfig, finding: Finding) -> bool:
        if finding.name not in match.finding:
            return False
        if match.role is not None and finding.step.role not in match.role:
            return False
        if match.error is not None:
            texts = [*finding.step.facts.error_texts, finding.step.error() or ""]
            if not any(self._errors[id(match)].search(text) for text in texts):
                return False
        return True

    @staticmethod
    def _healthy(run: Run, findings: list[Finding]) -> Diagnosis:
        diagnosis = Diagnosis(False, NO_FAILURE, None, None, None)
        diagnosis.findings = findings
        diagnosis.evidence = ["nothing failed for good"] + [
            f"recovered: {f.evidence}" for f in findings if f.recovered_by is not None
        ]
        return diagnosis


def _rank(candidate: Candidate) -> tuple[int, int]:
    return candidate.finding.at_ns, candidate.order


def _path(run: Run, step: Step) -> list[str]:
    by_id = run.by_id()
    path: list[str] = []
    node: Step | None = step
    while node is not None:
        path.append(node.span_id)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return path[::-1]


def _errored(finding: Finding) -> Step:
    """The span that carries the error: a child without a role of its own, or the step itself."""
    return finding.source or finding.step


def _why_not(winner: Candidate, runner: Candidate) -> str:
    found = runner.finding
    if found.recovered_by is not None:
        return f"{describe(found.step)} failed, but {made_good(found)}"
    if found.symptom:
        return f"that is how the failure showed; {winner.finding.evidence} came first"
    return f"{winner.finding.evidence} came first"


def _confidence(winner: Candidate, runner: Candidate | None, showed: Finding | None) -> float:
    finding = winner.finding
    if finding.recovered_by is not None:
        score = 0.3
    elif finding.symptom:
        score = 0.45
    else:
        score = 0.9 if finding.name in _OUTRIGHT else 0.8
        if showed is None and finding.name not in _OUTRIGHT:
            score -= 0.15  # a condition with no failure after it to connect to
    if runner is not None and not runner.finding.symptom and runner.finding.recovered_by is None:
        score -= 0.2  # another unrecovered cause, later: less certain which one mattered
    return round(max(0.05, min(score, 0.95)), 2)
