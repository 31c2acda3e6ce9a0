"""The dashboard's pages as HTML text. Every value from a packet or the index is escaped here (span names,
workflows and messages are whatever an agent sent); no script, one inline style sheet."""

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from failpath.diagnosis.config import BucketRuleConfig
from failpath.packets.packet import Packet
from failpath.store.packets import IndexedPacket

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
tr.failing td{background:#fef3f2}.box h2{margin-top:0}
"""


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: object) -> str:
    return "&ndash;" if value is None else escape(str(value))


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
    "gets a replay packet, and it shows up here.</div>"
)


def overview(buckets: list[tuple[str, int, list[tuple[str, int]]]], newest: list[IndexedPacket], hours: int) -> str:
    if not buckets:
        return layout("Overview", f"<h1>Failures, last {hours} h</h1>{EMPTY}")
    most = max(count for _, count, _ in buckets)
    rows = "".join(
        f"<tr><td><a href='/runs?{urlencode({'bucket': bucket})}'>{_text(bucket)}</a></td><td>{count}</td>"
        f"<td><span class=bar style='width:{max(2, 200 * count // most)}px'></span></td>"
        f"<td>{_text(', '.join(f'{name} ({n})' for name, n in top))}</td></tr>"
        for bucket, count, top in buckets
    )
    table = f"<table><tr><th>bucket</th><th>runs</th><th></th><th>top workflows</th></tr>{rows}</table>"
    return layout(
        "Overview",
        f"<h1>Failures, last {hours} h</h1>{table}<h2>Newest failing runs</h2>{_runs_table(newest)}",
    )


def runs(rows: list[IndexedPacket], filters: Mapping[str, str], next_before: str | None) -> str:
    fields = "".join(
        f"<input name={name} placeholder='{label}' value='{_text(filters.get(name, ''))}'>"
        for name, label in (("bucket", "bucket"), ("workflow", "workflow"), ("model", "model"), ("trace", "trace id"))
    )
    form = f"<form method=get action='/runs'>{fields}<button>Filter</button></form>"
    more = ""
    if next_before is not None:
        more = f"<p><a href='/runs?{urlencode({**filters, 'before': next_before})}'>Older runs</a></p>"
    listing = _runs_table(rows) if rows else "<div class=box>No runs match.</div>"
    return layout("Runs", f"<h1>Failing runs</h1>{form}{listing}{more}")


def _steps(packet: Packet) -> str:
    failing = packet["failing_span"]["span_id"] if packet["failing_span"] else None
    rows = []
    for step in packet["steps"]:
        marks = " class=failing" if step["on_failing_path"] else ""
        name = _text(step["name"])
        if step["span_id"] == failing:
            name = f"<span class=fail>{name} ✗ failing step</span>"
        rows.append(
            f"<tr{marks}><td>{step['index']}</td><td>{_text(step['label'])}</td><td>{name}</td>"
            f"<td>{_text(step['status'])}</td><td>{step['start_offset_ms']:.0f} ms</td>"
            f"<td>{step['duration_ms']:.0f} ms</td></tr>"
        )
    head = "<tr><th>#</th><th>step</th><th>span</th><th>status</th><th>start</th><th>duration</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def run(packet: Packet, trace_url: str | None) -> str:
    trace_id = packet["trace_id"]
    diagnosis, bucket, envelope = packet["diagnosis"], packet["bucket"], packet["run"]
    failing = packet["failing_span"]
    evidence = "".join(f"<li>{_text(line)}</li>" for line in packet["evidence"])
    runner_up = diagnosis["runner_up"]
    backend = ""
    if trace_url:
        backend = f" · <a rel=noreferrer href='{_text(trace_url.replace('{trace_id}', trace_id))}'>trace in backend</a>"
    attempts = "".join(
        f"<li><a href='/runs/{quote(a['trace_id'])}'>{_text(a['started_at'])}</a> {_text(a['failure_bucket'])}</li>"
        for a in packet["related_attempts"]
    )
    summary = (
        f"<div class=box><b>Bucket:</b> {_text(packet['failure_bucket'])} "
        f"(confidence {diagnosis['confidence']:.2f})<br>{_text(bucket['description'])}"
        f"<br><b>Failing step:</b> <span class=fail>{_text(failing['label'] if failing else None)}</span> "
        f"{_text(failing['error'] if failing else None)}"
        f"<br><b>First check:</b> {_text(bucket['first_check'])}<br><b>Avoid:</b> {_text(bucket['avoid'])}"
        f"<br><b>Next action:</b> {_text(packet['next_action'])}"
        + (f"<br><b>Runner-up:</b> {_text(runner_up['bucket'])}: {_text(runner_up['why_not'])}" if runner_up else "")
        + "</div>"
    )
    envelope_box = (
        f"<div class=box><b>Workflow</b> {_text(packet['workflow'])} · <b>run</b> {_text(envelope['run_id'])}"
        f" · <b>attempt</b> {_text(envelope['attempt'])} · <b>actor</b> {_text(envelope['actor'])}"
        f" · <b>model</b> {_text(packet['selected_model'])} (lane {_text(packet['model_selection']['lane'])})"
        f" · <b>tokens</b> {packet['tokens']['input']} in / {packet['tokens']['output']} out"
        f" (budget {_text(packet['tokens']['budget'])}) · <b>started</b> {_text(packet['started_at'])}"
        f" · {packet['duration_ms'] / 1000:.1f} s</div>"
    )
    body = (
        f"<h1>Run <code>{_text(trace_id)}</code></h1>{envelope_box}{summary}"
        f"<h2>Evidence</h2><ul>{evidence}</ul><h2>Steps</h2>{_steps(packet)}"
        + (f"<h2>Earlier attempts</h2><ul>{attempts}</ul>" if attempts else "")
        + f"<h2>Replay</h2><pre>failpath replay {_text(trace_id)}</pre>"
        f"<p><a download href='/runs/{quote(trace_id)}.json'>Download the packet (JSON)</a>{backend}</p>"
    )
    return layout(f"Run {trace_id[:8]}", body)


def _rule(rule: BucketRuleConfig) -> str:
    return json.dumps([match.model_dump(exclude_none=True) for match in rule.match])


def buckets(rules: list[BucketRuleConfig], counts: dict[str, int], hours: int) -> str:
    """Each configured bucket: what it means, what to check and avoid, its count, and the rule as configured."""
    boxes = "".join(
        f"<div class=box><h2><a href='/runs?{urlencode({'bucket': rule.name})}'>{_text(rule.name)}</a> "
        f"<span class=muted>{counts.get(rule.name, 0)} runs in {hours} h</span></h2>{_text(rule.description)}"
        f"<br><b>First check:</b> {_text(rule.first_check)}<br><b>Avoid:</b> {_text(rule.avoid)}"
        f"<br><b>Next action:</b> {_text(rule.next_action)}"
        f"<br><b>Rule:</b> <code>{_text(_rule(rule))}</code></div>"
        for rule in rules
    )
    return layout("Buckets", f"<h1>Failure buckets</h1>{boxes}")


def not_found(what: str) -> str:
    return layout("Not found", f"<h1>Not found</h1><p>{_text(what)}</p><p><a href='/runs'>All runs</a></p>")
