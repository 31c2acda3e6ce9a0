"""Where a failed run broke: its failing step, the path to it, and the bucket that deserves the blame.

The failing step is the earliest cause, not the last span that errored: among spans with an error signal
(other than the run's root), the one that ended first (a child's error ends before its parent's); a
span with no role of its own (an HTTP client call, say) is blamed on its nearest ancestor that has one,
and errors that can be blamed on such a step come first. Without any, the run itself is the failing step.
Bucket rules are then tried in order.
"""

import re
from dataclasses import dataclass, field

from failpath.agents.normalize import Run, Step
from failpath.packets.config import BucketRule, Match

UNKNOWN = "unknown"
# Roles whose own failure is a cause; a passing verifier before a failure in one of these is not to blame.
_WORKING_ROLES = frozenset({"tool", "retriever", "model", "planner", "router", "guardrail"})


@dataclass
class Verdict:
    bucket: str
    rule: BucketRule | None
    # The step the failure is blamed on (a role-bearing span), and the span that actually errored.
    failing: Step | None
    errored: Step | None
    # Span ids from the root to the failing step.
    path: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def _describe(step: Step) -> str:
    if step.role == "run":
        return f"the run ({step.name!r})"
    return f"{step.label} {step.name!r}"


class Classifier:
    def __init__(self, rules: list[BucketRule]) -> None:
        self._rules = rules
        self._error_patterns = {id(m): re.compile(m.error_type) for r in rules for m in r.match if m.error_type}

    def classify(self, run: Run) -> Verdict:
        by_id = run.by_id()
        errored = [step for step in run.steps if step.role != "run" and step.error()]
        failing: Step | None = None
        cause: Step | None = None
        if errored:
            # Blamed on a role-bearing step when one can be found (a parent may still be missing if it
            # arrives late); among those, the earliest-ending error.
            blamed = [(self._blamed(step, by_id), step) for step in errored]
            with_role = [pair for pair in blamed if pair[0].role != "other"] or blamed
            failing, cause = min(with_role, key=lambda pair: (pair[1].end_ns, pair[1].start_ns))
        elif run.root is not None and run.root.error():
            failing = cause = run.root
        elif run.root is not None:
            failing = run.root
        path: list[str] = []
        node = failing
        while node is not None:
            path.append(node.span_id)
            node = by_id.get(node.parent_id) if node.parent_id else None
        path.reverse()
        verdict = Verdict(UNKNOWN, None, failing, cause, path)
        if failing is None:
            verdict.evidence.append("the trace has no spans to blame")
            return verdict
        if cause is not None:
            where = _describe(failing) + (f" (in {cause.name!r})" if cause is not failing else "")
            verdict.evidence.append(f"first failure: {where}: {cause.error()}")
        for rule in self._rules:
            for match in rule.match:
                evidence = self._matches(match, run, failing, cause)
                if evidence is not None:
                    verdict.bucket, verdict.rule = rule.name, rule
                    verdict.evidence.extend(evidence)
                    return verdict
        verdict.evidence.append("no bucket rule had evidence")
        return verdict

    @staticmethod
    def _blamed(step: Step, by_id: dict[str, Step]) -> Step:
        while step.role == "other" and step.parent_id in by_id:
            step = by_id[step.parent_id]
        return step

    def _matches(self, match: Match, run: Run, failing: Step, cause: Step | None) -> list[str] | None:
        """The evidence for each test if all hold, else None."""
        evidence: list[str] = []
        before = [step for step in run.steps if step.end_ns <= failing.start_ns and step is not failing]
        if failing.role == "run":
            before = [step for step in run.steps if step.role != "run"]
        if match.failing_role is not None:
            if failing.role not in match.failing_role:
                return None
            evidence.append(f"the failing step is a {failing.role}")
        if match.empty_retrieval_before is not None:
            empty = [s for s in before if s.role == "retriever" and s.document_count == 0]
            if bool(empty) != match.empty_retrieval_before:
                return None
            if empty:
                evidence.append(f"{_describe(empty[0])} returned 0 documents before {_describe(failing)}")
        if match.verifier_passed_before is not None:
            passed = [s for s in before if s.role == "verifier" and s.verifier_passed is True]
            holds = bool(passed) and failing.role not in _WORKING_ROLES
            if holds != match.verifier_passed_before:
                return None
            if passed:
                evidence.append(f"{_describe(passed[-1])} passed, then {_describe(failing)} failed")
        if match.error_type is not None:
            pattern = self._error_patterns[id(match)]
            texts = [cause.error_type, cause.status_message, cause.error()] if cause else []
            hit = next((text for text in texts if text and pattern.search(text)), None)
            if hit is None:
                return None
            evidence.append(f"error matches {match.error_type!r}")
        if match.finish_reasons is not None:
            models = [
                s for s in [*before, failing] if s.role == "model" and set(s.finish_reasons) & set(match.finish_reasons)
            ]
            if not models:
                return None
            evidence.append(f"{_describe(models[0])} stopped with finish reason {', '.join(models[0].finish_reasons)}")
        if match.replans_at_least is not None:
            plans = [s for s in [*before, failing] if s.role == "planner"]
            if len(plans) < match.replans_at_least:
                return None
            evidence.append(f"the run planned {len(plans)} times")
        return evidence
