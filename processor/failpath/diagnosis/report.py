"""What `failpath diagnose` says about one trace: the verdict, its evidence, the runner-up, every finding;
as data (--json) or as text for a person."""

from collections.abc import Mapping
from typing import Any

from failpath.agents.normalize import Run
from failpath.diagnosis.blame import Diagnosis
from failpath.diagnosis.findings import describe


def verdict_data(run: Run, verdict: Diagnosis) -> dict[str, Any]:
    cause, runner = verdict.cause, verdict.runner_up
    return {
        "trace_id": run.trace_id,
        "workflow": run.workflow,
        "failed": verdict.failed,
        "failure_bucket": verdict.bucket,
        "confidence": verdict.confidence,
        "cause": None
        if cause is None
        else {"finding": cause.name, "span_id": cause.step.span_id, "step": describe(cause.step)},
        "evidence": verdict.evidence,
        "runner_up": None
        if runner is None
        else {"bucket": runner.bucket, "evidence": runner.evidence, "why_not": runner.why_not},
        "findings": [
            {
                "finding": finding.name,
                "step": describe(finding.step),
                "span_id": finding.step.span_id,
                "symptom": finding.symptom,
                "recovered": finding.recovered_by is not None,
                "evidence": finding.evidence,
            }
            for finding in verdict.findings
        ],
        "steps": [
            {
                "role": step.role,
                "label": step.label,
                "name": step.name,
                "span_id": step.span_id,
                "failed": bool(step.errors),
            }
            for step in run.steps
        ],
    }


def evidence_lines(evidence: list[str], runner_up: Mapping[str, Any] | None) -> list[str]:
    """The evidence as a list, and why the runner-up lost: how the CLI shows a verdict and a packet alike."""
    lines = ["evidence:", *(f"  - {line}" for line in evidence)]
    if runner_up:
        lines.append(f"why not {runner_up['bucket']}: {runner_up['why_not']}")
    return lines


def verdict_text(data: dict[str, Any]) -> str:
    lines = [f"trace_id: {data['trace_id']}", f"workflow: {data['workflow']}"]
    if not data["failed"]:
        lines.append("failure_bucket: none (nothing failed for good)")
    else:
        lines.append(f"failure_bucket: {data['failure_bucket']}  (confidence {data['confidence']:.2f})")
        if data["cause"]:
            lines.append(f"cause: {data['cause']['finding']} at {data['cause']['step']} ({data['cause']['span_id']})")
    lines.extend(evidence_lines(data["evidence"], data["runner_up"]))
    steps = " -> ".join(
        step["label"] + (" (failed)" if step["failed"] else "")
        for step in data["steps"]
        if step["role"] not in ("run", "other")
    )
    lines.append(f"steps: {steps or '(none with a role)'}")
    if data["findings"]:
        lines.append("findings:")
        for finding in data["findings"]:
            marks = [mark for mark, on in (("symptom", finding["symptom"]), ("recovered", finding["recovered"])) if on]
            lines.append(
                f"  {finding['finding']}{' [' + ', '.join(marks) + ']' if marks else ''}: {finding['evidence']}"
            )
    return "\n".join(lines)
