"""The dashboard inside a running failpath, over HTTP on 127.0.0.1: failing SDK runs show up in the
overview and the run list, a filter narrows it, a run page shows the failing step and the next action, the
packet downloads, the backend link is filled in; a hostile span name is text; pages carry security headers;
a wrong token gets 401. (Pages in a real browser: tests/dashboard/test_browser.py, when it exists.)"""

import contextlib
import http.client
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

from tests.support.agent_run import emit_runs, sdk_exporter
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.ports import free_port
from tests.support.tls import self_signed

HOSTILE = "<script>alert('span')</script>"
CONTACT = "jane.doe@example.com"


def _emit_hostile_run(endpoint: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(sdk_exporter("grpc", endpoint)))
    tracer = provider.get_tracer("failpath.tests")
    with tracer.start_as_current_span("invoke_agent support"), tracer.start_as_current_span(HOSTILE) as step:
        step.set_attribute("user.contact", CONTACT)  # redaction masks it before the store sees it
        step.set_status(StatusCode.ERROR, HOSTILE)
    provider.shutdown()


@contextlib.contextmanager
def dashboard_with_runs(folder: Path, trace_url: str | None = None) -> Iterator[tuple[RunningFailpath, str]]:
    """failpath with its dashboard (and redaction), after two failing SDK runs and one with a hostile span name
    and an e-mail address."""
    dashboard = {"enabled": True, "endpoint": "127.0.0.1:0", "trace_url": trace_url}
    sampling = {"enabled": True, "decision_wait": "100ms"}
    config = make_config(folder, {"sampling": sampling, "redaction": {"enabled": True}, "dashboard": dashboard})
    with RunningFailpath(config) as failpath:
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=2, fail_tool=True)
        _emit_hostile_run(failpath.grpc_endpoint)
        deadline = time.monotonic() + 15
        while failpath.metric_sum("failpath_packets_written_total") < 3:
            assert time.monotonic() < deadline, "packets were not written"
            time.sleep(0.05)
        assert failpath.pipeline.dashboard is not None
        yield failpath, f"http://127.0.0.1:{failpath.pipeline.dashboard.port}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningFailpath, str]]:
    with dashboard_with_runs(tmp_path_factory.mktemp("dashboard"), "http://jaeger.local/trace/{trace_id}") as found:
        yield found


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    status, answer_headers, body = request(url, method="GET", headers=headers)
    return status, answer_headers, body.decode()


