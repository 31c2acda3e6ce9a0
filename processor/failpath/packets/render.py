"""Packets and bucket counts as text for people (the CLI); --json callers get the data itself."""

from datetime import UTC, datetime

from failpath.diagnosis.report import evidence_lines
from failpath.packets.packet import Packet
from failpath.store.packets import BucketSummary, IndexedPacket


def replay_text(packet: Packet) -> str:
    steps = " -> ".join(step["label"] for step in packet["steps"]) or "(no steps before the failure)"
    failing = packet["failing_span"]
    lines = [
        f"trace_id: {packet['trace_id']}",
        f"workflow: {packet['workflow']}",
        f"selected_model: {packet['selected_model'] or '(none)'}",
        f"replayed_steps: {steps}",
        f"failure_bucket: {packet['failure_bucket']}",
        f"next_action: {packet['next_action']}",
    ]
    if failing:
        error = f": {failing['error']}" if failing["error"] else ""
        lines.append(f"failing_span: {failing['label']} {failing['name']!r} ({failing['span_id']}){error}")
    diagnosis = packet["diagnosis"]
    lines.append(f"confidence: {diagnosis['confidence']:.2f}")
    bucket = packet["bucket"]
    if bucket["first_check"]:
        lines.append(f"first_check: {bucket['first_check']}")
    if bucket["avoid"]:
        lines.append(f"avoid: {bucket['avoid']}")
    lines.extend(evidence_lines(packet["evidence"], diagnosis["runner_up"]))
    for attempt in packet["related_attempts"]:
        lines.append(f"earlier attempt: {attempt['trace_id']} at {attempt['started_at']} ({attempt['failure_bucket']})")
    if packet["trimmed"]:
        lines.append(f"trimmed: {', '.join(packet['trimmed'])}")
    return "\n".join(lines)


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def list_text(packets: list[IndexedPacket]) -> str:
    if not packets:
        return "no packets"
    rows = [("started (UTC)", "trace_id", "bucket", "workflow", "model", "duration")]
    rows += [
        (_time(p.started_ns), p.trace_id, p.bucket, p.workflow, p.model or "-", f"{p.duration_ms / 1000:.1f}s")
        for p in packets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def buckets_text(counts: list[BucketSummary], latest: dict[str, list[IndexedPacket]]) -> str:
    if not counts:
        return "no failures"
    lines = []
    for summary in counts:
        top = ", ".join(f"{name} ({n})" for name, n in summary.workflows)
        lines.append(f"{summary.bucket}: {summary.count}  top workflows: {top}")
        lines.extend(f"  {_time(p.started_ns)}  {p.trace_id}  {p.workflow}" for p in latest.get(summary.bucket, []))
    return "\n".join(lines)
