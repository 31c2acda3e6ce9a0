"""The dashboard's pages as HTML text. Every value from a packet, the index or the span store is escaped here
(span names, workflows and attribute values are whatever an agent sent); no script, one inline style sheet."""

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from failpath.dashboard.charts import stacked_bars, trend
from failpath.dashboard.stored_spans import StoredSpan, StoredTrace
from failpath.dashboard.traffic import Traffic
from failpath.dashboard.window import CHOICES, HOUR_NS, Window
from failpath.diagnosis.blame import UNKNOWN
from failpath.diagnosis.config import BucketRuleConfig
from failpath.otlp.timestamps import parse_iso_time
from failpath.packets.packet import Packet, StepRecord
from failpath.store.packets import MAX_ATTEMPTS, BucketSummary, IndexedPacket

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:10px 24px}header a{color:#fff;margin-right:18px;text-decoration:none}
main{padding:18px 24px;max-width:1200px}h1{font-size:20px}h2{font-size:16px;margin-top:26px}
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:5px 8px;border-bottom:1px solid #e3e6ea;
text-align:left;vertical-align:top}th{font-weight:600;background:#eef0f3}.fail{color:#b42318;font-weight:600}
.box{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px 16px;margin:10px 0}
.bar{display:inline-block;height:10px;background:#d92d20;vertical-align:middle}
code,pre{font:12px ui-monospace,monospace;background:#eef0f3;padding:2px 4px;border-radius:3px}
pre{padding:8px;white-space:pre-wrap}form input,form select{margin-right:8px}.muted{color:#667085}
tr.failing td{background:#fef3f2}.box h2{margin-top:0}.chart{width:100%;height:auto;background:#fff}
.axis{font-size:10px;fill:#667085}.base{stroke:#c9ced6}.swatch{display:inline-block;width:10px;height:10px;
margin-right:5px;border-radius:2px}.legend span{margin-right:14px}.windows a{margin-right:10px}
.lane{position:relative;height:12px;min-width:220px;background:#f2f4f7}.lane span{position:absolute;top:1px;
height:10px;background:#7a8699;min-width:2px}tr.failing .lane span{background:#d92d20}
.value{white-space:pre-wrap;word-break:break-word}details{background:#fff;border-bottom:1px solid #e3e6ea;
padding:4px 8px}summary{cursor:pointer}.stats span{margin-right:22px}
"""


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: object) -> str:
    return "&ndash;" if value is None else escape(str(value))


def _tops(pairs: list[tuple[str, int]]) -> str:
    return _text(", ".join(f"{name} ({count})" for name, count in pairs)) if pairs else "&ndash;"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} d ago"


def _runs_count(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _swatch(color: str) -> str:
    return f"<span class=swatch style='background:{color}'></span>"


def layout(title: str, body: str) -> str:
    links = "<a href='/'>failpath</a><a href='/runs'>Runs</a><a href='/buckets'>Buckets</a>"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_text(title)} · failpath</title>"
        f"<style>{_STYLE}</style></head><body><header>{links}</header><main>{body}</main></body></html>"
    )


def _run_row(row: IndexedPacket) -> str:
    link = f"/runs/{quote(row.trace_id)}"
    return (
        f"<tr><td>{_time(row.started_ns)}</td><td><a href='{link}'><code>{_text(row.trace_id[:16])}</code></a></td>"
        f"<td>{_text(row.bucket)}</td><td>{_text(row.workflow)}</td><td>{_text(row.model)}</td>"
        f"<td>{row.duration_ms / 1000:.1f} s</td></tr>"
    )


def _runs_table(rows: Iterable[IndexedPacket]) -> str:
    body = "".join(_run_row(row) for row in rows)
    head = "<tr><th>started (UTC)</th><th>trace</th><th>bucket</th><th>workflow</th><th>model</th><th>duration</th>"
    return f"<table>{head}</tr>{body}</table>"


EMPTY = (
    "<div class=box><b>No failing runs yet.</b> Point an agent's OTLP exporter at failpath "
    "(<code>OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318</code>, or gRPC on 4317): every failing run "
    "gets a replay packet, and it shows up here. Healthy runs are sampled "
    "and get no packet.</div>"
)


def _hours(hours: int) -> str:
    return f"{hours // 24} d" if hours % 24 == 0 and hours > 24 else f"{hours} h"


def _traffic(traffic: Traffic | None) -> str:
    if traffic is None:
        return (
            "<div class='box muted'>Kept and sampled-away traces and redaction counts come from the running "
            "service: this dashboard runs on its own over the data directory.</div>"
        )
    kept, dropped = traffic.traces.get("kept", 0), traffic.traces.get("dropped", 0)
    sampling = (
        f"<span><b>{kept}</b> traces kept</span><span><b>{dropped}</b> sampled away</span>"
        f"<span>({traffic.spans.get('kept', 0)} / {traffic.spans.get('dropped', 0)} spans)</span>"
        if kept or dropped
        else "<span>no sampling decision yet (or sampling is off: every trace is forwarded)</span>"
    )
    findings = sum(count for _, count in traffic.findings)
    actions = ", ".join(f"{name} {count}" for name, count in sorted(traffic.actions.items()))
    return (
        f"<div class='box stats'><b>Since failpath started</b> ({_ago(traffic.uptime_s)}): "
        f"<span><b>{traffic.spans_accepted}</b> spans accepted</span>{sampling}<br>"
        f"<b>Redaction:</b> <span><b>{findings}</b> sensitive values replaced</span>"
        f"<span>by detector: {_tops(traffic.findings[:6])}</span><span>actions: {_text(actions or None)}</span></div>"
    )


def _window_links(path: str, current: int, extra: Mapping[str, str] | None = None) -> str:
    links = " ".join(
        f"<b>{_hours(hours)}</b>"
        if hours == current
        else f"<a href='{path}?{urlencode({**(extra or {}), 'hours': hours})}'>{_hours(hours)}</a>"
        for hours in CHOICES
    )
    return f"<p class=windows>Window: {links}</p>"


def overview(
    summaries: list[BucketSummary],
    series: dict[str, list[int]],
    window: Window,
    newest: list[IndexedPacket],
    traffic: Traffic | None,
    colors: dict[str, str],
) -> str:
    heading = f"<h1>Failures since {_time(window.since_ns)[:16]} UTC</h1>{_window_links('/', window.hours)}"
    if not summaries:
        return layout("Overview", f"{heading}{EMPTY}{_traffic(traffic)}")
    legend = "".join(f"<span>{_swatch(colors.get(s.bucket, '#999'))}{_text(s.bucket)}</span>" for s in summaries)
    rows = "".join(
        f"<tr><td>{_swatch(colors.get(s.bucket, '#999'))}"
        f"<a href='/runs?{urlencode({'bucket': s.bucket, 'hours': window.hours})}'>{_text(s.bucket)}</a></td>"
        f"<td>{s.count}</td><td>{_tops(s.workflows)}</td><td>{_tops(s.models)}</td></tr>"
        for s in summaries
    )
    table = f"<table><tr><th>bucket</th><th>runs</th><th>top workflows</th><th>top models</th></tr>{rows}</table>"
    chart = stacked_bars(
        window.labels(), {s.bucket: series.get(s.bucket, [0] * window.slots) for s in summaries}, colors
    )
    return layout(
        "Overview",
        f"{heading}<div class=box>{chart}<div class=legend>{legend}</div></div>{table}{_traffic(traffic)}"
        f"<h2>Newest failing runs</h2>{_runs_table(newest)}",
    )


_FIELDS = (("bucket", "bucket"), ("workflow", "workflow"), ("model", "model"), ("trace", "trace id prefix"))


def runs(rows: list[IndexedPacket], filters: Mapping[str, str], next_before: str | None) -> str:
    fields = "".join(
        f"<input name={name} placeholder='{label}' value='{_text(filters.get(name, ''))}'>" for name, label in _FIELDS
    )
    options = "".join(
        f"<option value={hours}{' selected' if filters.get('hours') == str(hours) else ''}>"
        f"last {_hours(hours)}</option>"
        for hours in CHOICES
    )
    window = f"<select name=hours><option value=''>any time</option>{options}</select>"
    form = f"<form method=get action='/runs'>{fields}{window}<button>Filter</button></form>"
    more = ""
    if next_before is not None:
        more = f"<p><a href='/runs?{urlencode({**filters, 'before': next_before})}'>Older runs</a></p>"
    if rows:
        listing = _runs_table(rows)
    elif filters:
        listing = "<div class=box>No runs match these filters. <a href='/runs'>All runs</a></div>"
    else:
        listing = EMPTY
    return layout("Runs", f"<h1>Failing runs</h1>{form}{listing}{more}")


def _depths(steps: list[StepRecord]) -> dict[str, int]:
    """Each step's depth under the run's root, following parent span ids among the steps."""
    parents = {step["span_id"]: step["parent_span_id"] for step in steps}
    depths: dict[str, int] = {}
    for span_id, first in parents.items():
        depth, parent = 0, first
        while parent in parents and depth < 32:
            depth, parent = depth + 1, parents[parent]
        depths[span_id] = depth
    return depths


def _steps(packet: Packet) -> str:
    """The steps as a waterfall: one row per step, a bar from its start offset for its duration."""
    steps = packet["steps"]
    failing = packet["failing_span"]["span_id"] if packet["failing_span"] else None
    total = max([packet["duration_ms"], *(s["start_offset_ms"] + s["duration_ms"] for s in steps)], default=1) or 1
    depths = _depths(steps)
    rows = []
    for step in steps:
        marks = " class=failing" if step["on_failing_path"] else ""
        name = _text(step["name"])
        if step["span_id"] == failing:
            name = f"<span class=fail>{name} ✗ failing step</span>"
        left = 100 * step["start_offset_ms"] / total
        width = 100 * step["duration_ms"] / total
        indent = 12 * depths.get(step["span_id"], 0)
        rows.append(
            f"<tr{marks}><td>{step['index']}</td><td>{_text(step['label'])}</td>"
            f"<td style='padding-left:{indent + 8}px'>{name}</td><td>{_text(step['status'])}</td>"
            f"<td><div class=lane><span style='left:{left:.2f}%;width:{width:.2f}%'></span></div></td>"
            f"<td>{_ms(step['start_offset_ms'])}</td><td>{_ms(step['duration_ms'])}</td></tr>"
        )
    head = (
        "<tr><th>#</th><th>step</th><th>span</th><th>status</th><th>timeline</th><th>start</th><th>duration</th></tr>"
    )
    note = ""
    if packet["steps_after_failure"]:
        note = f"<p class=muted>{packet['steps_after_failure']} steps after the failure are not listed.</p>"
    return f"<table>{head}{''.join(rows)}</table>{note}"


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]], failing: list[bool] | None = None) -> str:
    if not rows:
        return "<p class=muted>None recorded.</p>"
    marks = failing or [False] * len(rows)
    header = "".join(f"<th>{_text(name)}</th>" for name in head)
    body = "".join(
        f"<tr{' class=failing' if mark else ''}>{''.join(f'<td>{_text(cell)}</td>' for cell in row)}</tr>"
        for row, mark in zip(rows, marks, strict=True)
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _activity(packet: Packet) -> str:
    """Tool events, retrieval, model calls and the verifier's verdict, as the packet recorded them."""
    tools = packet["tool_events"]
    tool_rows: list[tuple[object, ...]] = [
        (
            t["tool"],
            ", ".join(t["argument_keys"]) or None,
            "ok" if t["success"] else (t["error_type"] or "failed"),
            t["exit_code"],
            _ms(t["duration_ms"]),
            t["retry_count"],
            t["timeout_class"] or ("timed out" if t["timed_out"] else None),
            _flag(t["cache_hit"]),
            t["result_summary"],
        )
        for t in tools
    ]
    retrieval_rows: list[tuple[object, ...]] = [
        (
            r["name"],
            r["count"],
            ", ".join(f"{d['id']}" + (f" ({d['score']:.2f})" if d["score"] is not None else "") for d in r["documents"])
            or None,
        )
        for r in packet["retrieval_refs"]
    ]
    model_rows: list[tuple[object, ...]] = [
        (
            m["model"],
            m["lane"],
            m["input_tokens"],
            m["output_tokens"],
            ", ".join(m["finish_reasons"]) or None,
            _flag(m["cache_hit"]),
            "yes" if m["rate_limited"] else None,
            _ms(m["duration_ms"]),
            m["status"],
            m["output_summary"],
        )
        for m in packet["model_calls"]
    ]
    verifier = packet["verifier"]
    verdict = "<p class=muted>No verifier step.</p>"
    if verifier is not None:
        passed = {True: "passed", False: "failed", None: "no verdict"}[verifier["passed"]]
        verdict = f"<div class=box><b>{_text(verifier['name'])}</b>: {passed}. {_text(verifier['reason'] or '')}</div>"
    return (
        "<h2>Tool events</h2>"
        + _table(
            ("tool", "argument keys", "result", "exit", "duration", "retries", "timeout", "cache hit", "summary"),
            tool_rows,
            [t["on_failing_path"] for t in tools],
        )
        + "<h2>Retrieval</h2>"
        + _table(("step", "documents", "ids (score)"), retrieval_rows)
        + "<h2>Model calls</h2>"
        + _table(
            (
                "model",
                "lane",
                "tokens in",
                "tokens out",
                "finish",
                "cache hit",
                "rate limited",
                "duration",
                "status",
                "output",
            ),
            model_rows,
            [m["status"] == "error" for m in packet["model_calls"]],
        )
        + f"<h2>Verifier</h2>{verdict}"
    )


def _stored_span(span: StoredSpan, failing: str | None) -> str:
    attributes = "".join(
        f"<tr><td><code>{_text(key)}</code></td><td class=value>{_text(value)}</td></tr>"
        for key, value in span.attributes
    )
    events = "".join(
        f"<tr><td>event <b>{_text(name)}</b></td><td class=value>"
        + _text("; ".join(f"{key}={value}" for key, value in pairs) or None)
        + "</td></tr>"
        for name, pairs in span.events
    )
    status = _text(span.status) + (f": {_text(span.status_message)}" if span.status_message else "")
    mark = " <span class=fail>✗ failing step</span>" if span.span_id == failing else ""
    return (
        f"<details><summary><b>{_text(span.name)}</b>{mark} <span class=muted>{_text(span.service)} · {span.kind}"
        f" · {status} · +{_ms(span.start_offset_ms)} · {_ms(span.duration_ms)} · span {span.span_id}</span>"
        f"</summary><table>{attributes}{events}</table></details>"
    )


def _stored(stored: StoredTrace | None, failing: str | None) -> str:
    if stored is None:
        return (
            "<p class=muted>The span store does not hold this trace (pruned by its retention, or the store "
            "exporter is off): the packet above is what is left.</p>"
        )
    more = ""
    if stored.total > len(stored.spans):
        more = f"<p class=muted>The first {len(stored.spans)} of {stored.total} spans.</p>"
    return (
        "<p class=muted>As stored after redaction: values redaction removed or masked are not here.</p>"
        + "".join(_stored_span(span, failing) for span in stored.spans)
        + more
    )


def run(
    packet: Packet, trace_url: str | None, stored: StoredTrace | None, others: list[IndexedPacket], more: bool
) -> str:
    """others: the run's other attempts in the index (earlier and later ones), the latest MAX_ATTEMPTS; more:
    whether it has more (the page says so)."""
    trace_id = packet["trace_id"]
    diagnosis, bucket, envelope = packet["diagnosis"], packet["bucket"], packet["run"]
    failing = packet["failing_span"]
    evidence = "".join(f"<li>{_text(line)}</li>" for line in packet["evidence"])
    runner_up = diagnosis["runner_up"]
    backend = ""
    if trace_url:
        backend = f" · <a rel=noreferrer href='{_text(trace_url.replace('{trace_id}', trace_id))}'>trace in backend</a>"
    started = parse_iso_time(packet["started_at"])
    listed = {row.trace_id: (row.started_ns, row.bucket) for row in others}
    for earlier in packet["related_attempts"]:  # pruned from the index since, but named by the packet
        listed.setdefault(earlier["trace_id"], (parse_iso_time(earlier["started_at"]), earlier["failure_bucket"]))
    attempts = "".join(
        f"<li><a href='/runs/{quote(other)}'>{_time(at)}</a> {'later' if at > started else 'earlier'}: "
        f"{_text(bucket)}</li>"
        for other, (at, bucket) in sorted(listed.items(), key=lambda item: item[1][0])
    )
    summary = (
        f"<div class=box><b>Bucket:</b> <a href='/runs?{urlencode({'bucket': packet['failure_bucket']})}'>"
        f"{_text(packet['failure_bucket'])}</a> (confidence {diagnosis['confidence']:.2f})<br>"
        f"{_text(bucket['description'])}"
        f"<br><b>Failing step:</b> <span class=fail>{_text(failing['label'] if failing else None)}</span> "
        f"{_text(failing['error'] if failing else None)}"
        f"<br><b>First check:</b> {_text(bucket['first_check'])}<br><b>Avoid:</b> {_text(bucket['avoid'])}"
        f"<br><b>Next action:</b> {_text(packet['next_action'])}"
        + (f"<br><b>Runner-up:</b> {_text(runner_up['bucket'])}: {_text(runner_up['why_not'])}" if runner_up else "")
        + "</div>"
    )
    tokens = packet["tokens"]
    envelope_box = (
        f"<div class=box><b>Workflow</b> {_text(packet['workflow'])} · <b>run</b> {_text(envelope['run_id'])}"
        f" · <b>attempt</b> {_text(envelope['attempt'])} · <b>actor</b> {_text(envelope['actor'])}"
        f" · <b>service</b> {_text(envelope['service'])}"
        f" · <b>model</b> {_text(packet['selected_model'])} (lane {_text(packet['model_selection']['lane'])})"
        f" · <b>tokens</b> {tokens['input']} in / {tokens['output']} out (budget {_text(tokens['budget'])})"
        f" · <b>started</b> {_text(packet['started_at'])} · {packet['duration_ms'] / 1000:.1f} s"
        + (f"<br><b>Task:</b> {_text(packet['task_summary'])}" if packet["task_summary"] else "")
        + "</div>"
    )
    findings = "".join(
        f"<li>{_text(f['finding'])}{' (recovered)' if f['recovered'] else ''}</li>" for f in diagnosis["findings"]
    )
    trimmed = f"<p class=muted>Trimmed: {_text(', '.join(packet['trimmed']))}</p>" if packet["trimmed"] else ""
    body = (
        f"<h1>Run <code>{_text(trace_id)}</code></h1>{envelope_box}{summary}"
        f"<h2>Evidence</h2><ul>{evidence}</ul>"
        + (f"<h2>Findings</h2><ul>{findings}</ul>" if findings else "")
        + f"<h2>Steps</h2>{_steps(packet)}{_activity(packet)}"
        + (f"<h2>Other attempts of this run</h2><ul>{attempts}</ul>" if attempts else "")
        + (f"<p class=muted>Earlier attempts are not listed: the latest {MAX_ATTEMPTS} are.</p>" if more else "")
        + f"<h2>Replay</h2><pre>failpath replay {_text(trace_id)}</pre>"
        f"<p><a download href='/runs/{quote(trace_id)}.json'>Download the packet (JSON)</a>{backend}</p>{trimmed}"
        f"<h2>Stored spans</h2>{_stored(stored, failing['span_id'] if failing else None)}"
    )
    return layout(f"Run {trace_id[:8]}", body)


def _rule(rule: BucketRuleConfig) -> str:
    return json.dumps([match.model_dump(exclude_none=True) for match in rule.match])


def buckets(
    rules: list[BucketRuleConfig],
    summaries: list[BucketSummary],
    trends: dict[str, list[int]],
    window: Window,
    colors: dict[str, str],
) -> str:
    """Each configured bucket: what it means, what to check and avoid, its count and daily trend, its top
    workflows and models, and the rule as configured; then buckets in the store no rule names any more."""
    found = {summary.bucket: summary for summary in summaries}

    def box(name: str, meaning: str, details: str) -> str:
        """The bucket's heading (count, trend), its meaning, its top workflows and models, then details."""
        summary = found.get(name)
        color = colors.get(name, "#999")
        tops = ""
        if summary is not None:
            tops = f"<br><b>Top workflows:</b> {_tops(summary.workflows)} · <b>models:</b> {_tops(summary.models)}"
        return (
            f"<div class=box><h2>{_swatch(color)}<a href='/runs?{urlencode({'bucket': name})}'>{_text(name)}</a> "
            f"<span class=muted>{_runs_count(summary.count if summary else 0)} in {_hours(window.hours)}</span> "
            f"{trend(trends.get(name, [0] * window.slots), color)}</h2>{_text(meaning)}{tops}{details}</div>"
        )

    boxes = "".join(
        box(
            rule.name,
            rule.description,
            f"<br><b>First check:</b> {_text(rule.first_check)}<br><b>Avoid:</b> {_text(rule.avoid)}"
            f"<br><b>Next action:</b> {_text(rule.next_action)}<br><b>Rule:</b> <code>{_text(_rule(rule))}</code>",
        )
        for rule in rules
    )
    configured = {rule.name for rule in rules}
    others = "".join(
        box(
            summary.bucket,
            "No rule matched these runs: the evidence on each run's page says what was seen."
            if summary.bucket == UNKNOWN
            else "No configured rule has this name now (renamed or removed since these runs).",
            "",
        )
        for summary in summaries
        if summary.bucket not in configured
    )
    return layout(
        "Buckets",
        f"<h1>Failure buckets</h1>{_window_links('/buckets', window.hours)}"
        f"<p class=muted>Trend: failures per {'hour' if window.slot_ns == HOUR_NS else 'day'} over the window."
        f"</p>{boxes}{others}",
    )


def not_found(what: str) -> str:
    return layout("Not found", f"<h1>Not found</h1><p>{_text(what)}</p><p><a href='/runs'>All runs</a></p>")