def test_overview_lists_the_buckets_and_the_newest_runs(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    status, headers, page = _get(base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "tool_execution" in page and page.count("<a href='/runs/") == 3
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert (headers["x-frame-options"], headers["referrer-policy"]) == ("DENY", "no-referrer")
    assert "<script" not in page


def test_the_overview_charts_the_buckets_and_counts_kept_traces_and_redactions(
    running: tuple[RunningFailpath, str],
) -> None:
    _, base = running
    page = _get(base + "/?hours=6")[2]
    titles = [part.split("</title>")[0] for part in page.split("<title>")[2:]]  # the first is the page's
    assert sorted(title.split(" (")[0] for title in titles) == ["tool_execution: 2", "unknown: 1"]
    assert "<td>2</td><td>invoke_agent support (2)</td><td>gpt-x (2)</td>" in page  # top workflows and models
    assert "<b>3</b> traces kept" in page and "<b>0</b> sampled away" in page
    assert "<b>1</b> sensitive values replaced" in page and "email (1)" in page
    assert "<b>6 h</b>" in page and "href='/?hours=24'" in page  # the window chosen, and the others


def test_a_run_page_shows_the_stored_spans_as_redaction_left_them(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    for link in _get(base + "/runs")[2].split("<a href='/runs/")[1:]:
        page = _get(f"{base}/runs/{link.split(chr(39))[0]}")[2]
        if "user.contact" in page:
            assert CONTACT not in page and "example.com" not in page
            assert "<h2>Stored spans</h2>" in page and page.count("<details>") == 2  # root and the step
            return
    pytest.fail("the run with the e-mail address shows no stored attribute")


def test_a_filter_narrows_the_list_and_a_run_page_says_what_broke(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    everything = _get(base + "/runs")[2]
    narrowed = _get(base + "/runs?model=gpt-x")[2]
    assert everything.count("<a href='/runs/") == 3 and narrowed.count("<a href='/runs/") == 2
    assert _get(base + "/runs?trace=ffffffffffff&model=gpt-x")[2].count("<a href='/runs/") == 0
    assert _get(base + "/runs?hours=1")[2].count("<a href='/runs/") == 3
    assert _get(base + "/runs?hours=soon")[2].count("<a href='/runs/") == 3  # not a number: no window
    trace_id = narrowed.split("<a href='/runs/")[1].split("'")[0]
    status, _, page = _get(f"{base}/runs/{trace_id}")
    assert status == 200
    assert "failing step" in page and "tool:deploy" in page
    assert "Next action:" in page and f"failpath replay {trace_id}" in page
    assert f"href='http://jaeger.local/trace/{trace_id}'" in page
    status, headers, body = _get(f"{base}/runs/{trace_id}.json")
    assert status == 200 and headers["content-disposition"] == f'attachment; filename="{trace_id}.json"'
    assert json.loads(body)["trace_id"] == trace_id


def test_a_hostile_span_name_is_shown_as_text(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    for link in _get(base + "/runs")[2].split("<a href='/runs/")[1:]:
        page = _get(f"{base}/runs/{link.split(chr(39))[0]}")[2]
        assert "<script" not in page
        if "alert(" in page:
            assert "&lt;script&gt;alert(&#x27;span&#x27;)&lt;/script&gt;" in page
            return
    pytest.fail("the hostile run was not listed")


def test_unknown_runs_and_pages_are_404(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    assert _get(base + "/runs/" + "ab" * 16)[0] == 404
    assert _get(base + "/runs/not-a-trace")[0] == 404
    assert _get(base + "/nothing")[0] == 404


def test_a_wrong_token_gets_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_TOKEN", "dashboard-secret-token")
    config = make_config(
        tmp_path, {"dashboard": {"enabled": True, "endpoint": "127.0.0.1:0", "auth": {"token_env": "DASHBOARD_TOKEN"}}}
    )
    with RunningFailpath(config) as failpath:
        assert failpath.pipeline.dashboard is not None
        base = f"http://127.0.0.1:{failpath.pipeline.dashboard.port}"
        status, headers, _ = _get(base + "/", {"Authorization": "Bearer wrong"})
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
        assert _get(base + "/")[0] == 401
        status, _, page = _get(base + "/", {"Authorization": "Bearer dashboard-secret-token"})
        assert status == 200 and "No failing runs yet" in page


def test_failpath_dashboard_serves_a_data_dir_alone(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "failpath.yaml"
    config.write_text(
        yaml.safe_dump({"data_dir": str(tmp_path / "data"), "dashboard": {"endpoint": f"127.0.0.1:{port}"}})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "failpath", "dashboard", "--config", str(config)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, page = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.05)
        assert status == 200 and "No failing runs yet" in page
        assert "this dashboard runs on its own over the data directory" in page  # no service to count traffic
    finally:
        process.terminate()
        assert process.wait(10) == 0


def test_the_buckets_page_explains_each_bucket_with_its_count_and_rule(running: tuple[RunningFailpath, str]) -> None:
    _, base = running
    status, _, page = _get(base + "/buckets")
    assert status == 200
    tool = page.split("<a href='/runs?bucket=tool_execution'>tool_execution</a>")[1].split("</div>")[0]
    assert "2 runs in 7 d" in tool and "a command or API call failed mid-run" in tool
    assert "First check:" in tool and "&quot;finding&quot;" in tool  # the rule as configured, escaped
    assert "<a href='/runs?bucket=retrieval_miss'>retrieval_miss</a>" in page


def test_the_dashboard_serves_https_with_the_receivers_tls_settings(tmp_path: Path) -> None:
    """Over TLS only; without the span store a run page says its spans are not held, and the overview says
    the traffic counts need the running service (asked of a standalone `failpath dashboard` elsewhere)."""
    cert, key = self_signed(tmp_path / "tls")
    dashboard = {"enabled": True, "endpoint": "127.0.0.1:0", "tls": {"cert_file": str(cert), "key_file": str(key)}}
    extra = {"sampling": {"enabled": True, "decision_wait": "100ms"}, "dashboard": dashboard}
    exporters = {"store": {"enabled": False}, "jsonl": {"enabled": True}}
    config = make_config(tmp_path, {**extra, "exporters": exporters})
    with RunningFailpath(config) as failpath:
        emit_runs(sdk_exporter("grpc", failpath.grpc_endpoint), runs=1, fail_tool=True)
        deadline = time.monotonic() + 15
        while failpath.metric_sum("failpath_packets_written_total") < 1:
            assert time.monotonic() < deadline, "no packet was written"
            time.sleep(0.05)
        assert failpath.pipeline.dashboard is not None
        assert failpath.pipeline.dashboard.url.startswith("https://127.0.0.1:")
        base = f"https://127.0.0.1:{failpath.pipeline.dashboard.port}"
        context = ssl.create_default_context(cafile=str(cert))
        status, _, body = request(base + "/runs", method="GET", context=context)
        assert status == 200
        trace_id = body.decode().split("<a href='/runs/")[1].split("'")[0]
        page = request(f"{base}/runs/{trace_id}", method="GET", context=context)[2].decode()
        assert "The span store does not hold this trace" in page and "failing step" in page
        with pytest.raises((ConnectionError, http.client.HTTPException)):  # plain HTTP gets no page
            request(f"http://127.0.0.1:{failpath.pipeline.dashboard.port}/", method="GET")


def test_each_attempt_of_a_run_links_the_others_earlier_and_later(tmp_path: Path) -> None:
    """The scripted agent's retried run: the first attempt's packet was written before the second existed,
    yet its page links the second (from the index), and the second's links the first."""
    dashboard = {"enabled": True, "endpoint": "127.0.0.1:0"}
    config = make_config(tmp_path, {"sampling": {"enabled": True, "decision_wait": "1s"}, "dashboard": dashboard})
    with RunningFailpath(config) as failpath:
        agent = subprocess.run(
            [sys.executable, "-m", "failpath.demo.scenarios", "--endpoint", failpath.http_url, "--healthy", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        first, second = list(json.loads(agent.stdout))[-2:]  # the retried run's two attempts
        deadline = time.monotonic() + 20
        while failpath.metric_sum("failpath_packets_written_total") < 7:
            assert time.monotonic() < deadline, "not every failing run got its packet"
            time.sleep(0.05)
        assert failpath.pipeline.dashboard is not None
        base = f"http://127.0.0.1:{failpath.pipeline.dashboard.port}"
        first_page, second_page = _get(f"{base}/runs/{first}")[2], _get(f"{base}/runs/{second}")[2]
    assert f"<a href='/runs/{second}'>" in first_page and "</a> later: tool_execution" in first_page
    assert f"<a href='/runs/{first}'>" in second_page and "</a> earlier: tool_execution" in second_page
